"""`baoling demo` end to end: it prints accept / replay-reject / wrong-reject and leaves no
process behind, also when stopped with Ctrl-C."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BAOLING = [sys.executable, "-m", "baoling.host_tools"]


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


def test_demo_accepts_then_rejects_replay_and_wrong_code(tmp_path: Path):
    proc = subprocess.run(
        [*BAOLING, "demo", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Checked the code on screen over HTTP: accept" in out
    assert "Checked the same code again: reject (replay protection)" in out
    assert "Checked a wrong code: reject" in out
    assert (tmp_path / "token" / ".sim" / "screen.png").is_file()
    assert processes_in(tmp_path) == []


def test_demo_keep_running_stops_everything_on_ctrl_c(tmp_path: Path):
    proc = subprocess.Popen(
        [*BAOLING, "demo", "--keep-running", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    deadline = time.monotonic() + 90
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Press Ctrl-C to stop") or time.monotonic() > deadline:
            break
    assert lines[-1].startswith("Press Ctrl-C to stop"), "".join(lines)
    children = [pid for pid in processes_in(tmp_path) if pid != proc.pid]
    assert len(children) >= 2  # the verifier and the firmware are up
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert "Stopped the token and the verifier." in rest
    assert processes_in(tmp_path) == []
