"""A time limit for a request's head (request line and headers), which uvicorn lacks.

uvicorn starts no timer when a connection opens and stops its keep-alive timer at the first
byte of the next request, so a client that sends its headers a byte at a time (slowloris)
holds a connection, and a file descriptor, for as long as it likes. With this protocol every
request head must be complete within `timeout_s` of its first byte (of the connection's opening
for the first request); else the server answers 408 and closes the connection. The body has
its own limit (middleware.LimitBody); docs/operations.md says what a reverse proxy adds.
"""

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from baoling.verifier.http.middleware import UNMATCHED, Metrics, answered

# The method label of a request whose head never came whole: its method is not known.
NO_METHOD = "-"


class HeadTimeout(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head (`header_protocol`)."""

    timeout_s = 10.0
    metrics: Metrics  # the app's series, where the 408s are counted (header_protocol)
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # a head begun, not complete yet
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        """Start the head's timer unless it runs already: it counts from the head's start."""
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.timeout_s, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        body = json.dumps(
            {
                "error": "header_timeout",
                "message": f"The request headers took longer than {self.timeout_s:g} s to arrive.",
            }
        ).encode()
        head = (
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
        answered(self.metrics, NO_METHOD, UNMATCHED, 408, self.timeout_s)


def header_protocol(timeout_s: float, metrics: Metrics) -> type[HeadTimeout]:
    """The protocol class for uvicorn's `http` setting, with request heads cut at `timeout_s`
    and the 408s counted, timed and logged as the app's answers are (middleware.answered)."""
    return type("HeadTimeout", (HeadTimeout,), {"timeout_s": timeout_s, "metrics": metrics})
