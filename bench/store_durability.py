"""What durable validations cost: the store as shipped (every commit flushed before the answer)
against the same validations committed without waiting for the flush, in one run.

Each of THREADS threads sends wrong codes to a token of its own through the Python API (engine
check, failure counted in SQL, audit row), so every validation is a write. The two modes
alternate in ROUNDS rounds, so a change in the machine's other load hits both alike:
- durable: as shipped (verifier/store.py: SQLite `synchronous=FULL`, PostgreSQL
  `synchronous_commit=on`);
- no flush: what validations did before, added here by a listener on every transaction
  (SQLite `synchronous=NORMAL`, PostgreSQL `SET LOCAL synchronous_commit TO OFF`); a crash
  loses its last commits (docs/threat-model.md).
Prints validations per second per mode (the median round) and the ratio last. Measure on a
server with `fsync=on`: without it nothing is flushed and both modes cost the same.

    .venv/bin/python bench/store_durability.py [--store-url postgresql+psycopg://...]
"""

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from baoling.verifier import Verifier
from baoling.verifier.engine import Policy

THREADS = 8
ROUNDS = 3
SECONDS_PER_ROUND = 3.0
SECRET = bytes(range(1, 21))
NO_FLUSH = threading.Event()  # set: transactions commit without waiting for the flush


@sa.event.listens_for(Engine, "begin")
def _maybe_no_flush(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":  # a connection's setting: set it either way
        conn.exec_driver_sql(f"PRAGMA synchronous={'NORMAL' if NO_FLUSH.is_set() else 'FULL'}")
    elif NO_FLUSH.is_set():
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


def round_rate(verifier: Verifier, wrong: str) -> float:
    """Validations per second of THREADS threads over SECONDS_PER_ROUND."""
    counts = [0] * THREADS
    deadline = time.monotonic() + SECONDS_PER_ROUND

    def work(n: int) -> None:
        while time.monotonic() < deadline:
            verifier.check(f"bench{n}", wrong)
            counts[n] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--store-url", help="an empty PostgreSQL database's URL (default: a new SQLite file)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        # Never lock: every wrong code stays a counted failure, as under a guessing attack.
        v = Verifier(
            args.store_url, data_dir=Path(folder), policy=Policy(lockout_after_fails=10**9)
        )
        for n in range(THREADS):
            v.enrol(f"bench{n}", SECRET)
        wrong = "000000" if v.check("bench0", "000000").reason == "wrong_code" else "111111"
        rates: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(ROUNDS):
            for no_flush in (False, True):
                if no_flush:
                    NO_FLUSH.set()
                else:
                    NO_FLUSH.clear()
                rates[no_flush].append(round_rate(v, wrong))
        NO_FLUSH.clear()
        for n in range(THREADS):
            v.delete(f"bench{n}")
        v.close()
    durable, no_flush = (statistics.median(rates[mode]) for mode in (False, True))
    print(f"  store: {'PostgreSQL' if args.store_url else 'SQLite'}, {THREADS} threads")
    print(f"  durable (as shipped)     {durable:9,.0f}/s")
    print(f"  no flush (before)        {no_flush:9,.0f}/s")
    print(f"durable / no flush         {durable / no_flush:6.2f}")


if __name__ == "__main__":
    main()
