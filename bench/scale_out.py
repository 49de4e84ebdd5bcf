"""Scale-out: 1, 2 and 4 verifier nodes on one PostgreSQL, same load per node, in one run.

Starts a throwaway PostgreSQL 15 (tests/fixtures_postgres.py), a relay in front of it that
delays every chunk by `--delay-ms` in each direction (bench/latency_relay.py: a database round
trip costs twice that, as across a network, so nodes are bound by round trips and by waiting
for each other rather than by this machine's CPU), and four `baoling verifier serve` nodes
reaching the database through the relay. The load generator (bench/load.py) gives each node in
use `--clients-per-node` keep-alive clients; every client validates tokens spread over
`--tokens` tokens, a right code (accepted once per step, a replay after) and a wrong one (a
failure counted) in turn; the lockout threshold is raised so no token locks. The settings 1, 2
and 4 nodes alternate in `--rounds` rounds, so a change in the machine's other load hits each
alike; idle nodes stay up.

While the load runs, a direct connection samples `pg_stat_activity` every 10 ms: of the
database's client backends in a transaction (state active or idle in transaction: requests in
flight in the database), the share waiting on a lock (wait_event_type 'Lock'). Goal: < 5 %.
Prints validations/s per setting, that share, the machine's idle CPU share during the setting's
rounds (near 0 %: the machine's CPU, not the verifier, was the limit), the load average, and last
`nodes=4 ratio=X` (4 nodes / 1 node; goal >= 3.0). Figures: docs/performance.md.

    .venv/bin/python -m bench.scale_out
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import sqlalchemy as sa

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.otp import TOTP
from baoling.verifier.service import Verifier
from bench.load import Door, Send, drive
from tests.fixtures_postgres import PostgresServer, running_postgres

NODES = (1, 2, 4)
TARGET_RATIO = 3.0
TARGET_LOCK_SHARE = 0.05
SAMPLE_S = 0.01
REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass
class Tally:
    """One setting's totals over its rounds."""

    validations: int = 0
    seconds: float = 0.0
    in_flight: int = 0  # summed over samples: backends in a transaction
    waiting: int = 0  # summed over samples: those of them waiting on a lock
    samples: int = 0
    cpu_idle: float = 0.0  # the machine's idle CPU time (all cores) over the rounds, in ticks
    cpu_total: float = 0.0


def cpu_ticks() -> tuple[int, int]:
    """The machine's (idle, total) CPU time so far, all cores, from /proc/stat (Linux)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; without guest time


@contextmanager
def latency_relay(server: PostgresServer, delay_ms: float) -> Iterator[int]:
    """bench/latency_relay.py in front of `server`; yields the relay's port."""
    relay = subprocess.Popen(
        [sys.executable, "-m", "bench.latency_relay", server.host, str(server.port)]
        + ["--delay-ms", str(delay_ms)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
    )
    try:
        assert relay.stdout is not None  # stdout=PIPE
        line = relay.stdout.readline()
        if not line.startswith("relay on "):
            raise SystemExit(f"the latency relay did not start: {line!r}")
        yield int(line.rsplit(":", 1)[1])
    finally:
        relay.terminate()
        relay.wait()


class LockSampler:
    """Samples the database's backends in a transaction and those waiting on a lock, from a
    connection that bypasses the relay, into whichever Tally is current."""

    QUERY = (
        "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*)"
        " FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
        " AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()"
    )

    def __init__(self, server: PostgresServer, database: str) -> None:
        self.conn = psycopg.connect(
            host=server.host, port=server.port, user="postgres", dbname=database, autocommit=True
        )
        self.database = database
        self.tally: Tally | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(SAMPLE_S):
            tally = self.tally
            if tally is None:
                continue
            row = self.conn.execute(self.QUERY, (self.database,), prepare=True).fetchone()
            waiting, in_flight = row or (0, 0)
            tally.waiting += waiting
            tally.in_flight += in_flight
            tally.samples += 1

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.conn.close()


def validation_door(
    urls: list[str], auth: dict[str, str], tokens: list[str], otps: list[TOTP]
) -> Door:
    """Client n sends to node n % len(urls): a right code and a wrong one in turn, each
    request to another token; any answer but 200 fails the run. Each client is one keep-alive
    socket (`KeepAlive`): the load generator shares the machine's two cores with the nodes it
    measures, so it must cost little CPU per request."""

    @contextmanager
    def door(n: int) -> Iterator[Send]:
        url = urlsplit(urls[n % len(urls)])
        with KeepAlive(url.hostname or "", url.port or 80, auth) as client:

            def send(i: int) -> None:
                k = (n * 7919 + i * 104_729) % len(tokens)
                code = otps[k].code_at_step(otps[k].step_at(time.time()))
                if i % 2:
                    code = f"{(int(code) + 1) % 1_000_000:06d}"
                body = {"token": tokens[k], "code": code}
                status, answer = client.post_json("/v1/validate", body)
                if status != 200:
                    raise RuntimeError(f"{status} {answer.decode(errors='replace')}")

            yield send

    return door


class KeepAlive:
    """A minimal HTTP/1.1 client on one keep-alive connection, for a server that answers with a
    Content-Length (uvicorn does). Not http.client: it parses each answer's headers with the
    email package, which cost the load generator about half its CPU time per request, where
    this reads the status line and the body's length only."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.head += f"Host: {host}\r\nContent-Type: application/json\r\n"
        self.buffer = b""

    def __enter__(self) -> "KeepAlive":
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def post_json(self, path: str, body: object) -> tuple[int, bytes]:
        """POST `body` as JSON; the answer's status and body."""
        data = json.dumps(body).encode()
        request = f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(data)}\r\n\r\n"
        self.sock.sendall(request.encode() + data)
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in lines[1:]
            if line[:15].lower() == b"content-length:"
        )
        while len(self.buffer) < length:
            self._receive()
        answer, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, answer

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay-ms", type=float, default=2.0, help="relay delay each way")
    parser.add_argument("--clients-per-node", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--round-seconds", type=float, default=8.0, help="per setting")
    args = parser.parse_args()

    with ExitStack() as stack:
        server = stack.enter_context(running_postgres())
        url = server.create_database()
        database = sa.make_url(url).database
        assert database is not None
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="baoling-bench-")))
        homes = [tmp / f"node{i}" for i in range(max(NODES))]

        started = time.monotonic()
        v = Verifier(url, data_dir=homes[0])
        tokens = [f"bench-{i:04d}" for i in range(args.tokens)]
        secrets = [os.urandom(20) for _ in tokens]
        for token, secret in zip(tokens, secrets, strict=True):
            v.enrol(token, secret)
        auth = {"Authorization": f"Bearer {v.create_api_key('bench', ['validate'])}"}
        v.close()
        otps = [TOTP(secret) for secret in secrets]
        for home in homes[1:]:
            home.mkdir(mode=0o700)
            shutil.copy2(homes[0] / "master.key", home / "master.key")
        print(f"{args.tokens} tokens enrolled in {time.monotonic() - started:.0f} s")

        relay_port = stack.enter_context(latency_relay(server, args.delay_ms))
        relayed = sa.make_url(url).set(port=relay_port).render_as_string(hide_password=False)
        lockout = ["--lockout-after", str(10**9)]
        nodes = [
            stack.enter_context(
                ServerProcess(["--store-url", relayed, "--data-dir", str(home)], lockout)
            )
            for home in homes
        ]
        doors = {
            count: validation_door([node.url for node in nodes[:count]], auth, tokens, otps)
            for count in NODES
        }
        sampler = LockSampler(server, database)
        stack.callback(sampler.close)

        for count, door in doors.items():  # warm up: every node's pool opened
            drive(door, 10**9, count * args.clients_per_node, 1.0)
        tallies = {count: Tally() for count in NODES}
        for _ in range(args.rounds):
            for count, door in doors.items():
                sampler.tally = tallies[count]
                idle_before, total_before = cpu_ticks()
                sent, seconds = drive(
                    door, 10**9, count * args.clients_per_node, args.round_seconds
                )
                idle_after, total_after = cpu_ticks()
                tallies[count].cpu_idle += idle_after - idle_before
                tallies[count].cpu_total += total_after - total_before
                sampler.tally = None
                tallies[count].validations += sent
                tallies[count].seconds += seconds
        load = Path("/proc/loadavg").read_text().split()[:3]

    print(
        f"relay {args.delay_ms:g} ms each way, {args.clients_per_node} clients per node, "
        f"{args.rounds} rounds of {args.round_seconds:g} s per setting, alternating"
    )
    print(f"load average (/proc/loadavg) at the end: {' '.join(load)} on {os.cpu_count()} cores")
    rates = {count: t.validations / t.seconds for count, t in tallies.items()}
    for count, t in tallies.items():
        share = t.waiting / t.in_flight if t.in_flight else 0.0
        print(
            f"nodes={count}: {rates[count]:6.1f} validations/s, "
            f"in flight in the database {t.in_flight / max(t.samples, 1):4.1f} on average, "
            f"waiting on a lock {share:5.1%} (goal < {TARGET_LOCK_SHARE:.0%}), "
            f"machine CPU idle {t.cpu_idle / max(t.cpu_total, 1):4.0%}"
        )
    print(f"goal: nodes=4 ratio >= {TARGET_RATIO}")
    print(f"nodes=2 ratio={rates[2] / rates[1]:.2f}")
    print(f"nodes=4 ratio={rates[4] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
