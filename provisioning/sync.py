"""Setting a token's clock from the host's: round-trip compensated, with drift learned on the way.

Steps (docs/protocol.md, time.get): read the time and the round trip; if the clock is trusted
and was synced before, measure the drift since then; set the time (half a round trip ahead);
write the drift when it is worth it (provisioning.timesync); read the time again to report the
offset left. A locked token needs its admin key for both writes.
"""

from collections.abc import Callable
from dataclasses import dataclass

from provisioning.timesync import Drift, measure_drift, time_to_send, worth_writing
from provisioning.token import HostClock, Token, system_clock_ms

GUARDED_JUMP_MS = 300_000  # after lock a bigger change needs the token's button


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


def sync_time(
    token: Token,
    *,
    admin_key: bytes | None = None,
    clock: HostClock = system_clock_ms,
    on_button: Callable[[], None] = lambda: None,
) -> SyncReport:
    """Set `token`'s clock to `clock`'s time and learn its drift; `on_button` is called first
    when the token will wait for a press (tell the person)."""
    before = token.read_time(clock)
    drift = None
    if before.trusted and before.synced_ms is not None:
        drift = measure_drift(before.exchange, before.synced_ms, before.drift_ppm)
    if needs_button(token, before.exchange.offset_ms, before.trusted):
        on_button()
    round_trip = before.exchange.round_trip_ms
    token.set_time(lambda: time_to_send(clock(), round_trip), admin_key)
    written = drift is not None and worth_writing(drift, before.drift_ppm)
    if written:
        token.set_drift(drift.ppm, admin_key)
    after = token.read_time(clock)
    return SyncReport(
        before.exchange.offset_ms,
        after.exchange.offset_ms,
        round_trip,
        drift,
        written,
        after.drift_ppm,
    )
