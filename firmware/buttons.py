# The token's button, polled every few tens of milliseconds: a press shorter than _LONG_MS
# is SHORT (next profile, or wake the display); holding it _LONG_MS gives LONG at once
# (confirms a wipe or a big clock change), and its release gives nothing more. A level must
# be read twice in a row to count, which debounces a mechanical switch.
import time

from micropython import const

SHORT = const(1)
LONG = const(2)
_LONG_MS = const(1000)  # docs/protocol.md: "long press = held at least 1 s"


class Button:
    """Turns hw.button.value() samples into SHORT and LONG events."""

    def __init__(self, pin):
        self.pin = pin
        self._last = 0
        self._since = None  # ticks_ms when the press began; None while the button is up
        self._long = False

    def idle(self):
        """Up, and seen up: nothing a light sleep could cut short (app.py's doze)."""
        return self._since is None and not self._last

    def poll(self, now_ms=None):
        """Sample once; return SHORT, LONG or 0. now_ms: time.ticks_ms() (given by tests)."""
        now = time.ticks_ms() if now_ms is None else now_ms
        level = 1 if self.pin.value() else 0
        if level != self._last:
            self._last = level
            return 0
        if level and self._since is None:
            self._since = now
            self._long = False
        elif level and not self._long and time.ticks_diff(now, self._since) >= _LONG_MS:
            self._long = True
            return LONG
        elif not level and self._since is not None:
            self._since = None
            if not self._long:
                return SHORT
        return 0
