"""SIGTERM stops a long-running command as Ctrl-C does, and its clean-up always runs to the end.

`kill PID`, systemd and container runtimes send SIGTERM; a terminal sends SIGINT to its whole
foreground process group. `baoling sim run` and `baoling demo` take both as one request to
stop. Inside `StopSignals.interruptible()` the first one raises KeyboardInterrupt, so the `with`
blocks around it unwind and stop their processes and remove their folders; outside it (while
starting up or cleaning up) a signal is only noted, and the next `interruptible()` raises at
once. Only one KeyboardInterrupt is ever raised, so a second Ctrl-C cannot cut a clean-up short.
A SIGINT ignored by whoever started the process (`cmd &` in a script) stays ignored, as Python's
own handler leaves it (docs/demo.md, Stopping).
"""

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Catches SIGTERM and SIGINT while entered; see the module docstring."""

    def __init__(self) -> None:
        self.received: int | None = None  # the first stop signal, once one came
        self._raising = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopSignals":
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            if self._raising:
                raise KeyboardInterrupt

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A block a stop signal ends with KeyboardInterrupt (at once, if one came already)."""
        self._raising = True  # first: a signal from here on raises, one before it was noted
        try:
            if self.received is not None:
                raise KeyboardInterrupt
            yield
        finally:
            self._raising = False
