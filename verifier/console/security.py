"""The console's web defences that do not depend on a page (docs/console.md): the security
headers every answer carries, and the sign-in rate limit's rule (pure; the store keeps the
counts)."""

import hashlib
from collections.abc import Mapping

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


def limit_keys(account: str, address: str) -> tuple[str, str]:
    """The keys a sign-in's failures count against: its account name and its client address
    (the store counts them, verifier/console/accounts.py, so every node sees every failure).
    The name, as typed and of any length, is kept as its SHA-256."""
    name = hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()
    return "account:" + name, "address:" + address[:200]


def over_limit(failures: Mapping[str, int], account: str, address: str) -> bool:
    """Whether a sign-in is refused before anything is checked: its account name or its client
    address had too many failures in the last WINDOW_S (`failures`: counts by limit_keys)."""
    by_account, by_address = limit_keys(account, address)
    return (
        failures.get(by_account, 0) >= MAX_FAILURES_PER_ACCOUNT
        or failures.get(by_address, 0) >= MAX_FAILURES_PER_ADDRESS
    )
