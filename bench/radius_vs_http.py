"""RADIUS Access-Requests/s against HTTP POST /v1/validate requests/s: one server, one store,
one run.

Starts `baoling verifier serve --radius` on 127.0.0.1 with a fresh SQLite data folder, enrols
TOKENS tokens, and alternates short rounds of the two doors (so a change in the machine's
other load hits both alike), each with CONCURRENCY clients and a bounded number of requests.
Every request sends a wrong code for one of the tokens, so each one is a full check plus a
persisted failure count and audit row through either door; the lockout threshold is raised
so no token locks mid-run. RADIUS requests are PAP with a Message-Authenticator (pyrad's
client, which also checks each answer's). Prints both rates, the server CPU each request
costs, and last the ratio (the issue's aim: a RADIUS validation costs no more than an HTTP
one). The figures and this command are in docs/performance.md:

    .venv/bin/python bench/radius_vs_http.py
"""

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from pyrad import packet
from pyrad.client import Client
from pyrad.dictionary import Dictionary

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baoling.host_tools.verifier_process import ServerProcess  # noqa: E402
from baoling.verifier.radius import DICTIONARY_PATH  # noqa: E402
from baoling.verifier.service import Verifier  # noqa: E402
from bench.load import Send, alternate  # noqa: E402

SHARED_SECRET = b"bench shared secret"


def wrong_code(n: int, i: int) -> str:
    """A code spread over the space; wrong unless it hits the token's by chance (1 in 10^6)."""
    return f"{(n * 100_003 + i) % 1_000_000:06d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per door")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per door")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="baoling-bench-") as tmp:
        data = Path(tmp) / "data"
        v = Verifier(data_dir=data)
        tokens = [f"bench-{i:04d}" for i in range(args.tokens)]
        for token in tokens:
            v.enrol(token, os.urandom(20))
        auth = {"Authorization": f"Bearer {v.create_api_key('bench', ['validate'])}"}
        v.close()
        config = Path(tmp) / "radius.toml"
        config.write_text(f'port = 0\n[clients."127.0.0.1"]\nsecret = "{SHARED_SECRET.decode()}"\n')
        dictionary = Dictionary(str(DICTIONARY_PATH))

        def token_for(n: int, i: int) -> str:
            return tokens[(n * 7919 + i) % len(tokens)]

        lockout = str(10 * args.requests)
        serve = ["--lockout-after", lockout, "--radius", "--radius-config", str(config)]
        with ServerProcess(["--data-dir", str(data)], serve) as server:
            assert server.radius_port is not None  # --radius prints its port

            @contextmanager
            def http_sender(n: int) -> Iterator[Send]:
                with httpx.Client(base_url=server.url, timeout=10) as client:

                    def send(i: int) -> None:
                        body = {"token": token_for(n, i), "code": wrong_code(n, i)}
                        response = client.post("/v1/validate", json=body, headers=auth)
                        if response.status_code != 200 or response.json()["result"] != "reject":
                            raise RuntimeError(f"{response.status_code} {response.text}")

                    yield send

            @contextmanager
            def radius_sender(n: int) -> Iterator[Send]:
                client = Client(
                    server="127.0.0.1",
                    authport=server.radius_port,
                    secret=SHARED_SECRET,
                    dict=dictionary,
                )
                client.timeout, client.retries = 10, 1  # a lost answer fails the run

                def send(i: int) -> None:
                    request = client.CreateAuthPacket(
                        code=packet.AccessRequest, User_Name=token_for(n, i)
                    )
                    request["User-Password"] = request.PwCrypt(wrong_code(n, i))
                    reply = client.SendPacket(request)
                    if reply.code != packet.AccessReject:
                        raise RuntimeError(f"RADIUS code {reply.code}")

                try:
                    yield send
                finally:
                    client._CloseSocket()  # pyrad's client has no public close

            doors = {"HTTP POST /v1/validate": http_sender, "RADIUS Access-Request": radius_sender}
            rates = alternate(
                doors, server.process.pid, args.requests, args.concurrency, args.time_limit
            )

    (http_rps, http_cpu), (radius_rps, radius_cpu) = rates.values()
    load = os.getloadavg()[0]
    print(f"machine load average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores")
    for name, (rps, cpu) in rates.items():
        print(f"{name:<23} {rps:6.0f} requests/s, {cpu * 1000:5.2f} ms of server CPU each")
    print("(both: wrong codes spread over the tokens, each failure persisted and audited)")
    print(
        f"ratio RADIUS/HTTP requests/s: {radius_rps / http_rps:.0%}; "
        f"server CPU per request RADIUS/HTTP: {radius_cpu / http_cpu:.0%}"
    )


if __name__ == "__main__":
    main()
