"""`baoling sim`: run a token in one process, drive it from another through its state folder."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from child_signals import default_stop_signals
from click.testing import CliRunner
from test_simulator import ask, button_levels, echo_firmware  # noqa: F401 - fixture

from baoling.host_tools.sim_cmd import sim
from baoling.host_tools.simulator import flash

# `baoling sim` as its own program: these tests need no other command group to import.
BAOLING_SIM = [sys.executable, "-c", "from baoling.host_tools.sim_cmd import sim; sim()"]


def processes_in(folder: Path) -> list[int]:
    """Processes whose working folder is `folder` (the firmware runs in its state folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")) == folder:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@contextlib.contextmanager
def sim_run(state: Path, firmware: Path, *options: str) -> Iterator[tuple[subprocess.Popen, dict]]:
    """`baoling sim run` as a person starts it, with what it printed."""
    proc = subprocess.Popen(
        [*BAOLING_SIM, "run", "--state", str(state), "--firmware", str(firmware), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_stop_signals,
    )
    try:
        printed = {}
        for _ in range(3):
            key, _, value = proc.stdout.readline().rstrip("\n").partition(": ")
            printed[key] = value
        yield proc, printed
    finally:
        if proc.poll() is None:
            proc.terminate()  # the launcher's own clean stop
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture
def running(tmp_path: Path, echo_firmware: Path) -> Iterator[tuple[subprocess.Popen, dict]]:  # noqa: F811
    with sim_run(tmp_path / "token", echo_firmware) as started:
        yield started


def test_run_sets_the_clock_knobs_before_power_up(tmp_path: Path, echo_firmware: Path):  # noqa: F811
    state = tmp_path / "token"
    with (
        sim_run(state, echo_firmware, "--offset", "3600", "--drift", "40", "--no-battery") as (
            _,
            printed,
        ),
        serial.Serial(printed["port"], timeout=5) as port,
    ):
        assert abs(int(ask(port, "now")) - (time.time() + 3600) * 1000) < 5000
    shown = CliRunner().invoke(sim, ["clock", "--state", str(state)])
    assert shown.output == "offset: 3600 s\ndrift: 40 ppm\nbattery: out\naged: 0 s\n"


def test_run_refuses_a_firmware_folder_without_the_sim_board(tmp_path: Path):
    result = CliRunner().invoke(
        sim, ["run", "--state", str(tmp_path / "t"), "--firmware", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert f"Invalid value for --firmware: {tmp_path} has no boards/sim.py" in result.output


def test_run_prints_port_screen_and_state_then_stops_cleanly_on_sigterm(
    running: tuple[subprocess.Popen, dict], tmp_path: Path
):
    proc, printed = running
    state = (tmp_path / "token").resolve()
    assert printed == {
        "port": os.readlink(state / ".sim" / "port"),
        "screen": str(state / ".sim" / "screen.png"),
        "state": str(state),
    }
    with serial.Serial(printed["port"], timeout=5) as port:
        assert ask(port, "echo over the pty") == "over the pty"
    assert len(processes_in(state)) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert processes_in(state) == []
    assert not (state / ".sim" / "port").is_symlink()


def test_press_from_another_process_reaches_the_running_token(
    running: tuple[subprocess.Popen, dict], tmp_path: Path
):
    _, printed = running
    presser = threading.Thread(
        target=subprocess.run,
        args=([*BAOLING_SIM, "press", "--state", str(tmp_path / "token"), "--seconds", "0.5"],),
    )
    with serial.Serial(printed["port"], timeout=5) as port:
        assert ask(port, "button") == "0"
        levels = button_levels(port, presser)
    assert "1" in [level for _, level, _ in levels]
    assert levels[-1][1] == "0"


def test_ctrl_c_stops_run_with_exit_code_0(running: tuple[subprocess.Popen, dict], tmp_path: Path):
    proc, _ = running
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert proc.stderr.read().endswith("Stopped.\n")
    assert processes_in((tmp_path / "token").resolve()) == []


def test_firmware_dies_with_a_killed_launcher(
    running: tuple[subprocess.Popen, dict], tmp_path: Path
):
    proc, _ = running
    folder = (tmp_path / "token").resolve()
    assert processes_in(folder) != []
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while processes_in(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_in(folder) == []


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A flashed state folder, no simulator running: the knob commands only write files."""
    flash(tmp_path / "token")
    return tmp_path / "token"


def test_clock_sets_and_shows_the_knobs(state: Path):
    args = ["clock", "--state", str(state), "--offset", "-90.5", "--drift", "40"]
    result = CliRunner().invoke(sim, [*args, "--no-battery"])
    assert result.exit_code == 0, result.output
    assert result.output == "offset: -90.5 s\ndrift: 40 ppm\nbattery: out\naged: 0 s\n"
    shown = CliRunner().invoke(sim, ["clock", "--state", str(state), "--json"])
    assert shown.output == (
        '{"offset_ms": -90500, "drift_ppm": 40.0, "advanced_ms": 0, "battery": false}\n'
    )


def test_age_adds_up(state: Path):
    for seconds in ("86400", "0.25"):
        assert CliRunner().invoke(sim, ["age", "--state", str(state), seconds]).exit_code == 0
    result = CliRunner().invoke(sim, ["clock", "--state", str(state)])
    assert result.output.splitlines()[-1] == "aged: 86400.2 s"


def test_screen_shows_the_published_description_and_saves_a_png(state: Path, tmp_path: Path):
    empty = CliRunner().invoke(sim, ["screen", "--state", str(state)])
    assert empty.output == "(nothing on screen)\n"
    (state / ".sim" / "screen.json").write_text('{"screen": "set_time"}')
    png = tmp_path / "now.png"
    shown = CliRunner().invoke(sim, ["screen", "--state", str(state), "--png", str(png)])
    assert shown.output == "screen: set_time\n"
    assert png.read_bytes().startswith(b"\x89PNG")


def test_commands_on_a_folder_that_is_no_simulator_say_how_to_start_one(tmp_path: Path):
    result = subprocess.run(
        [*BAOLING_SIM, "press", "--state", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: {tmp_path} is not a simulator state folder: "
        f"start one with `baoling sim run --state {tmp_path}`\n"
    )


def test_run_refuses_a_bad_heap_size_as_a_usage_error(tmp_path: Path):
    result = CliRunner().invoke(sim, ["run", "--state", str(tmp_path / "t"), "--heap", "lots"])
    assert result.exit_code == 2
    assert "Invalid value for --heap: heap must be a size such as 64k or 1M, not 'lots'" in (
        result.output
    )
    assert not (tmp_path / "t").exists()


def test_run_on_a_folder_in_use_is_a_one_line_error(
    running: tuple[subprocess.Popen, dict],
    tmp_path: Path,
    echo_firmware: Path,  # noqa: F811
):
    state = tmp_path / "token"
    result = subprocess.run(
        [*BAOLING_SIM, "run", "--state", str(state), "--firmware", str(echo_firmware)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr == f"Error: {state.resolve()} is in use by another running simulator\n"
