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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baoling.host_tools.verifier_process import ServerProcess  # noqa: E402
from baoling.verifier.service import Verifier  # noqa: E402
from bench.load import Door, Send, alternate  # noqa: E402

TARGET_RATIO = 0.60
Request = Callable[[httpx.Client, int, int], httpx.Response]  # client, client number, i


def http_door(url: str, request: Request) -> Door:
    """Each client a keep-alive connection; any answer but 200 fails the run."""

    @contextmanager
    def door(n: int) -> Iterator[Send]:
        with httpx.Client(base_url=url, timeout=10) as client:

            def send(i: int) -> None:
                response = request(client, n, i)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code} {response.text}")

            yield send

    return door


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
            doors = {
                name: http_door(server.url, request)
                for name, request in (("GET /healthz", healthz), ("POST /v1/validate", validate))
            }
            rates = alternate(
                doors, server.process.pid, args.requests, args.concurrency, args.time_limit
            )

    (health_rps, health_cpu), (validate_rps, validate_cpu) = rates.values()
    ratio = validate_rps / health_rps
    load = os.getloadavg()[0]
    print(f"machine load average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores")
    for name, (rps, cpu) in rates.items():
        print(f"{name:<18} {rps:6.0f} requests/s, {cpu * 1000:5.2f} ms of server CPU each")
    print("(validate: wrong codes spread over the tokens, each failure persisted)")
    print(
        f"ratio validate/healthz: {ratio:.0%} (target >= {TARGET_RATIO:.0%}); "
        f"server CPU per request healthz/validate: {health_cpu / validate_cpu:.0%}"
    )


if __name__ == "__main__":
    main()
