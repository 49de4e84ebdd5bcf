"""`baoling demo` end to end: it prints accept / replay-reject / wrong-reject and leaves no
process behind; with --keep-running the commands it prints work from another shell.

Stopping it with SIGTERM or SIGINT at any moment is tests/test_shutdown.py's part.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from child_signals import default_stop_signals

from baoling.host_tools.demo import clock_finding
from baoling.host_tools.simulator import flash
from baoling.provisioning.sync import SyncReport
from baoling.verifier import Verifier

BAOLING = [sys.executable, "-m", "baoling.host_tools"]
# The console script as a newcomer runs it (scripts/demo.sh): next to this venv's Python.
BAOLING_SCRIPT = Path(sys.executable).parent / "baoling"
# The code screen's top line: 128 pixels of 8-pixel characters (docs/screens/README.md).
SCREEN_LINE_CHARS = 128 // 8
NO_VENV_PATH = "/usr/local/bin:/usr/bin:/bin"  # a shell where .venv is not activated


def processes_in(folder: Path) -> list[int]:
    """Processes whose command line or working folder lies in `folder` (the demo's children)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(folder) in cmdline or cwd.startswith(str(folder)):
            found.append(int(proc.name))
    return found


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BAOLING, "demo", *args], capture_output=True, text=True, timeout=120)


def test_demo_accepts_then_rejects_replay_and_wrong_code(tmp_path: Path):
    proc = run_demo("--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Checked the code on screen over HTTP: accept" in out
    assert "Checked the same code again: reject (replay protection)" in out
    assert "Checked a wrong code: reject" in out
    assert out.endswith("Demo finished: accept, then reject (replay), then reject (wrong code).\n")
    assert (tmp_path / "token" / ".sim" / "screen.png").is_file()
    assert processes_in(tmp_path) == []


def test_demo_names_the_token_id_its_code_and_a_label_that_fits_the_screen(tmp_path: Path):
    proc = run_demo("--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [token] = Verifier(data_dir=tmp_path / "verifier").list_tokens()
    assert f"  token id {token['token']}; " in proc.stdout
    shown = re.search(r"The token shows (\d{6}) for (\S+), \d+ s left", proc.stdout)
    assert shown is not None, proc.stdout
    label = shown[2]
    assert label == f"{token['issuer']}:{token['label']}"
    assert len(label) <= SCREEN_LINE_CHARS


def test_a_clock_that_was_right_is_no_finding(tmp_path: Path):
    proc = run_demo("--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [line] = [line for line in proc.stdout.splitlines() if "  token id " in line]
    assert re.search(r"; its clock set to within \d+\.\d ms of this computer's$", line), line


def test_a_clock_that_was_off_is_said(tmp_path: Path):
    flash(tmp_path / "token")  # a token whose clock runs an hour ahead
    subprocess.run(
        [*BAOLING, "sim", "clock", "--state", str(tmp_path / "token"), "--offset", "3600"],
        check=True,
        capture_output=True,
    )
    proc = run_demo("--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [line] = [line for line in proc.stdout.splitlines() if "  token id " in line]
    assert re.search(r"of this computer's \(it was \+3600\.\d s off\)$", line), line


@pytest.mark.parametrize(
    ("before_ms", "said"),
    [
        (-40.0, ""),
        (999.9, ""),
        (-1000.0, " (it was -1.0 s off)"),
        (3600e3, " (it was +3600.0 s off)"),
    ],
)
def test_the_clock_before_the_sync_is_said_from_one_second_off(before_ms: float, said: str):
    report = SyncReport(before_ms, -0.44, 1.0, None, False, 0.0)
    assert clock_finding(report) == "its clock set to within 0.4 ms of this computer's" + said


@pytest.fixture
def kept_running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`baoling demo --keep-running` started from the console script, up to its last
    instruction; stopped with Ctrl-C at the end. An earlier run left a key file readable by all
    in its folder."""
    (tmp_path / "validate-key.header").write_text("Authorization: Bearer old\n")
    (tmp_path / "validate-key.header").chmod(0o644)
    proc = subprocess.Popen(
        [str(BAOLING_SCRIPT), "demo", "--keep-running", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_stop_signals,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C to stop") or time.monotonic() > deadline:
                break
        assert lines[-1] == "Press Ctrl-C to stop.\n", "".join(lines)
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def shell(command: str) -> subprocess.CompletedProcess[str]:
    """`command` as typed into a new shell without the venv activated."""
    return subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": NO_VENV_PATH, "HOME": os.environ.get("HOME", "/")},
    )


def test_keep_running_prints_commands_that_work_while_it_runs(
    kept_running: tuple[subprocess.Popen[str], list[str]], tmp_path: Path
):
    proc, lines = kept_running
    [token] = Verifier(data_dir=tmp_path / "verifier").list_tokens()
    name = token["token"]
    port = os.readlink(tmp_path / "token" / ".sim" / "port")
    url = re.search(r"HTTP API at (\S+);", "".join(lines))[1]
    start = lines.index(f"Still running: token {name} on {port}, verifier at {url}.\n")
    commands = [line.strip() for line in lines[start:] if line.startswith("  ")]
    assert len(commands) == 4, "".join(lines[start:])
    screen_cmd, info_cmd, show_cmd, curl_cmd = commands
    for command in (screen_cmd, info_cmd, show_cmd):
        assert shlex.split(command)[0] == str(BAOLING_SCRIPT)

    screen = shell(screen_cmd)
    assert screen.returncode == 0, screen.stderr
    code = re.search(r"^code: (\d{6})$", screen.stdout, re.M)[1]

    info = shell(info_cmd)  # the demo left the serial port free
    assert info.returncode == 0, info.stderr
    assert f"slot 0: {token['issuer']}:{token['label']}" in info.stdout

    show = shell(show_cmd)  # the verifier's own store, not an empty one next to it
    assert show.returncode == 0, show.stderr
    assert name in show.stdout

    validated = shell(curl_cmd.replace("CODE", code))
    assert validated.returncode == 0, validated.stderr
    # accept, or reject when the demo's own check already used this code (replay)
    assert json.loads(validated.stdout)["result"] in ("accept", "reject"), validated.stdout

    key = (tmp_path / "validate-key.header").read_text().split()[-1]
    assert key not in "".join(lines)
    assert (tmp_path / "validate-key.header").stat().st_mode & 0o777 == 0o600


def test_keep_running_shows_each_new_code(
    kept_running: tuple[subprocess.Popen[str], list[str]], tmp_path: Path
):
    proc, lines = kept_running
    first = re.search(r"The token shows (\d{6}) for ", "".join(lines))[1]
    # Half a minute passes for the token at once: it shows its next code now, not in 30 s.
    subprocess.run([*BAOLING, "sim", "age", "--state", str(tmp_path / "token"), "30"], check=True)
    line = proc.stdout.readline()
    shown = re.fullmatch(r"\[ *\d+\.\d s\] The token shows (\d{6}), \d+ s left\n", line)
    assert shown is not None, line
    assert shown[1] != first
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert "Stopped the token and the verifier." in rest
    assert rest.endswith("Demo finished: accept, then reject (replay), then reject (wrong code).\n")
    assert processes_in(tmp_path) == []
