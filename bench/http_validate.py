"""HTTP throughput: POST /v1/validate against the same server's GET /healthz, in one run.

Starts `baoling verifier serve` on 127.0.0.1 with a fresh SQLite data folder, enrols TOKENS
tokens, and drives it with a bounded load generator (a fixed number of requests, a time
limit, CONCURRENCY keep-alive connections). Every validation sends a wrong code, so each one
is a full check plus a persisted failure count and audit row; the lockout threshold is raised
so no token locks mid-run. Prints both rates and their ratio (target: validate >= 60% of
healthz). The figures and this command are in docs/performance.md:

    .venv/bin/python bench/http_validate.py
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baoling.host_tools.verifier_process import ServerProcess  # noqa: E402
from baoling.verifier.service import Verifier  # noqa: E402

TARGET_RATIO = 0.60
ROUNDS = 6


def drive(
    url: str, make_request, total: int, concurrency: int, limit_s: float
) -> tuple[int, float]:
    """Send `total` requests over `concurrency` connections, or stop at `limit_s`;
    returns (requests answered, seconds)."""
    sent = 0
    lock = threading.Lock()
    deadline = time.monotonic() + limit_s
    failures: list[str] = []

    def worker(n: int) -> None:
        nonlocal sent
        with httpx.Client(base_url=url, timeout=10) as client:
            i = 0
            while time.monotonic() < deadline:
                with lock:
                    if sent >= total:
                        return
                    sent += 1
                response = make_request(client, n, i)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per endpoint")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per endpoint")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="baoling-bench-") as tmp:
        data = Path(tmp) / "data"
        v = Verifier(data_dir=data)
        tokens = [f"bench-{i:04d}" for i in range(args.tokens)]
        for token in tokens:
            v.enrol(token, os.urandom(20))
        auth = {"Authorization": f"Bearer {v.create_api_key('bench', ['validate'])}"}
        v.close()

        def healthz(client: httpx.Client, n: int, i: int) -> httpx.Response:
            return client.get("/healthz")

        def validate(client: httpx.Client, n: int, i: int) -> httpx.Response:
            token = tokens[(n * 7919 + i) % len(tokens)]
            body = {"token": token, "code": f"{(n * 100_003 + i) % 1_000_000:06d}"}
            return client.post("/v1/validate", json=body, headers=auth)

        lockout = str(10 * args.requests)
        with ServerProcess(["--data-dir", str(data)], ["--lockout-after", lockout]) as server:
            drive(server.url, healthz, 200, args.concurrency, args.time_limit)  # warm up
            # Alternate short rounds, so a change in the machine's other load hits both alike.
            per_round = args.requests // ROUNDS
            limit = args.time_limit / ROUNDS
            pid = server.process.pid
            totals = {healthz: [0, 0.0, 0.0], validate: [0, 0.0, 0.0]}  # sent, s, server CPU s
            for _ in range(ROUNDS):
                for endpoint, total in totals.items():
                    cpu_before = cpu_seconds(pid)
                    sent, seconds = drive(server.url, endpoint, per_round, args.concurrency, limit)
                    total[0] += sent
                    total[1] += seconds
                    total[2] += cpu_seconds(pid) - cpu_before
            health_rps, validate_rps = (sent / s for sent, s, _ in totals.values())
            health_cpu, validate_cpu = (cpu / sent for sent, _, cpu in totals.values())

    ratio = validate_rps / health_rps
    load = os.getloadavg()[0]
    print(f"machine load average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores")
    for name, rps, cpu in (
        ("GET /healthz", health_rps, health_cpu),
        ("POST /v1/validate", validate_rps, validate_cpu),
    ):
        print(f"{name:<18} {rps:6.0f} requests/s, {cpu * 1000:5.2f} ms of server CPU each")
    print("(validate: wrong codes spread over the tokens, each failure persisted)")
    print(
        f"ratio validate/healthz: {ratio:.0%} (target >= {TARGET_RATIO:.0%}); "
        f"server CPU per request healthz/validate: {health_cpu / validate_cpu:.0%}"
    )


if __name__ == "__main__":
    main()
