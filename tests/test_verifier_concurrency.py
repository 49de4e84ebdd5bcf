"""Exactly one accept per code under concurrency and across a crash, on SQLite and PostgreSQL.

Separate verifier processes play separate nodes: they share only the database (and the master
key file, as nodes would share a copy of it)."""

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tests.test_verifier_service import SECRET, T0, code_at

ATTEMPTS = 50

# A verifier node in its own process: argv = store URL ("" = SQLite in the data folder),
# data folder, the Verifier method (validate or validate_user), token or user, code, now,
# threads. It prints "ready", waits for a line on stdin so all nodes start together, validates
# from `threads` threads at once and prints the accept count.
NODE = """
import sys, threading
from pathlib import Path
from baoling.verifier import Verifier
url, data, method, who, code, now, threads = sys.argv[1:]
v = Verifier(url or None, data_dir=Path(data))
check = getattr(v, method)
barrier = threading.Barrier(int(threads))
results = []
def attempt():
    barrier.wait()
    results.append(check(who, code, now=float(now)))
workers = [threading.Thread(target=attempt) for _ in range(int(threads))]
print("ready", flush=True)
sys.stdin.readline()
for w in workers: w.start()
for w in workers: w.join()
print(sum(results), flush=True)
"""

# Validate once, report, then linger until killed.
CRASH = """
import sys, time
from pathlib import Path
from baoling.verifier import Verifier
url, data, token, code, now = sys.argv[1:]
ok = Verifier(url or None, data_dir=Path(data)).validate(token, code, now=float(now))
print("accept" if ok else "reject", flush=True)
time.sleep(60)
"""


def _node(script: str, store_url: str | None, data_dir: Path, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, store_url or "", str(data_dir), *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def at_once(attempt: Callable[[], bool], threads: int = ATTEMPTS) -> list[bool]:
    """Run `attempt` from `threads` threads released together; their results, sorted."""
    barrier = threading.Barrier(threads)
    results: list[bool] = []

    def run() -> None:
        barrier.wait()
        results.append(attempt())

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(results)


def on_two_nodes(
    store_url: str | None, data_dir: Path, method: str, who: str, code: str, now: float
) -> int:
    """ATTEMPTS submissions of `code` for `who` (Verifier.<method>), half from each of two
    verifier processes, all released together; how many were accepted."""
    nodes = [
        _node(NODE, store_url, data_dir, method, who, code, now, ATTEMPTS // 2) for _ in range(2)
    ]
    for node in nodes:
        assert node.stdout.readline() == "ready\n"
    for node in nodes:
        node.stdin.write("go\n")
        node.stdin.flush()
    return sum(int(node.communicate(timeout=120)[0]) for node in nodes)


def test_50_threads_same_right_code_exactly_one_accept(make_verifier):
    v = make_verifier()
    v.enrol("alice", SECRET, now=T0)
    code = code_at(SECRET, T0)
    results = at_once(lambda: v.validate("alice", code, now=T0))
    assert results == [False] * (ATTEMPTS - 1) + [True]
    results_audited = [
        row["detail"]["result"]
        for row in v.audit(limit=2 * ATTEMPTS)
        if row["action"] == "validate"
    ]
    assert sorted(results_audited) == ["accept"] + ["reject"] * (ATTEMPTS - 1)


def test_two_verifier_processes_50_attempts_exactly_one_accept(make_verifier, store_url, data_dir):
    make_verifier().enrol("alice", SECRET, now=T0)
    code = code_at(SECRET, T0)
    assert on_two_nodes(store_url, data_dir, "validate", "alice", code, T0) == 1
    assert make_verifier().verify_audit().ok


def test_code_accepted_before_kill_9_is_rejected_after_restart(make_verifier, store_url, data_dir):
    make_verifier().enrol("alice", SECRET, now=T0)
    code = code_at(SECRET, T0)
    node = _node(CRASH, store_url, data_dir, "alice", code, T0)
    try:
        assert node.stdout.readline() == "accept\n"
    finally:
        os.kill(node.pid, signal.SIGKILL)
        node.wait(timeout=30)
    assert node.returncode == -signal.SIGKILL
    restarted = _node(CRASH, store_url, data_dir, "alice", code, T0 + 1)
    try:
        assert restarted.stdout.readline() == "reject\n"
    finally:
        restarted.kill()
        restarted.wait(timeout=30)
    assert make_verifier().check("alice", code, now=T0 + 2).reason == "replay"
