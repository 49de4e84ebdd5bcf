"""Clock arithmetic for syncing a token: NTP-style offset and the drift between two syncs.

Pure: every host time is an argument (unix ms), so tests need no clock patching. The link code
reads the host clock around each exchange and calls these.

One exchange gives host send time t0, the device's time d and host receive time t1. Assuming
the two legs take equally long, the device read its clock at (t0 + t1) / 2, so its offset is
d - (t0 + t1) / 2, known to within half the round trip. A later exchange against the device's
time of its previous sync (`synced_ms`) gives the clock's rate since then; it is written as a
drift correction only when the elapsed time makes it precise (MAX_DRIFT_UNCERTAINTY_PPM) and it
differs from the correction in force by more than that uncertainty.
"""

from dataclasses import dataclass

SYNC_UNCERTAINTY_MS = 50.0  # how far a previous sync may have been off: the sync's target bound
MAX_DRIFT_UNCERTAINTY_PPM = 2.0  # below a DS3231's rate error: finer is noise, coarser is worse
MAX_DRIFT_PPM = 500.0  # far beyond any crystal: such a "drift" means the clock was moved
# Sooner after the previous sync no drift is precise (its error alone is SYNC_UNCERTAINTY_MS).
MIN_DRIFT_BASELINE_S = SYNC_UNCERTAINTY_MS / MAX_DRIFT_UNCERTAINTY_PPM * 1000  # about 7 h


@dataclass(frozen=True)
class Exchange:
    """One time reading: host clock when the request left, device time, host clock on answer."""

    host_sent_ms: float
    device_ms: float
    host_received_ms: float

    @property
    def round_trip_ms(self) -> float:
        return self.host_received_ms - self.host_sent_ms

    @property
    def offset_ms(self) -> float:
        """How far the device is ahead of the host (negative: behind)."""
        return self.device_ms - (self.host_sent_ms + self.host_received_ms) / 2

    @property
    def uncertainty_ms(self) -> float:
        """The offset is exact to within half the round trip, whatever the legs' asymmetry."""
        return self.round_trip_ms / 2


@dataclass(frozen=True)
class Drift:
    """A measured clock rate: `ppm` > 0 means the device's raw clock runs fast."""

    ppm: float
    uncertainty_ppm: float
    elapsed_s: float

    @property
    def precise(self) -> bool:
        """Measured over long enough to mean something: to MAX_DRIFT_UNCERTAINTY_PPM or better.
        A rate from syncs seconds apart is noise, neither written nor reported."""
        return self.uncertainty_ppm <= MAX_DRIFT_UNCERTAINTY_PPM


def time_to_send(host_now_ms: float, round_trip_ms: float) -> int:
    """The time a time.set should carry: when it will arrive, half a round trip from now."""
    return round(host_now_ms + round_trip_ms / 2)


def measure_drift(exchange: Exchange, synced_ms: float, drift_in_force_ppm: float) -> Drift:
    """The device's raw clock rate since its last sync at `synced_ms` (docs/protocol.md).

    The device reports corrected time; undoing the correction in force gives how far its raw
    clock ran (R), against how far true time ran (E, the host's midpoint minus `synced_ms`).
    """
    elapsed_ms = exchange.device_ms - exchange.offset_ms - synced_ms
    if elapsed_ms <= 0:
        return Drift(drift_in_force_ppm, float("inf"), 0.0)
    raw_ms = (exchange.device_ms - synced_ms) * (1 + drift_in_force_ppm / 1e6)
    uncertainty_ppm = (exchange.uncertainty_ms + SYNC_UNCERTAINTY_MS) / elapsed_ms * 1e6
    return Drift((raw_ms / elapsed_ms - 1) * 1e6, uncertainty_ppm, elapsed_ms / 1000)


def worth_writing(drift: Drift, drift_in_force_ppm: float) -> bool:
    """Whether a measured drift should replace the correction in force.

    Only when it is precise, plausible for a crystal, and differs from the correction in force
    by more than its own uncertainty (otherwise each sync would just add noise).
    """
    return (
        drift.precise
        and abs(drift.ppm) <= MAX_DRIFT_PPM
        and abs(drift.ppm - drift_in_force_ppm) > drift.uncertainty_ppm
    )
