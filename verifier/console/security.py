"""The console's web defences that do not depend on a page (docs/console.md): the security
headers every answer carries, and the sign-in rate limit."""

import time
from collections import defaultdict, deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Nothing from another host, no inline script or style, no framing, forms only to the console.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    # Pages hold codes, QR codes and audit rows: never kept by a browser or a proxy.
    (b"cache-control", b"no-store"),
)


class SecurityHeaders:
    """ASGI middleware: adds SECURITY_HEADERS to every answer of the console."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + list(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, with_headers)


# Failed sign-ins allowed in WINDOW_S, per account name and per client address.
WINDOW_S = 300.0
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 30
# Keys kept at most: beyond, every key's old failures are dropped first (many made-up names must
# not grow the memory without end).
MAX_KEYS = 10_000


class SignInLimit:
    """Counts failed sign-ins in a sliding window, per account name and per client address;
    over either limit, sign-in is refused before the password is checked. In memory, per
    process: each node limits on its own (docs/console.md)."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> int:
        times = self._failures[key]
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        return len(times)

    def allowed(self, account: str, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return (
            self._recent("account:" + account, now) < MAX_FAILURES_PER_ACCOUNT
            and self._recent("address:" + address, now) < MAX_FAILURES_PER_ADDRESS
        )

    def failed(self, account: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self._failures) >= MAX_KEYS:
            for key in list(self._failures):
                self._recent(key, now)
        self._failures["account:" + account].append(now)
        self._failures["address:" + address].append(now)
