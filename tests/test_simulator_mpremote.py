"""mpremote (the real tool, as a subprocess) against the simulator in development mode.

This is the path `baoling token flash` takes: mpremote's raw REPL over the simulator's pty,
its soft reset (the launcher reboots the unix port into the raw REPL, as a board does), and a
Ctrl-D afterwards to run the new main.py.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from test_simulator import echo_firmware  # noqa: F401 - fixture

from baoling.host_tools.simulator import Simulator

MPREMOTE = Path(sys.executable).with_name("mpremote")


@pytest.fixture
def sim(tmp_path: Path, echo_firmware: Path) -> Iterator[Simulator]:  # noqa: F811
    with Simulator(tmp_path / "device", firmware_dir=echo_firmware) as running:
        running.wait_output(b"boot sim\n")
        yield running


def mpremote(port: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MPREMOTE), "connect", port, *args], capture_output=True, text=True, timeout=60
    )


def soft_reboot(sim: Simulator) -> None:
    """Ctrl-D in the friendly REPL mpremote leaves behind: the board runs main.py again."""
    with serial.Serial(sim.port, timeout=5) as port:
        port.write(b"\r\x04")


def test_exec_runs_code_on_the_device(sim: Simulator):
    done = mpremote(sim.port, "exec", "import board; print(1 + 1, board.make().name)")
    assert (done.returncode, done.stdout, done.stderr) == (0, "2 sim\n", "")
    assert b"MPY: soft reboot\r\n" in sim.device_output()


def test_exec_with_resume_skips_the_soft_reset(sim: Simulator):
    done = mpremote(sim.port, "resume", "exec", "print(6 * 7)")
    assert (done.returncode, done.stdout) == (0, "42\n")
    assert b"soft reboot" not in sim.device_output()


def test_fs_cp_deploys_a_main_that_runs_after_soft_reboot(sim: Simulator, tmp_path: Path):
    new_main = tmp_path / "main.py"
    new_main.write_text("print('boot deployed')\n")
    done = mpremote(sim.port, "fs", "cp", str(new_main), ":main.py")
    assert done.returncode == 0, done.stderr
    assert (sim.state_dir / "main.py").read_text() == "print('boot deployed')\n"
    written = len(sim.device_output())
    soft_reboot(sim)
    sim.wait_output(b"boot deployed\n", since=written)


def test_fs_ls_lists_the_device_root(sim: Simulator):
    done = mpremote(sim.port, "fs", "ls")
    assert done.returncode == 0, done.stderr
    names = {line.split()[-1] for line in done.stdout.splitlines()[1:]}
    assert {"main.py", "board.py"} <= names


def test_firmware_runs_again_after_mpremote_and_ctrl_d(sim: Simulator):
    assert mpremote(sim.port, "exec", "pass").returncode == 0
    written = len(sim.device_output())
    soft_reboot(sim)
    sim.wait_output(b"boot sim\n", since=written)
