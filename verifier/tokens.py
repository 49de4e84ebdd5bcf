"""Token administration: enrol one token or every key of a PSKC file, list, show, disable,
enable, unlock, reset the drift, delete. Each change is one write transaction with its audit
row and its event (verifier/outbox.py); secrets are sealed with the master key before they
reach the store, and never shown again after enrolment."""

import json
import os
import time
from typing import Any

from sqlalchemy.engine import Connection, Row

from baoling.core import otpauth
from baoling.core.errors import CoreError
from baoling.core.limits import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD_S,
    GENERATED_SECRET_BYTES,
    check_parameters,
)
from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.constants import MAX_HOTP_COUNTER
from baoling.verifier.engine import Drift
from baoling.verifier.errors import (
    InvalidRequest,
    LifecycleConflict,
    PSKCImportError,
    TokenExists,
)
from baoling.verifier.events import (
    TokenDeleted,
    TokenDisabled,
    TokenEnrolled,
    TokenEvent,
    TokenUnlocked,
)
from baoling.verifier.inputs import check_text, check_time, check_token_id
from baoling.verifier.master_key import CurrentKey
from baoling.verifier.outbox import Outbox
from baoling.verifier.pskc_import import read_pskc


def _info(row: Row[Any]) -> dict[str, Any]:
    """What an administrator may see of a token: everything but the secret."""
    return {
        "token": row.id,
        "algorithm": row.algorithm,
        "digits": row.digits,
        "kind": row.kind,
        "period": None if row.kind == store.HOTP else row.period_s,
        "issuer": row.issuer,
        "label": row.label,
        "enabled": row.enabled,
        "fail_count": row.fail_count,
        "locked_until": row.locked_until,
        "last_step": row.last_step,
        "counter": row.counter,
        "device_pin": row.device_pin,
        "lost": row.lost,
        "drift": json.loads(row.drift),
        "created": row.created,
    }


def new_token(
    token_id: str,
    secret: bytes | None,
    algorithm: str,
    digits: int,
    period_s: int,
    issuer: str,
    label: str,
) -> dict[str, Any]:
    """A token's columns, checked; a missing secret is generated."""
    check_token_id(token_id)
    check_text("issuer", issuer)
    check_text("label", label)
    if secret is None and algorithm in ALGORITHMS:
        secret = os.urandom(GENERATED_SECRET_BYTES[algorithm])
    try:
        check_parameters(secret, algorithm, digits, period_s)  # type: ignore[arg-type]
    except CoreError as exc:
        raise InvalidRequest(str(exc)) from None
    return {
        "id": token_id,
        "secret": secret,
        "algorithm": algorithm,
        "digits": digits,
        "period_s": period_s,
        "issuer": issuer,
        "label": label,
    }


def kind_columns(kind: str, counter: int) -> dict[str, Any]:
    """The columns that make a token TOTP, or HOTP starting at `counter` (its period_s 0: it
    has none)."""
    if kind == store.TOTP:
        return {"kind": store.TOTP, "counter": None}
    if kind != store.HOTP:
        # Not the text given: a bulk import's line with its columns out of order can put a
        # secret here.
        raise InvalidRequest("kind must be totp or hotp")
    if (
        isinstance(counter, bool)
        or not isinstance(counter, int)
        or not 0 <= counter <= MAX_HOTP_COUNTER
    ):
        raise InvalidRequest(f"counter must be a whole number from 0 to {MAX_HOTP_COUNTER}")
    return {"kind": store.HOTP, "counter": counter, "period_s": 0}


def refuse_lost(conn: Connection, token_id: str, what: str) -> None:
    """LifecycleConflict when the token is reported lost: only `found` enables it again (and
    revokes the backup codes that stood in for it). UnknownToken when there is none."""
    if store.get_token(conn, token_id).lost:
        raise LifecycleConflict(
            f"token {token_id!r} is reported lost and cannot be {what}; "
            "if it is back, report it found"
        )


class TokenAdmin:
    """The tokens of one store."""

    def __init__(self, db: store.Store, key: CurrentKey, outbox: Outbox) -> None:
        self._store, self._key, self._outbox = db, key, outbox

    def enrol(
        self,
        token_id: str,
        secret: bytes | None = None,
        *,
        algorithm: str = DEFAULT_ALGORITHM,
        digits: int = DEFAULT_DIGITS,
        period_s: int = DEFAULT_PERIOD_S,
        issuer: str = "",
        label: str = "",
        kind: str = store.TOTP,
        counter: int = 0,
        device_pin: bool = False,
        now: float | None = None,
    ) -> str:
        """Enrol a TOTP token, or with `kind` "hotp" an HOTP (counter) token whose next code is
        the one at `counter`; returns its otpauth URI (holds the secret: show it once).
        `device_pin`: the token has a device PIN (recorded for the answers' amr). `now`: the
        enrolment time (default the clock's), where the reach of its first code starts.

        Without `secret`, one as long as the algorithm's hash output is generated
        (RFC 4226 asks for at least 128 bits).
        """
        token = new_token(token_id, secret, algorithm, digits, period_s, issuer, label)
        if not isinstance(device_pin, bool):
            raise InvalidRequest("device_pin must be true or false")
        check_time(now)
        token |= kind_columns(kind, counter) | {"device_pin": device_pin}
        self._insert([token], source="enrol", now=now)
        key = otpauth.KeyUri(
            token["secret"],
            label or token_id,
            issuer,
            algorithm,
            digits,
            period_s,
            token["counter"],
        )
        return otpauth.build(key)

    def import_pskc(
        self, data: bytes, *, key: bytes | None = None, password: str | None = None
    ) -> list[str]:
        """Enrol every TOTP and HOTP key of a PSKC file in one transaction: all, or none on any
        error. Returns the token ids (verifier/pskc_import.py); a key's TimeDrift starts its
        drift, an HOTP key's Counter its counter."""
        new_tokens = []
        for found in read_pskc(data, key=key, password=password):
            try:
                token = new_token(
                    found.token_id,
                    found.secret,
                    found.algorithm,
                    found.digits,
                    found.period_s,
                    found.issuer,
                    found.label,
                )
                token |= kind_columns(found.kind, found.counter)
                new_tokens.append(token | {"drift": Drift(offset_s=found.clock_offset_s)})
            except InvalidRequest as exc:
                raise PSKCImportError(f"key {found.token_id!r}: {exc}") from None
        return self._insert(new_tokens, source="pskc")

    def _insert(
        self, new_tokens: list[dict[str, Any]], *, source: str, now: float | None = None
    ) -> list[str]:
        """Add tokens in one transaction: all of them, or none if any id is taken."""
        with self._store.write() as conn:
            self.insert(conn, new_tokens, source=source, now=time.time() if now is None else now)
        return [token["id"] for token in new_tokens]

    def insert(
        self, conn: Connection, new_tokens: list[dict[str, Any]], *, source: str, now: float
    ) -> None:
        """Add checked tokens (`new_token`) in the caller's write transaction, each secret
        sealed once, with a few statements for any number: TokenExists if an id is taken."""
        taken = store.enrolled_token_ids(conn, [token["id"] for token in new_tokens])
        if taken:
            first = next(token["id"] for token in new_tokens if token["id"] in taken)
            raise TokenExists(f"token {first!r} is already enrolled")
        rows, audit_rows = [], []
        for token in new_tokens:
            sealed = self._key.seal(token["id"], token["secret"])
            # A token without an estimate of its own (a PSKC key's TimeDrift) is taken to be in
            # step now: provisioning sets its clock, then enrols it (docs/engine.md, the reach).
            drift = token.get("drift", Drift.synced_at(now)).to_json()
            rows.append(
                token
                | {
                    "secret": sealed,
                    "drift": drift,
                    "last_step": None,
                    "fail_count": 0,
                    "locked_until": None,
                    "enabled": True,
                    "created": now,
                }
            )
            parameters = {
                "algorithm": token["algorithm"],
                "digits": token["digits"],
                "period": token["period_s"],
            }
            audit_rows.append(("enrol", token["id"], {"source": source, **parameters}))
        store.insert_tokens(conn, rows)
        audit_log.append_many(conn, audit_rows, now)
        for token in new_tokens:
            enrolled = TokenEnrolled(
                token=token["id"],
                source=source,
                algorithm=token["algorithm"],
                digits=token["digits"],
                period=token["period_s"],
            )
            self._outbox.emit(conn, enrolled, now)

    def list_tokens(self) -> list[dict[str, Any]]:
        with self._store.read() as conn:
            return [_info(row) for row in store.list_tokens(conn)]

    def show(self, token_id: str) -> dict[str, Any]:
        with self._store.read() as conn:
            return _info(store.get_token(conn, token_id))

    def _change(
        self, action: str, token_id: str, event: type[TokenEvent] | None = None, **values: object
    ) -> None:
        """Set columns of one token (or delete it, for "delete"), audited as `action` and
        reported as `event`, if any."""
        now = time.time()
        with self._store.write() as conn:
            if values.get("enabled"):
                refuse_lost(conn, token_id, "enabled")
            if event is not None:  # first: the event is routed by the token's user, if any
                self._outbox.emit(conn, event(token=token_id), now)
            if action == "delete":
                store.delete_token(conn, token_id)
            else:
                store.update_token(conn, token_id, **values)
            audit_log.append(conn, action, token_id, now)

    def disable(self, token_id: str) -> None:
        self._change("disable", token_id, TokenDisabled, enabled=False)

    def enable(self, token_id: str) -> None:
        """Enable a disabled token; LifecycleConflict for one reported lost (`_change`)."""
        self._change("enable", token_id, enabled=True)

    def unlock(self, token_id: str) -> None:
        """Clear the failure count and any lock."""
        self._change("unlock", token_id, TokenUnlocked, fail_count=0, locked_until=None)

    def reset_drift(self, token_id: str) -> None:
        """Forget the learned clock offset and rate, as after the token's clock was set again:
        the window is centred on the verifier's own time until new codes teach it again."""
        self._change("reset_drift", token_id, drift=Drift().to_json())

    def delete(self, token_id: str) -> None:
        self._change("delete", token_id, TokenDeleted)
