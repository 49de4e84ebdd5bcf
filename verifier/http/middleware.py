"""ASGI middleware around the app: the request body limit, and one log line and the Prometheus
series for every answer. Nothing here logs a request body or a query string."""

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baoling.verifier.http.errors import error_response

# A validate request is about 60 bytes; a PSKC file of a few thousand tokens fits in 1 MiB.
MAX_BODY_BYTES = 1024 * 1024

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
        self.validations = Counter(
            "baoling_validations",
            "Answers of POST /v1/validate.",
            ["result"],
            registry=self.registry,
        )


class LimitBody:
    """Read at most `max_bytes` of a request body, else answer 413 without calling the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

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
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, "body_too_large", too_big)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


async def _send_error(send: Send, status: int, error: str, message: str) -> None:
    response = error_response(status, error, message)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
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
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.seconds.labels(route).observe(elapsed)
            log.info("%s %s %d %.1fms", scope["method"], route, status, elapsed * 1000)
