"""The token does not spin when the host side of its serial link goes away.

A closed pty (a USB host that vanished, a simulator launcher that died) makes poll() report
the link readable at once with nothing to read; the main loop must then still sleep between
its button samples. Measured as the firmware process's CPU time, under real MicroPython.
"""

import os
import pty
import subprocess
import time
import tty
from pathlib import Path

from baoling.host_tools.micropython import find_micropython
from baoling.host_tools.simulator import flash

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
WATCH_S = 2.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/PID/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def test_firmware_sleeps_after_the_host_hangs_up(tmp_path: Path):
    state = tmp_path / "token"
    flash(state)
    host, device = pty.openpty()
    tty.setraw(device)
    firmware = subprocess.Popen(
        [find_micropython(), "main.py"],
        stdin=device,
        stdout=device,
        stderr=device,
        cwd=state,
        env=dict(os.environ, MICROPYPATH=":.frozen:lib"),
    )
    os.close(device)
    try:
        time.sleep(1.0)  # booted, drawing its first screen
        os.close(host)
        time.sleep(0.5)
        before = cpu_seconds(firmware.pid)
        time.sleep(WATCH_S)
        used = cpu_seconds(firmware.pid) - before
        assert firmware.poll() is None, "the firmware should keep running without a host"
        # A spinning loop takes a whole core (about 2 s here); sleeping, it takes a few ticks.
        assert used < 0.2 * WATCH_S, f"{used:.2f} s of CPU in {WATCH_S} s: the loop spins"
    finally:
        firmware.kill()
        firmware.wait()
