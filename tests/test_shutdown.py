"""SIGTERM and SIGINT stop `verifier serve`, `sim run`, `demo` and `demo --keep-running` alike.

`kill PID` (SIGTERM: also what systemd and container runtimes send), `kill -INT PID` and a
terminal's Ctrl-C (SIGINT to the whole foreground process group) each end the command with exit
code 0 within STOP_WITHIN_S, with no process it started still running and no temporary folder
left. Each command runs as a real child in a process group of its own whose dispositions for
both signals are reset to the default, so these tests hold when the suite itself runs with
SIGINT ignored (`cmd &` in a script, nohup).
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from child_signals import default_stop_signals

BAOLING = [sys.executable, "-m", "baoling.host_tools"]
STOP_WITHIN_S = 5.0
READY_WITHIN_S = 90.0


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    group: int
    session: int
    command: str


def processes() -> list[ProcInfo]:
    """Every live process (zombies excluded), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
        state, ppid, group, session = stat[stat.rindex(")") + 2 :].split()[:4]
        if state != "Z":
            found.append(ProcInfo(int(entry.name), int(ppid), int(group), int(session), command))
    return found


def descendants(pid: int) -> list[ProcInfo]:
    """The processes `pid` started, and theirs, down the tree."""
    table = processes()
    family, found = {pid}, []
    grew = True
    while grew:
        grew = False
        for proc in table:
            if proc.ppid in family and proc.pid not in family:
                family.add(proc.pid)
                found.append(proc)
                grew = True
    return found


def left_behind(pid: int, started: list[ProcInfo]) -> list[ProcInfo]:
    """Processes of the stopped command still running: in its group or session, or started
    by it (the firmware runs in a session of its own)."""
    pids = {proc.pid for proc in started}
    return [
        proc
        for proc in processes()
        if proc.pid != pid and (proc.pid in pids or pid in (proc.group, proc.session))
    ]


class Running:
    """A command as a child in its own process group, its output collected in the background."""

    def __init__(self, args: list[str], tmp: Path) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self.proc = subprocess.Popen(
            [*BAOLING, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, TMPDIR=str(tmp)),
            process_group=0,
            preexec_fn=default_stop_signals,
        )
        self._readers = [
            threading.Thread(target=self._collect, args=(stream, lines), daemon=True)
            for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line)

    def output(self) -> str:
        return "".join(self.out) + "".join(self.err)

    def wait_for(self, ready: Callable[["Running"], bool]) -> None:
        deadline = time.monotonic() + READY_WITHIN_S
        while not ready(self):
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"not ready:\n{self.output()}"
            time.sleep(0.05)

    def join(self) -> None:
        """Wait until everything it wrote is read."""
        for reader in self._readers:
            reader.join(timeout=5)

    def kill_all(self, started: list[ProcInfo]) -> None:
        """After a failed test: leave nothing running."""
        for proc in [*left_behind(self.proc.pid, started), *started]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.join()


def running_firmware(started: list[ProcInfo]) -> bool:
    return any("micropython" in proc.command for proc in started)


def running_verifier(started: list[ProcInfo]) -> bool:
    return any("baoling.host_tools verifier" in proc.command for proc in started)


@dataclass(frozen=True)
class Case:
    """How to start a command, when it is ready, and which processes it must have started."""

    args: Callable[[Path], list[str]]
    ready: Callable[[Running], bool]
    children: Callable[[list[ProcInfo]], bool]
    last_words: str = ""  # what it says once stopped


CASES = {
    "serve": Case(
        lambda tmp: ["verifier", "--data-dir", str(tmp / "data"), "serve", "--http-port", "0"],
        lambda run: any(line.startswith("HTTP on http://") for line in run.err),
        lambda started: True,  # one process: HTTP in it, RADIUS (when on) in a thread
    ),
    "sim": Case(
        lambda tmp: ["sim", "run", "--state", str(tmp / "token")],
        lambda run: any(line.startswith("Running;") for line in run.err),
        running_firmware,
        "Stopped.\n",
    ),
    "demo, mid-way": Case(  # stopped while it waits for its verifier to listen
        lambda tmp: ["demo"],
        lambda run: True,
        running_verifier,
        "Demo stopped before its checks.\n",
    ),
    "demo --keep-running": Case(
        lambda tmp: ["demo", "--keep-running"],
        lambda run: any(line.startswith("Still running") for line in run.out),
        lambda started: running_firmware(started) and running_verifier(started),
        "Demo finished: accept, then reject (replay), then reject (wrong code).\n",
    ),
}

SIGNALS = {
    "kill PID": (signal.SIGTERM, os.kill),
    "kill -INT PID": (signal.SIGINT, os.kill),
    "Ctrl-C": (signal.SIGINT, os.killpg),  # a terminal signals the whole foreground group
}


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """The child's TMPDIR: it must be empty again once the command stopped."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    yield tmp


@pytest.mark.parametrize("how", SIGNALS)
@pytest.mark.parametrize("command", CASES)
def test_a_stop_signal_ends_the_command_cleanly(
    command: str, how: str, tmp_path: Path, scratch: Path
):
    case, (signum, send) = CASES[command], SIGNALS[how]
    run = Running(case.args(tmp_path), scratch)
    started: list[ProcInfo] = []
    try:
        run.wait_for(case.ready)
        deadline = time.monotonic() + READY_WITHIN_S
        while not case.children(started := descendants(run.proc.pid)):
            assert time.monotonic() < deadline, f"missing children: {started}"
            time.sleep(0.05)

        send(run.proc.pid, signum)
        stopping = time.monotonic()
        try:
            code = run.proc.wait(timeout=STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_WITHIN_S} s after {how}:\n{run.output()}")
        took = time.monotonic() - stopping
        assert code == 0, run.output()
        assert left_behind(run.proc.pid, started) == []
        assert list(scratch.iterdir()) == []
        assert "Traceback" not in run.output()
        assert took < STOP_WITHIN_S
        run.join()
        assert case.last_words in run.output()
    finally:
        run.kill_all(started)
