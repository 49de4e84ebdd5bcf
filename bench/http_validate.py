"""HTTP throughput: POST /v1/validate against the same server's GET /healthz, in one run.

Starts `baoling verifier serve` on 127.0.0.1 with a fresh SQLite data folder (with
--postgres: a throwaway PostgreSQL 15 of tests/fixtures_postgres.py), enrols TOKENS tokens,
and drives it with a bounded load generator (a fixed number of requests, a time limit,
CONCURRENCY keep-alive connections). Every validation sends a wrong code, so each one is a
full check plus a persisted failure count and audit row; the lockout threshold is raised so no
token locks mid-run. Prints both rates, their p99 latency and, last, their ratio (target:
validate >= 60% of healthz on SQLite, 50% on PostgreSQL). The figures and these commands are
in docs/performance.md:

    .venv/bin/python bench/http_validate.py
    .venv/bin/python bench/http_validate.py --postgres
    .venv/bin/python bench/http_validate.py --postgres --events
    .venv/bin/python bench/http_validate.py --postgres --events --accept

--events adds a webhook channel that takes every event type (validation.accepted too; delivery
off, so the events stay in the outbox); --accept sends right codes instead, each client those
of its own HOTP token in counter order, so every validation is an accept (and, with --events,
writes its validation.accepted event).
"""

import argparse
import base64
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baoling.host_tools.verifier_process import ServerProcess  # noqa: E402
from baoling.verifier.otp import HOTP  # noqa: E402
from baoling.verifier.service import Verifier  # noqa: E402
from bench.load import WARM_UP_REQUESTS, Door, Send, alternate  # noqa: E402
from tests.fixtures_postgres import running_postgres  # noqa: E402

TARGET_RATIO = {"SQLite": 0.60, "PostgreSQL": 0.50}
Request = Callable[[httpx.Client, int, int], httpx.Response]  # client, client number, i


def http_door(url: str, request: Request, seconds: list[float] | None = None) -> Door:
    """Each client a keep-alive connection; any answer but 200 fails the run. Each request's
    time is appended to `seconds` if given."""

    @contextmanager
    def door(n: int) -> Iterator[Send]:
        with httpx.Client(base_url=url, timeout=10) as client:

            def send(i: int) -> None:
                started = time.perf_counter()
                response = request(client, n, i)
                if seconds is not None:
                    seconds.append(time.perf_counter() - started)
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
    parser.add_argument("--postgres", action="store_true", help="store in a new PostgreSQL")
    parser.add_argument(
        "--events",
        action="store_true",
        help="a webhook channel taking every event type, validation.accepted too (delivery off)",
    )
    parser.add_argument(
        "--accept",
        action="store_true",
        help="right codes of HOTP tokens (one per client), each an accept, not wrong codes",
    )
    args = parser.parse_args()
    store = "PostgreSQL" if args.postgres else "SQLite"

    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="baoling-bench-"))
        data = Path(tmp) / "data"
        url = stack.enter_context(running_postgres()).create_database() if args.postgres else None
        v = Verifier(url, data_dir=data)
        tokens = [f"bench-{i:04d}" for i in range(args.tokens)]
        for token in tokens:
            v.enrol(token, os.urandom(20))
        # --accept: client n sends its HOTP token's codes in counter order, across rounds.
        hotp_secrets = [os.urandom(20) for _ in range(args.concurrency)]
        hotp = [HOTP(secret) for secret in hotp_secrets]
        counters = [0] * args.concurrency
        for n, secret in enumerate(hotp_secrets):
            v.enrol(f"bench-hotp-{n}", secret, kind="hotp")
        auth = {"Authorization": f"Bearer {v.create_api_key('bench', ['validate'])}"}
        v.close()

        def healthz(client: httpx.Client, n: int, i: int) -> httpx.Response:
            return client.get("/healthz")

        def validate(client: httpx.Client, n: int, i: int) -> httpx.Response:
            if args.accept:
                body = {"token": f"bench-hotp-{n}", "code": hotp[n].code(counters[n])}
                counters[n] += 1
                response = client.post("/v1/validate", json=body, headers=auth)
                if response.status_code == 200 and response.json()["result"] != "accept":
                    raise RuntimeError(f"not accepted: {response.text}")
                return response
            token = tokens[(n * 7919 + i) % len(tokens)]
            body = {"token": token, "code": f"{(n * 100_003 + i) % 1_000_000:06d}"}
            return client.post("/v1/validate", json=body, headers=auth)

        serve_args = ["--lockout-after", str(10 * args.requests)]
        if args.events:
            hook_secret = Path(tmp) / "webhook-secret"
            hook_secret.write_text("whsec_" + base64.b64encode(os.urandom(32)).decode())
            serve_args += [
                "--events-webhook-url",
                "http://127.0.0.1:9/events",
                "--events-webhook-secret-file",
                str(hook_secret),
                "--events-validation-accepted",
                "--no-events-delivery",
            ]
        store_args = ["--data-dir", str(data)] + (["--store-url", url] if url else [])
        server = stack.enter_context(ServerProcess(store_args, serve_args))
        seconds: dict[str, list[float]] = {"GET /healthz": [], "POST /v1/validate": []}
        doors = {
            name: http_door(server.url, request, seconds[name])
            for name, request in (("GET /healthz", healthz), ("POST /v1/validate", validate))
        }
        rates = alternate(
            doors, server.process.pid, args.requests, args.concurrency, args.time_limit
        )

    (health_rps, health_cpu), (validate_rps, validate_cpu) = rates.values()
    ratio = validate_rps / health_rps
    load = " ".join(f"{average:.1f}" for average in os.getloadavg())
    print(
        f"store: {store}; load average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} cores"
    )
    for name, (rps, cpu) in rates.items():
        # The warm-up's requests come first in each list: leave them out.
        measured = sorted(seconds[name][WARM_UP_REQUESTS:])
        p99 = measured[int(0.99 * (len(measured) - 1))]
        print(
            f"{name:<18} {rps:6.0f} requests/s, {cpu * 1000:5.2f} ms of server CPU each, "
            f"p99 {p99 * 1000:6.1f} ms at c={args.concurrency}"
        )
    if args.accept:
        print("(validate: right codes of one HOTP token per client, each accept persisted)")
    else:
        print("(validate: wrong codes spread over the tokens, each failure persisted)")
    if args.events:
        print("(a webhook channel takes every event type, validation.accepted too)")
    print(f"server CPU per request healthz/validate: {health_cpu / validate_cpu:.2f}")
    print(f"ratio validate/healthz: {ratio:.2f} (target >= {TARGET_RATIO[store]:.2f} on {store})")


if __name__ == "__main__":
    main()
