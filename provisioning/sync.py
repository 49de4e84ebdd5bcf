"""Setting a token's clock from the host's: round-trip compensated, with drift learned on the way.

Steps (docs/protocol.md, time.get): read the time and the round trip; if the clock is trusted
and was synced before, measure the drift since then; set the time (half a round trip ahead,
less the device's lag seen in earlier rounds); read it again; write the drift when it is worth
it (provisioning.timesync). A locked token needs its admin key for both writes.
"""

from collections.abc import Callable
from dataclasses import dataclass

from baoling.provisioning.timesync import Drift, measure_drift, time_to_send, worth_writing
from baoling.provisioning.token import HostClock, TimeReading, Token, system_clock_ms

GUARDED_JUMP_MS = 300_000  # after lock a bigger change needs the token's button
SAMPLES = 4  # time.get exchanges per reading; the shortest round trip is kept
TARGET_MS = 10.0  # good enough: a code changes every 30 s
MAX_ROUNDS = 3  # time.set attempts, each correcting the lag the previous one showed


@dataclass(frozen=True)
class SyncReport:
    """What a sync found and did; offsets are device minus host, in ms."""

    offset_before_ms: float
    offset_after_ms: float
    round_trip_ms: float
    drift: Drift | None
    drift_written: bool
    drift_ppm: float

    def as_json(self) -> dict:
        return {
            "offset_before_ms": round(self.offset_before_ms, 1),
            "offset_after_ms": round(self.offset_after_ms, 1),
            "round_trip_ms": round(self.round_trip_ms, 1),
            "drift_measured_ppm": None if self.drift is None else round(self.drift.ppm, 3),
            "drift_written": self.drift_written,
            "drift_ppm": self.drift_ppm,
        }


def needs_button(token: Token, offset_ms: float, trusted: bool) -> bool:
    """Whether a locked token will wait for its button before taking the new time."""
    return token.locked and (not trusted or abs(offset_ms) > GUARDED_JUMP_MS)


def best_reading(token: Token, clock: HostClock, samples: int = SAMPLES) -> TimeReading:
    """The reading with the shortest round trip of a few: the least room for delay (NTP's
    clock filter does the same)."""
    readings = [token.read_time(clock) for _ in range(samples)]
    return min(readings, key=lambda reading: reading.exchange.round_trip_ms)


def sync_time(
    token: Token,
    *,
    admin_key: bytes | None = None,
    clock: HostClock = system_clock_ms,
    on_button: Callable[[], None] = lambda: None,
) -> SyncReport:
    """Set `token`'s clock to `clock`'s time and learn its drift; `on_button` is called first
    when the token will wait for a press (tell the person).

    Half a round trip assumes both legs take equally long; the device also spends time between
    reading the line and setting its clock. The offset measured after a set shows that lag, so
    up to MAX_ROUNDS sets each take away the lag seen so far, until the offset is within
    TARGET_MS.
    """
    before = best_reading(token, clock)
    drift = None
    if before.trusted and before.synced_ms is not None:
        drift = measure_drift(before.exchange, before.synced_ms, before.drift_ppm)
    if needs_button(token, before.exchange.offset_ms, before.trusted):
        on_button()
    round_trip = before.exchange.round_trip_ms
    lag_ms = 0.0
    for _ in range(MAX_ROUNDS):

        def send_at(lag: float = lag_ms) -> int:
            return time_to_send(clock() - lag, round_trip)

        token.set_time(send_at, admin_key)
        after = best_reading(token, clock)
        if abs(after.exchange.offset_ms) <= TARGET_MS:
            break
        lag_ms += after.exchange.offset_ms
    drift_in_force = after.drift_ppm
    written = drift is not None and worth_writing(drift, before.drift_ppm)
    if written and drift is not None:
        drift_in_force = float(token.set_drift(drift.ppm, admin_key)["drift_ppm"])
    return SyncReport(
        before.exchange.offset_ms,
        after.exchange.offset_ms,
        round_trip,
        drift,
        written,
        drift_in_force,
    )
