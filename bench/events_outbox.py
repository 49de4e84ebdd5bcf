"""What the events outbox costs a validation: accepted codes with no event recorded against the
same with `validation.accepted` on (one more INSERT in the validation's transaction), in one
run, alternating in ROUNDS rounds so the machine's other load hits both alike. Delivery is not
measured: it runs in another thread, off the request path (docs/events.md).

Prints the median time of one accepted validation per mode and the ratio.

    .venv/bin/python bench/events_outbox.py
"""

import base64
import statistics
import tempfile
import time
from collections.abc import Collection
from pathlib import Path

import pyotp

from baoling.verifier import Verifier
from baoling.verifier.events import EVENT_TYPES

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ROUNDS = 4
PER_ROUND = 300
START = 1_800_000_000  # any time: each validation is 30 s after the one before, so each accepts


def median_ms(event_types: Collection[str]) -> float:
    """The median time of PER_ROUND accepted validations in a fresh SQLite store."""
    verifier = Verifier(data_dir=Path(tempfile.mkdtemp()), event_types=event_types)
    try:
        verifier.enrol("bench", base64.b32decode(SECRET))
        totp = pyotp.TOTP(SECRET)
        times = []
        for n in range(PER_ROUND):
            now = START + 30 * n
            code = totp.at(now)
            started = time.perf_counter()
            assert verifier.validate("bench", code, now)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1e3
    finally:
        verifier.close()


def main() -> None:
    without, with_event = [], []
    for _ in range(ROUNDS):
        without.append(median_ms(()))
        with_event.append(median_ms(frozenset(EVENT_TYPES)))
    off, on = statistics.median(without), statistics.median(with_event)
    print(f"no events recorded:          {off:.2f} ms per accepted validation")
    print(f"validation.accepted recorded: {on:.2f} ms per accepted validation")
    print(f"ratio: {on / off:.2f}")


if __name__ == "__main__":
    main()
