"""ASGI middleware around the app: the request body's size and time limits, and one log line and
the Prometheus series for every answer. Nothing here logs a request body or a query string."""

import asyncio
import logging
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baoling.verifier.http.errors import error_response

# A validate request is about 60 bytes; a PSKC file of a few thousand tokens fits in 1 MiB.
MAX_BODY_BYTES = 1024 * 1024
# The status logged and counted for a request whose client hung up before the answer (nginx's
# "client closed request"): not a 5xx, so no client can raise the error rate that alerts watch.
CLIENT_CLOSED_REQUEST = 499
# The route label of an answer given before a route was found (an unknown path, a limit).
UNMATCHED = "unmatched"

log = logging.getLogger("baoling.http")


class Metrics:
    """The app's Prometheus series; labels hold route templates and results, never values."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "baoling_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "baoling_http_request_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            registry=self.registry,
        )


class LimitBody:
    """Read the whole request body before the app runs: at most `max_bytes` (else 413), all of
    it within `timeout_s` of the request's start (else 408 and the connection is closed, so a
    client that trickles its body cannot hold a connection, or a task, for long)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit():
            await _send_error(send, 400, "bad_request", "Content-Length is not a number.")
            return
        too_big = f"The request body is larger than {self.max_bytes} bytes."
        if int(declared) > self.max_bytes:
            await _send_error(send, 413, "body_too_large", too_big)
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            late = f"The request body took longer than {self.timeout_s:g} s to arrive."
            await _send_error(send, 408, "body_timeout", late, close=True)
            return
        if body is None:  # the client hung up: nobody to answer
            return
        if len(body) > self.max_bytes:
            await _send_error(send, 413, "body_too_large", too_big)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The body, or None if the client hung up; it stops reading one chunk past the limit."""
        chunks: list[bytes] = []
        size, more = 0, True
        while more and size <= self.max_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


async def _send_error(
    send: Send, status: int, error: str, message: str, *, close: bool = False
) -> None:
    """An error answer from outside the app; `close` asks the server to close the connection."""
    response = error_response(status, error, message)
    headers = response.raw_headers + ([(b"connection", b"close")] if close else [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class CountRequests:
    """Count and time every answer, and log one line: method, route template, status, time.

    This line replaces uvicorn's access log, which prints the query string.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        hung_up = False

        async def watch_receive() -> Message:
            nonlocal hung_up
            message = await receive()
            hung_up = hung_up or message["type"] == "http.disconnect"
            return message

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, watch_receive, send_status)
        finally:
            if status is None:  # no answer: the client left first, or the app failed
                status = CLIENT_CLOSED_REQUEST if hung_up else 500
            route = getattr(scope.get("route"), "path", UNMATCHED)
            answered(self.metrics, scope["method"], route, status, time.perf_counter() - started)


def answered(metrics: Metrics, method: str, route: str, status: int, elapsed: float) -> None:
    """Count and time one answer and log its line: every answer the app gives (CountRequests)
    and the 408 or 431 the server gives to a request head too slow or too large
    (request_head.py)."""
    metrics.requests.labels(method, route, str(status)).inc()
    metrics.seconds.labels(route).observe(elapsed)
    log.info("%s %s %d %.1fms", method, route, status, elapsed * 1000)
