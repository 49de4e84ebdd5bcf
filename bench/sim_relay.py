"""What the simulator's relay adds to a serial round trip, and what the firmware itself costs.

Three round-trip times, measured in one run: the echo firmware (tests/sim_echo) on a single
raw pty written directly (no relay: the floor), the same firmware behind the launcher's two
ptys and relay thread, and the real firmware answering `time.get` through the simulator.
Prints medians, 90th percentiles and ratios; figures go into docs/simulator.md ("What it
does not simulate").

Run from the repository root: .venv/bin/python -m bench.sim_relay
"""

import json
import os
import pty
import select
import shutil
import statistics
import subprocess
import tempfile
import time
import tty
from collections.abc import Callable
from pathlib import Path

import serial

from baoling.host_tools.micropython import find_micropython
from baoling.host_tools.simulator import FIRMWARE_DIR, Simulator, flash

ROUNDS = 500
ECHO = b"echo x\n"
ECHO_ANSWER = b"= x\n"


def timed(round_trip: Callable[[], None]) -> list[float]:
    """Milliseconds per round trip, after a few warm-up rounds."""
    for _ in range(20):
        round_trip()
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        round_trip()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def read_until(fd: int, end: bytes) -> None:
    seen = b""
    while not seen.endswith(end):
        select.select([fd], [], [], 5)
        seen += os.read(fd, 4096)


def direct(firmware: Path, work: Path) -> list[float]:
    """The echo firmware on one raw pty, no relay."""
    device = work / "direct"
    flash(device, firmware)
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(
        [find_micropython(), "-i", "main.py"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=device,
        env=dict(os.environ, MICROPYPATH=":.frozen:lib"),
        start_new_session=True,
    )
    os.close(slave)
    try:
        read_until(master, b"boot sim\n")

        def round_trip() -> None:
            os.write(master, ECHO)
            read_until(master, ECHO_ANSWER)

        return timed(round_trip)
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def relayed(firmware: Path, work: Path) -> list[float]:
    """The echo firmware behind the simulator's relay, through pyserial."""
    with (
        Simulator(work / "relayed", firmware_dir=firmware) as sim,
        serial.Serial(sim.port, timeout=5) as port,
    ):
        sim.wait_output(b"boot sim\n")

        def round_trip() -> None:
            port.write(ECHO)
            port.read_until(ECHO_ANSWER)

        return timed(round_trip)


def real_firmware(work: Path) -> list[float]:
    """`time.get` answered by the real firmware (which polls its link every few ms)."""
    with Simulator(work / "real") as sim, serial.Serial(sim.port, timeout=5) as port:
        request = b"@" + json.dumps({"v": 1, "id": 1, "op": "time.get"}).encode() + b"\n"

        def round_trip() -> None:
            port.write(request)
            while not port.readline().startswith(b'@{"'):
                pass

        return timed(round_trip)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as temp:
        work = Path(temp)
        firmware = work / "firmware"
        (firmware / "boards").mkdir(parents=True)
        shutil.copyfile(Path("tests/sim_echo/main.py"), firmware / "main.py")
        shutil.copyfile(FIRMWARE_DIR / "boards" / "sim.py", firmware / "boards" / "sim.py")
        rows = [
            ("echo firmware, one pty, no relay", direct(firmware, work)),
            ("echo firmware through the relay", relayed(firmware, work)),
            ("real firmware time.get, relay", real_firmware(work)),
        ]
    print(f"serial round trip, {ROUNDS} rounds each     median ms    p90 ms")
    for name, times in rows:
        print(f"  {name:38} {statistics.median(times):9.3f} {times[int(0.9 * ROUNDS)]:9.3f}")
    floor = statistics.median(rows[0][1])
    print(f"relay / direct: {statistics.median(rows[1][1]) / floor:.1f}x")
    print(f"real firmware / direct: {statistics.median(rows[2][1]) / floor:.1f}x")


if __name__ == "__main__":
    main()
