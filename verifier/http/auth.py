"""API keys on HTTP: a route admits a request only with a bearer key of its scope.

The dependencies are async: FastAPI runs sync ones in its thread pool, a hop per request that
cost validate 0.4 ms of CPU (bench/http_validate.py). They do not block the event loop, but
for the one database read per key and minute that KeyCache makes.
"""

import hashlib
import time
from collections.abc import Awaitable, Callable

from fastapi import Request

from baoling.verifier.http.errors import HTTPError
from baoling.verifier.service import Verifier

# A key removed from the store still works on a running server for up to this long.
API_KEY_CACHE_S = 60.0
API_KEY_CACHE_ENTRIES = 1024


class KeyCache:
    """Remembers for API_KEY_CACHE_S which keys the store accepted, so a busy client costs one
    database read a minute instead of one per request. Only a SHA-256 of key and scope is
    kept; refused keys are not remembered (they are asked again every time)."""

    def __init__(self, verifier: Verifier, ttl_s: float = API_KEY_CACHE_S) -> None:
        self.verifier, self.ttl_s = verifier, ttl_s
        self.valid_until: dict[bytes, float] = {}

    def allows(self, key: str, scope: str) -> bool:
        digest = hashlib.sha256(f"{scope}\0{key}".encode()).digest()
        now = time.monotonic()
        if self.valid_until.get(digest, 0.0) > now:
            return True
        if not self.verifier.check_api_key(key, scope):
            return False
        if len(self.valid_until) >= API_KEY_CACHE_ENTRIES:
            self.valid_until.clear()
        self.valid_until[digest] = now + self.ttl_s
        return True


def require(scope: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that admits a request only with a bearer API key of `scope`, checked
    against the app's KeyCache (`app.state.keys`)."""

    async def check(request: Request) -> None:
        kind, _, key = request.headers.get("authorization", "").partition(" ")
        if kind.lower() != "bearer" or not key.strip():
            raise HTTPError(
                401, "unauthorized", "Send an API key as 'Authorization: Bearer <key>'."
            )
        keys: KeyCache = request.app.state.keys
        if not keys.allows(key.strip(), scope):
            raise HTTPError(403, "forbidden", f"This API key is not valid for the {scope} scope.")

    return check
