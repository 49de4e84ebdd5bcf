"""The load generator the HTTP and RADIUS benches share: bounded, alternating, CPU-counted.

A door is a function that opens one client's sender; a sender sends request number i and
raises when the answer is not the one expected. Short rounds of each door alternate, so a
change in the machine's other load hits every door alike.
"""

import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

ROUNDS = 6
WARM_UP_REQUESTS = 200

Send = Callable[[int], None]
Door = Callable[[int], AbstractContextManager[Send]]  # client number -> its sender


def drive(door: Door, total: int, concurrency: int, limit_s: float) -> tuple[int, float]:
    """Send `total` requests from `concurrency` clients, or stop at `limit_s`;
    returns (requests answered, seconds)."""
    sent = 0
    lock = threading.Lock()
    deadline = time.monotonic() + limit_s
    failures: list[str] = []

    def worker(n: int) -> None:
        nonlocal sent
        with door(n) as send:
            i = 0
            while time.monotonic() < deadline:
                with lock:
                    if sent >= total:
                        return
                    sent += 1
                try:
                    send(i)
                except Exception as error:  # noqa: BLE001 - every failure is reported below
                    failures.append(f"{type(error).__name__}: {error}")
                i += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, first: {failures[0]}")
    return sent, elapsed


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alternate(
    doors: dict[str, Door], server_pid: int, requests: int, concurrency: int, limit_s: float
) -> dict[str, tuple[float, float]]:
    """Warm every door up, then alternate ROUNDS rounds of `requests` / ROUNDS each;
    returns, per door, (requests/s, seconds of the server's CPU per request)."""
    for door in doors.values():
        drive(door, WARM_UP_REQUESTS, concurrency, limit_s)
    totals = {name: [0, 0.0, 0.0] for name in doors}  # sent, seconds, server CPU seconds
    for _ in range(ROUNDS):
        for name, door in doors.items():
            cpu_before = cpu_seconds(server_pid)
            sent, seconds = drive(door, requests // ROUNDS, concurrency, limit_s / ROUNDS)
            totals[name][0] += sent
            totals[name][1] += seconds
            totals[name][2] += cpu_seconds(server_pid) - cpu_before
    return {name: (sent / s, cpu / sent) for name, (sent, s, cpu) in totals.items()}
