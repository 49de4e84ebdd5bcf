"""API keys on HTTP: a route admits a request only with a bearer key of one of its scopes.

A known key without the route's scope (a helpdesk key at an admin route) gets a 403 and an
audit row (`forbidden`). Every audit row an admin or helpdesk request writes names the key
(`by: "api-key:<name>"`, `api_key: <id>`, through `audit.origin`), so the audit trail says who
did each step.

The dependencies are async: FastAPI runs sync ones in its thread pool, a hop per request. They
do not block the event loop, but for the one database read per key and minute that KeyCache
makes. POST /v1/validate calls `admit` itself (validate_route.py): it sets no audit origin
(a validation's audit rows name the token or user, not the key).
"""

import hashlib
import time
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from baoling.verifier import audit
from baoling.verifier.api_keys import ApiKey
from baoling.verifier.http.errors import HTTPError
from baoling.verifier.service import Verifier

# A key revoked (verifier/api_keys.py) still works on a running server for up to this long.
API_KEY_CACHE_S = 60.0
API_KEY_CACHE_ENTRIES = 1024


class KeyCache:
    """Remembers for API_KEY_CACHE_S which keys the store accepted, so a busy client costs one
    database read a minute instead of one per request. Only the key's SHA-256 is kept, with
    its id, name and scopes; refused keys are not remembered (they are asked again every time)."""

    def __init__(self, verifier: Verifier, ttl_s: float = API_KEY_CACHE_S) -> None:
        self.verifier, self.ttl_s = verifier, ttl_s
        self.valid_until: dict[bytes, tuple[float, ApiKey]] = {}

    def find(self, key: str) -> ApiKey | None:
        """The stored key `key` is (its id, name and scopes), or None."""
        digest = hashlib.sha256(key.encode()).digest()
        now = time.monotonic()
        until, found = self.valid_until.get(digest, (0.0, None))
        if until > now:
            return found
        found = self.verifier.find_api_key(key)
        if found is None:
            return None
        if len(self.valid_until) >= API_KEY_CACHE_ENTRIES:
            self.valid_until.clear()
        self.valid_until[digest] = (now + self.ttl_s, found)
        return found

    def allows(self, key: str, scope: str) -> bool:
        found = self.find(key)
        return found is not None and scope in found.scopes


async def admit(request: Request, scopes: tuple[str, ...]) -> ApiKey:
    """The request's bearer API key if it has one of `scopes` (the first names the route's
    scope in the refusal), checked against the app's KeyCache (`app.state.keys`); else a 401,
    or a 403 and a forbidden audit row for a known key. It is `request.state.api_key` too."""
    kind, _, key = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not key.strip():
        raise HTTPError(401, "unauthorized", "Send an API key as 'Authorization: Bearer <key>'.")
    keys: KeyCache = request.app.state.keys
    found = keys.find(key.strip())
    if found is None or not found.scopes & set(scopes):
        if found is not None:  # a known key out of its scope: who tried what is audited
            route = request.scope.get("route")
            path = getattr(route, "path", request.url.path)
            await run_in_threadpool(
                keys.verifier.record_forbidden, found, request.method, path, scopes[0]
            )
        raise HTTPError(403, "forbidden", f"This API key is not valid for the {scopes[0]} scope.")
    request.state.api_key = found
    return found


def require(*scopes: str) -> Callable[[Request], AsyncIterator[None]]:
    """A dependency that admits a request with a key of one of `scopes` (`admit`); the audit
    rows the request writes name that key (`audit.origin`)."""

    async def check(request: Request) -> AsyncIterator[None]:
        found = await admit(request, scopes)
        with audit.origin(by=f"api-key:{found.name}", api_key=found.key_id):
            yield

    return check
