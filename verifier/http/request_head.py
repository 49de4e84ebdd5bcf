"""Limits on a request's head (request line and headers): its time and its size.

The server speaks HTTP through uvicorn's httptools protocol (llhttp, in C): h11, in Python, was
about a third of the event loop's time under validations (docs/performance.md). uvicorn lacks
both limits there:
- it starts no timer when a connection opens and stops its keep-alive timer at the first byte
  of the next request, so a client that sends its headers a byte at a time (slowloris) holds a
  connection, and a file descriptor, for as long as it likes;
- llhttp bounds no head's size, so within that time a client could make the server keep
  gigabytes of headers.
With this protocol every request head must be complete within `timeout_s` of its first byte (of
the connection's opening for the first request), else the server answers 408; and within
MAX_HEAD_BYTES, else 431 (RFC 6585). Both close the connection, as a 400 for what the parser
cannot read does. The body has its own limits
(middleware.LimitBody); docs/operations.md says what a reverse proxy adds.
"""

import asyncio
import json
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from baoling.verifier.http.middleware import UNMATCHED, Metrics, answered

# h11's limit, which the server had before httptools: room for any browser's cookies.
MAX_HEAD_BYTES = 16 * 1024
# The method label of a request whose head never came whole: its method is not known.
NO_METHOD = "-"
_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}


class HeadLimits(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit for each request head
    (`head_protocol`)."""

    timeout_s = 10.0
    metrics: Metrics  # the app's series, where the refusals are counted (head_protocol)
    _head_timer: asyncio.TimerHandle | None = None
    _head_started = 0.0
    _head_bytes = 0
    _head_tail = b""  # the head's last bytes so far: its blank line may span two reads
    _in_head = True  # from a head's first byte (or the connection's opening) to its end

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._begin_head()
        # Armed at once: a connection that sends nothing is cut as a slow head is.
        self._head_timer = self.loop.call_later(self.timeout_s, self._head_too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the first request's head began with the connection
            self._begin_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._in_head and self._head_bytes + len(data) > MAX_HEAD_BYTES:
            # Checked before the parser sees the bytes, which may hold a whole head: it must end
            # (a blank line) within the bytes left to it; what follows (a body) does not count.
            seen = self._head_tail + data[: MAX_HEAD_BYTES - self._head_bytes]
            if b"\n\r\n" not in seen and b"\n\n" not in seen:
                message = f"The request headers are larger than {MAX_HEAD_BYTES} bytes."
                elapsed = time.monotonic() - self._head_started
                self._refuse(431, "header_too_large", message, elapsed)
                return
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            self._head_tail = data[-3:]
            if self._head_timer is None:
                # Armed only for a head that did not come whole in one read: most do, and a
                # timer set and cancelled per request was about 3 % of a node's time.
                left = self._head_started + self.timeout_s - time.monotonic()
                self._head_timer = self.loop.call_later(left, self._head_too_slow)

    def send_400_response(self, msg: str) -> None:
        """What llhttp cannot parse (a bad Content-Length, a NUL in a header, ...) gets a JSON
        error as every other refusal does, counted and logged, instead of uvicorn's plain
        text."""
        message = "The request is not valid HTTP/1.1."
        self._refuse(400, "bad_request", message, time.monotonic() - self._head_started)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _begin_head(self) -> None:
        """Count the head's time and bytes from now."""
        self._in_head, self._head_bytes, self._head_tail = True, 0, b""
        self._head_started = time.monotonic()

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            message = f"The request headers took longer than {self.timeout_s:g} s to arrive."
            self._refuse(408, "header_timeout", message, self.timeout_s)

    def _refuse(self, status: int, error: str, message: str, elapsed: float) -> None:
        """Answer `status` and close the connection; counted, timed (`elapsed` since the head
        began) and logged as the app's answers are (middleware.answered)."""
        self._disarm()
        body = json.dumps({"error": error, "message": message}).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
        answered(self.metrics, NO_METHOD, UNMATCHED, status, elapsed)


def head_protocol(timeout_s: float, metrics: Metrics) -> type[HeadLimits]:
    """The protocol class for uvicorn's `http` setting, with request heads cut at `timeout_s`
    and MAX_HEAD_BYTES, and the refusals counted, timed and logged as the app's answers are."""
    return type("HeadLimits", (HeadLimits,), {"timeout_s": timeout_s, "metrics": metrics})
