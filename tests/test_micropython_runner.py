"""The MicroPython test runner itself: failures inside MicroPython must fail the pytest test."""

from pathlib import Path

import pytest

from tests.micropython_runner import FIRMWARE_DIR, run_micropython


def test_runs_under_micropython_and_returns_stdout() -> None:
    out = run_micropython("import sys\nprint(sys.implementation.name)\nprint(sys.path[0])")
    assert out.splitlines() == ["micropython", str(FIRMWARE_DIR)]


def test_failing_assert_inside_micropython_surfaces_its_message() -> None:
    with pytest.raises(AssertionError) as failure:
        run_micropython("x = 2\nassert x == 3, 'x is %d, wanted 3' % x\n")
    assert "AssertionError: x is 2, wanted 3" in str(failure.value)
    assert "line 2" in str(failure.value)


def test_uncaught_exception_fails_with_traceback() -> None:
    with pytest.raises(AssertionError, match="ValueError: bad frame"):
        run_micropython("raise ValueError('bad frame')")


def test_hide_removes_only_the_named_hashlib_algorithms() -> None:
    out = run_micropython(
        "import hashlib\nprint(hasattr(hashlib, 'sha1'), hasattr(hashlib, 'sha256'))",
        hide=("sha1",),
    )
    assert out.split() == ["False", "True"]


def test_heap_limit_is_applied() -> None:
    code = (
        "try:\n"
        "    b = bytearray(100_000)\n"
        "    print('allocated')\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n"
    )
    assert run_micropython(code, heap="64k").strip() == "MemoryError"
    assert run_micropython(code).strip() == "allocated"


def test_cwd_is_the_working_folder_and_importable(tmp_path: Path) -> None:
    (tmp_path / "marker.txt").write_text("here")
    (tmp_path / "board.py").write_text("NAME = 'test board'\n")
    code = "import board\nprint(open('marker.txt').read(), board.NAME)"
    assert run_micropython(code, cwd=tmp_path).strip() == "here test board"


def test_timeout_fails_with_partial_output() -> None:
    with pytest.raises(AssertionError, match="did not finish within 1 s"):
        run_micropython("import time\nprint('started')\ntime.sleep(10)", timeout=1)
