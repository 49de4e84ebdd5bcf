"""The simulator's control channel: files in the state folder's .sim/ that the sim board reads.

The launcher and `baoling sim press|clock|age|screen` (possibly another process) both use these
functions, so a running simulator can be driven from anywhere that can write its state folder.
The file names and the clock formula are documented in firmware/boards/sim.py and
docs/simulator.md; files are replaced atomically (write, then rename).
"""

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

SIM_DIR = ".sim"
BUTTON = "button"
BUTTON_SEEN = "button_seen"
BUTTONS = "buttons"  # "2": the board has a second button, file BUTTON2 (read at power-up)
BUTTON2 = "button2"
PRESS_WAIT_S = 3.0  # longest wait for the board to read the button at each step of a press
CLOCK = "clock.json"
CLOCK_BASE = "clock_base.json"
RTC = "rtc.json"
SCREEN_PBM = "screen.pbm"
SCREEN_JSON = "screen.json"
SCREEN_PNG = "screen.png"
PORT_LINK = "port"
LOCK = "lock"  # held (flock) by the one launcher running this state folder
HEAP_PROBE = "heap_probe"
HEAP = "heap.json"
SLEEPS = "sleeps.json"  # the board's light sleeps this boot: {"sleeps": n, "slept_ms": ms}
PNG_SCALE = 4  # one OLED pixel becomes 4x4 on the PNG a person watches
DISPLAY_SIZE = (128, 64)


def control_dir(state_dir: Path) -> Path:
    """The folder of control files inside a simulator's state folder."""
    return Path(state_dir) / SIM_DIR


def _replace(path: Path, data: bytes) -> None:
    """Write data to a new file and rename it over path, so readers never see half of it."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def set_buttons(state_dir: Path, count: int) -> None:
    """Give the board one button or two (A and B, docs/hardware.md) from its next power-up."""
    if count not in (1, 2):
        raise ValueError(f"a board has 1 or 2 buttons, not {count}")
    path = control_dir(state_dir) / BUTTONS
    if count == 2:
        _replace(path, b"2")
    else:
        path.unlink(missing_ok=True)


def press(state_dir: Path, seconds: float = 0.1, button: int = 1) -> None:
    """Hold the button (1, or 2 for a board's second) for `seconds` as the firmware sees it,
    then let go.

    The sim board reports its reads of the button (file BUTTON_SEEN), so the hold is timed
    from the firmware's first read and lasts at least two reads (its debounce), and press()
    returns once two reads saw the release (the debounce again): a busy machine cannot
    shorten or merge presses.
    A board that does not read the button within PRESS_WAIT_S (off, or no firmware polling
    it) gets a press of that long.
    """
    sim = control_dir(state_dir)
    held = sim / (BUTTON if button == 1 else BUTTON2)
    seen = held.with_name(held.name + "_seen")
    seen.unlink(missing_ok=True)
    held.touch()
    try:
        if not _wait_seen(seen, lambda reads: reads >= 1):
            return  # nobody reads the button: nothing to time
        time.sleep(seconds)
        _wait_seen(seen, lambda reads: reads >= 2)
    finally:
        held.unlink(missing_ok=True)
    _wait_seen(seen, lambda reads: reads == 0)


def _wait_seen(seen: Path, done: Callable[[int], bool]) -> bool:
    """Wait up to PRESS_WAIT_S for the board's report to satisfy `done`."""
    deadline = time.monotonic() + PRESS_WAIT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            if done(int(seen.read_text())):
                return True
        time.sleep(0.005)
    return False


def clock_knobs(state_dir: Path) -> dict[str, Any]:
    """The clock settings in force: offset_ms, drift_ppm, advanced_ms, battery."""
    knobs = {"offset_ms": 0, "drift_ppm": 0.0, "advanced_ms": 0, "battery": True}
    knobs.update(_load(control_dir(state_dir) / CLOCK))
    return knobs


def _write_knobs(state_dir: Path, knobs: dict[str, Any]) -> None:
    _replace(control_dir(state_dir) / CLOCK, json.dumps(knobs).encode())


def set_clock(
    state_dir: Path,
    offset_s: float | None = None,
    drift_ppm: float | None = None,
    battery: bool | None = None,
) -> dict[str, Any]:
    """Change the clock knobs given (None keeps one) and return all of them.

    Changing the offset moves the running clock by the change at once; the drift applies to
    the time elapsed since the clock was last set (so set it before syncing); battery=False
    makes the RTC forget its time at the next power-up.
    """
    knobs = clock_knobs(state_dir)
    if offset_s is not None:
        knobs["offset_ms"] = round(offset_s * 1000)
    if drift_ppm is not None:
        knobs["drift_ppm"] = float(drift_ppm)
    if battery is not None:
        knobs["battery"] = bool(battery)
    _write_knobs(state_dir, knobs)
    return knobs


def set_usb_power(state_dir: Path, on: bool) -> None:
    """Run the board on USB power (on, as when the knob "usb" is absent) or off it, as on a
    battery: only then does it light-sleep while its display is off (docs/hardware.md)."""
    knobs = clock_knobs(state_dir)
    knobs["usb"] = bool(on)
    _write_knobs(state_dir, knobs)


def sleeps(state_dir: Path) -> dict[str, Any]:
    """The board's light sleeps since it booted: {"sleeps": n, "slept_ms": ms}, {} for none."""
    return _load(control_dir(state_dir) / SLEEPS)


def age(state_dir: Path, seconds: float) -> None:
    """Let `seconds` of virtual host time pass: the device clock jumps by seconds*(1+ppm/1e6)."""
    knobs = clock_knobs(state_dir)
    knobs["advanced_ms"] += round(seconds * 1000)
    _write_knobs(state_dir, knobs)


def virtual_host_ms(state_dir: Path) -> int:
    """The host time the simulated board sees: wall clock plus the time age() added."""
    return time.time_ns() // 1_000_000 + clock_knobs(state_dir)["advanced_ms"]


def power_up(state_dir: Path) -> None:
    """What a power cycle does to the board's hardware before the firmware boots.

    The running clock restarts at host time plus offset; the RTC loses its time if the battery
    is out; the display is blank until the firmware draws.
    """
    sim = control_dir(state_dir)
    host_ms = virtual_host_ms(state_dir)
    base = [host_ms, host_ms, 0]  # device_ms, host_ms, offset_ms (firmware/boards/sim.py)
    _replace(sim / CLOCK_BASE, json.dumps(base).encode())
    if not clock_knobs(state_dir)["battery"]:
        (sim / RTC).unlink(missing_ok=True)
    power_down(state_dir)


def power_down(state_dir: Path) -> None:
    """The display goes dark and forgets its picture; the button is let go."""
    sim = control_dir(state_dir)
    for name in (SCREEN_PBM, SCREEN_JSON, BUTTON, BUTTON_SEEN, BUTTON2, BUTTON2 + "_seen", SLEEPS):
        (sim / name).unlink(missing_ok=True)


def set_heap_probe(state_dir: Path, on: bool) -> None:
    """Ask the sim board to sample its live heap from its next start (see heap_peak)."""
    probe = control_dir(state_dir) / HEAP_PROBE
    (control_dir(state_dir) / HEAP).unlink(missing_ok=True)
    if on:
        probe.touch()
    else:
        probe.unlink(missing_ok=True)


def heap_peak(state_dir: Path) -> dict[str, Any]:
    """The highest live heap the sim board sampled: {"peak": bytes, "samples": n}, or {}."""
    return _load(control_dir(state_dir) / HEAP)


def screen(state_dir: Path) -> dict[str, Any]:
    """The screen description the firmware published last ({} while nothing is shown)."""
    return _load(control_dir(state_dir) / SCREEN_JSON)


def wait_screen(
    state_dir: Path, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5
) -> dict[str, Any]:
    """Poll the published screen until predicate(description) holds; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        shown = screen(state_dir)
        with contextlib.suppress(KeyError, TypeError, ValueError):
            if predicate(shown):
                return shown
        if time.monotonic() > deadline:
            kind = shown.get("screen", "nothing")
            raise TimeoutError(f"screen did not match within {timeout} s (showing {kind})")
        time.sleep(0.02)


def render_png(state_dir: Path, png_path: Path) -> None:
    """Draw the frame buffer as an OLED looks (lit pixels white on black), scaled up.

    A dark display (powered off, or nothing drawn since power-up) gives a black picture.
    """
    pbm = control_dir(state_dir) / SCREEN_PBM
    try:
        with Image.open(pbm) as image:
            lit = ImageOps.invert(image.convert("L"))
    except FileNotFoundError:
        lit = Image.new("L", DISPLAY_SIZE, 0)
    big = lit.resize(
        (DISPLAY_SIZE[0] * PNG_SCALE, DISPLAY_SIZE[1] * PNG_SCALE), Image.Resampling.NEAREST
    )
    png_path = Path(png_path)
    tmp = png_path.with_name(png_path.name + f".{os.getpid()}.tmp")
    big.save(tmp, format="PNG")
    os.replace(tmp, png_path)
