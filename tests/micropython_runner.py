"""Run code under the real `micropython` binary (unix port), with firmware/ importable.

Firmware tests go through here so that they exercise MicroPython itself, not CPython: the code
is written to a file in a fresh temporary folder and run as a script; MicroPython's traceback
becomes the AssertionError a pytest test fails with.
"""

import subprocess
import tempfile
from pathlib import Path

from baoling.host_tools.micropython import find_micropython

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"

_CASE_MODULE = "_baoling_case"

# Runs before the case: puts firmware/ first on MicroPython's sys.path, then the working folder
# (a device's root, where board.py sits on a deployed token), and, when asked, replaces
# hashlib in sys.modules by a stand-in that has only the algorithms not hidden. MicroPython's
# import looks in sys.modules first, so firmware importing hashlib gets the stand-in.
_PRELUDE = """\
import sys
sys.path[0:0] = [{firmware!r}, ""]
if {hide!r}:
    import hashlib as _real_hashlib

    class _PartialHashlib:
        pass

    _stand_in = _PartialHashlib()
    for _name in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512"):
        if _name not in {hide!r} and hasattr(_real_hashlib, _name):
            setattr(_stand_in, _name, getattr(_real_hashlib, _name))
    sys.modules["hashlib"] = _stand_in
import {case}
"""


def run_micropython(
    code: str,
    *,
    heap: str | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    hide: tuple[str, ...] = (),
) -> str:
    """Run `code` under MicroPython and return its stdout.

    heap: MicroPython's `-X heapsize=` value (e.g. "64k"); cwd: working folder, importable
    after firmware/ (default: a fresh temporary one); hide: hashlib algorithms the firmware
    must not see (e.g. ("sha1",)), to prove the pure-Python fallbacks. Raises AssertionError
    with MicroPython's output when it exits non-zero (an uncaught exception or a failing
    assert) or times out.
    """
    with tempfile.TemporaryDirectory(prefix="mpy-run-") as scratch:
        folder = Path(scratch)
        (folder / f"{_CASE_MODULE}.py").write_text(code)
        runner = folder / "_baoling_runner.py"
        runner.write_text(
            _PRELUDE.format(firmware=str(FIRMWARE_DIR), hide=tuple(hide), case=_CASE_MODULE)
        )
        command = [find_micropython()]
        if heap:
            command += ["-X", f"heapsize={heap}"]
        command.append(str(runner))
        try:
            done = subprocess.run(
                command,
                cwd=cwd or folder,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"micropython did not finish within {timeout} s; output so far:\n"
                f"{_text(exc.stdout)}{_text(exc.stderr)}"
            ) from None
    if done.returncode != 0:
        raise AssertionError(
            f"micropython exited with status {done.returncode}:\n{done.stderr}"
            f"--- stdout ---\n{done.stdout}"
        )
    return done.stdout


def _text(data: bytes | str | None) -> str:
    """TimeoutExpired carries bytes even in text mode; show them as text."""
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data
