"""API keys for the HTTP API: made once and shown once, stored as a SHA-256, checked by scope.

Scopes (docs/verifier.md, "API keys"): `validate` checks codes; `helpdesk` handles users'
tokens without seeing a secret (assign, unassign, disable, enable, unlock, lost and found
tokens, spare tokens, backup codes, reactivating users, and reading users and token states);
`admin` may do everything but validate, helpdesk routes included.
"""

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.errors import InvalidRequest
from baoling.verifier.events import AdminKeyCreated
from baoling.verifier.inputs import check_text
from baoling.verifier.outbox import Outbox

API_KEY_SCOPES = ("validate", "helpdesk", "admin")
# bl_<key id: 16 hex>_<256 random bits, URL-safe base64>: the id finds the row, the rest is secret.
_API_KEY = re.compile(r"bl_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A stored key as a request presents it: its public id, name and scopes."""

    key_id: str
    name: str
    scopes: frozenset[str]


class ApiKeys:
    """The API keys of one store."""

    def __init__(self, db: store.Store, outbox: Outbox) -> None:
        self._store, self._outbox = db, outbox

    def create(self, name: str, scopes: Sequence[str]) -> str:
        """A new API key (shown once; only its SHA-256 is stored), under a name no other key
        has."""
        check_text("name", name)
        if not name.strip():  # the audit trail names each key's actions by it
            raise InvalidRequest("name must not be empty: the audit trail names the key by it")
        chosen = sorted(set(scopes))
        if not chosen or any(scope not in API_KEY_SCOPES for scope in chosen):
            raise InvalidRequest(f"scopes must be some of {', '.join(API_KEY_SCOPES)}")
        key_id = secrets.token_hex(8)
        key = f"bl_{key_id}_{secrets.token_urlsafe(32)}"
        now = time.time()
        with self._store.write() as conn:  # serialised: two nodes cannot both take a name
            if store.api_key_name_taken(conn, name):  # the audit trail tells keys apart by it
                raise InvalidRequest(
                    f"an API key named {name!r} exists already: give this one another name"
                )
            store.insert_api_key(conn, key_id, name, _digest(key), chosen, now)
            audit_log.append(
                conn, "api_key_create", None, now, key_id=key_id, name=name, scopes=chosen
            )
            created = AdminKeyCreated(key_id=key_id, key_name=name, scopes=chosen)
            self._outbox.emit(conn, created, now)
        return key

    def check(self, key: str, scope: str) -> bool:
        """True when `key` is a stored API key that has `scope`."""
        found = self.find(key)
        return found is not None and scope in found.scopes

    def find(self, key: str) -> ApiKey | None:
        """The stored API key `key` is, or None."""
        match = _API_KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None:
            return None
        with self._store.read() as conn:
            row = store.get_api_key(conn, match.group(1))
        if row is None or row.revoked is not None:
            return None
        if not hmac.compare_digest(_digest(key), row.key_hash):
            return None
        return ApiKey(row.id, row.name, frozenset(row.scopes.split(",")))

    def list_keys(self) -> list[dict[str, Any]]:
        """Every key, revoked ones too, oldest first: id, name, scopes, when made and revoked
        (None: live); never the key or its hash."""
        with self._store.read() as conn:
            rows = store.list_api_keys(conn)
        return [
            {
                "id": row.id,
                "name": row.name,
                "scopes": row.scopes.split(","),
                "created": row.created,
                "revoked": row.revoked,
            }
            for row in rows
        ]

    def revoke(self, name: str) -> str:
        """Revoke the live key named `name` for good; returns its id. Its row stays, so the name
        is never given to another key. A serving node that took the key in the last
        API_KEY_CACHE_S still takes it until then (verifier/http/auth.py)."""
        now = time.time()
        with self._store.write() as conn:
            key_id = store.revoke_api_key(conn, name, now)
            if key_id is None:
                raise InvalidRequest(f"no live API key is named {name!r}")
            audit_log.append(conn, "api_key_revoke", None, now, key_id=key_id, name=name)
        return key_id

    def refused(self, key: ApiKey, method: str, path: str, needs: str) -> None:
        """Audit a request a key made without the scope its route needs (a helpdesk key at
        an admin route): which key, the route and the scope."""
        now = time.time()
        with self._store.write() as conn:
            audit_log.append(
                conn,
                "forbidden",
                None,
                now,
                by=f"api-key:{key.name}",
                api_key=key.key_id,
                method=method,
                path=path,
                needs=needs,
            )
