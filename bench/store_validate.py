"""What a validation costs in the verifier's SQLite store, against a read and a durable write.

Three operations through the Python API on one token, in one run, on a fresh SQLite file:
- validate: a wrong code (engine check, failure counted in SQL, audit row), its commit
  flushed to disk before it returns, as shipped (verifier/store.py);
- unlock: an admin write of the same shape (one UPDATE, one audit row), flushed the same way,
  i.e. what the store costs a validation without the engine's work;
- show: a read-only transaction, the floor of a round trip through the store.
Prints operations per second and the ratios. Usage: .venv/bin/python bench/store_validate.py
"""

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from baoling.verifier import Verifier
from baoling.verifier.engine import Policy

SECONDS_PER_OPERATION = 2.0


def rate(operation: Callable[[], object]) -> float:
    """Operations per second over about SECONDS_PER_OPERATION of wall time."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < SECONDS_PER_OPERATION:
        operation()
        count += 1
    return count / elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        # Never lock: every wrong code stays a counted failure, as under a guessing attack.
        v = Verifier(data_dir=Path(folder), policy=Policy(lockout_after_fails=10**9))
        v.enrol("bench", b"12345678901234567890")
        wrong = "000000" if v.check("bench", "000000").reason == "wrong_code" else "111111"
        rates = {
            "validate (wrong code, durable)": rate(lambda: v.validate("bench", wrong)),
            "unlock (durable write, fsync)": rate(lambda: v.unlock("bench")),
            "show (read only)": rate(lambda: v.show("bench")),
        }
        v.close()
    for name, value in rates.items():
        print(f"  {name:36} {value:9,.0f}/s")
    validate, durable, read = rates.values()
    print(f"validate / durable write     {validate / durable:6.1f}x")
    print(f"validate / read              {validate / read:6.2f}x")


if __name__ == "__main__":
    main()
