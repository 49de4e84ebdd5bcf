# The token's clock: UTC milliseconds, whether they can be trusted, and the drift correction.
# A code shown from a wrong clock is worse than none, so the clock is trusted only when set
# since power-up or restored from a battery-backed RTC that kept running, and never when it
# reads a time before this firmware was built (an rp2 boots at 2021-01-01).
from micropython import const

BUILD_MS = const(1793491200000)  # 2026-11-01T00:00:00Z: firmware build date (docs/protocol.md)
END_MS = const(4102444800000)  # 2100-01-01T00:00:00Z: first time refused by time.set
_PPB = const(1000000000)


def corrected(ms, synced_ms, drift_ppb):
    """The time the OTP uses at the board's raw time ms: time since the last sync scaled back
    by the clock's rate error.

    drift_ppb > 0 means the board's clock runs fast; raw time since the sync is then longer
    than true time by the factor (1 + drift_ppb / 1e9). Integers only: no float rounding.
    """
    if synced_ms is None or not drift_ppb:
        return ms
    return synced_ms + (ms - synced_ms) * _PPB // (_PPB + drift_ppb)


class Clock:
    """The board's running clock (hw.now_ms), its optional RTC, and the stored correction."""

    def __init__(self, hw, drift_ppb=0, synced_ms=None):
        self.hw = hw
        self.drift_ppb = drift_ppb
        self.synced_ms = synced_ms
        self._set = False

    def restore(self):
        """At start-up: take the time from a battery-backed RTC that did not lose it."""
        rtc = self.hw.rtc
        if rtc is None:
            return
        ms = rtc.read_ms()
        if ms is not None and BUILD_MS <= ms < END_MS:
            self.hw.set_now_ms(ms)
            self._set = True

    def trusted(self):
        """Set since power-up (or restored from a good RTC) and not before the build date."""
        return self._set and BUILD_MS <= self.hw.now_ms() < END_MS

    def now_ms(self):
        """Corrected UTC milliseconds."""
        return corrected(self.hw.now_ms(), self.synced_ms, self.drift_ppb)

    def now_with(self, drift_ppb):
        """What now_ms() would say with another drift correction."""
        return corrected(self.hw.now_ms(), self.synced_ms, drift_ppb)

    def set(self, ms):
        """Set the running clock and the RTC; this time becomes the new sync point."""
        self.hw.set_now_ms(ms)
        rtc = self.hw.rtc
        if rtc is not None:
            rtc.write_ms(ms)
        self.synced_ms = ms
        self._set = True

    def describe(self):
        """The time object of docs/protocol.md."""
        ppb = self.drift_ppb
        return {
            "time_ms": self.now_ms(),
            "trusted": self.trusted(),
            "drift_ppm": ppb // 1000 if ppb % 1000 == 0 else ppb / 1000,
            "synced_ms": self.synced_ms,
        }
