"""What a webhook receiver that hangs costs a validation: accepted codes over HTTP against a
served node with no events channel, and against the same node with `validation.accepted` on and
a webhook whose receiver accepts the connection, reads the request and never answers (every
delivery attempt waits for events_webhook_timeout_seconds). Alternating in ROUNDS rounds, each
on a fresh SQLite data folder, so the machine's other load hits both alike.

Each request is one accepted code of an HOTP token (the next counter each time), so every
validation in the hanging mode also writes its event. Prints the median and p99 latency of one
validation per mode, the load averages, and their ratio (issue: within 10 %). The figure and
this command are in docs/performance.md:

    .venv/bin/python bench/events_hanging_receiver.py
"""

import base64
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baoling.host_tools.verifier_process import ServerProcess  # noqa: E402
from baoling.verifier.service import Verifier  # noqa: E402

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ROUNDS = 4
PER_ROUND = 400
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"b" * 32).decode()


@contextmanager
def hanging_receiver() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that reads each request and never answers; its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            held.append(conn)  # kept open, unanswered, until the sender gives up

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        listener.close()
        for conn in held:
            conn.close()


def latencies(hanging: bool) -> tuple[list[float], int]:
    """PER_ROUND accepted validations' times (s) on a fresh node, and how many delivery
    attempts the receiver held meanwhile (0 without a channel)."""
    data_dir = Path(tempfile.mkdtemp())
    admin = Verifier(data_dir=data_dir, event_types=())
    admin.enrol("bench", base64.b32decode(SECRET), kind="hotp")
    key = admin.create_api_key("bench", ["validate"])
    admin.close()
    hotp = pyotp.HOTP(SECRET)
    with hanging_receiver() as url:
        args: list[str] = []
        if hanging:
            secret = data_dir / "hook.secret"
            secret.write_text(WEBHOOK_SECRET + "\n")
            args = ["--events-webhook-url", url, "--events-webhook-secret-file", str(secret)]
            args += ["--events-validation-accepted", "--events-webhook-timeout-seconds", "5"]
        with (
            ServerProcess(["--data-dir", str(data_dir)], args) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            auth = {"Authorization": f"Bearer {key}"}
            times = []
            for n in range(PER_ROUND):
                body = {"token": "bench", "code": hotp.at(n)}
                started = time.perf_counter()
                answer = client.post("/v1/validate", json=body, headers=auth)
                times.append(time.perf_counter() - started)
                assert answer.json()["result"] == "accept", answer.text
    waiting = Verifier(data_dir=data_dir, event_types=())
    try:
        pending = waiting.outbox.backlog()
    finally:
        waiting.close()
    return times, pending


def p99(times: list[float]) -> float:
    return sorted(times)[int(len(times) * 0.99)]


def main() -> None:
    quiet: list[float] = []
    hung: list[float] = []
    pending = 0
    for _ in range(ROUNDS):
        quiet += latencies(False)[0]
        times, waiting = latencies(True)
        hung += times
        pending += waiting
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    off, on = statistics.median(quiet), statistics.median(hung)
    print(f"load averages: {load}")
    print(f"no channel:         median {off * 1e3:.2f} ms, p99 {p99(quiet) * 1e3:.2f} ms")
    print(f"receiver hanging:   median {on * 1e3:.2f} ms, p99 {p99(hung) * 1e3:.2f} ms")
    print(f"events left undelivered by the hanging receiver: {pending}")
    print(f"ratio (hanging / none), median: {on / off:.2f}")


if __name__ == "__main__":
    main()
