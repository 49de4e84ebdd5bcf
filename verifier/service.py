"""The verifier's Python API (contracts.md section 9): what the HTTP API, RADIUS, the admin CLI
and embedding servers call.

Each operation is one write transaction: read the token, let the engine decide
(verifier/engine.py, pure), apply the decision with the store's atomic updates and append the
audit row, then commit, so the state and its audit row land together or not at all.
"""

import dataclasses
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy.engine import Connection, Row

from baoling.core import identity, otpauth
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
from baoling.verifier import crypto, settings, store
from baoling.verifier.audit import AuditReport
from baoling.verifier.engine import REPLAY, Decision, Drift, Policy, TokenState
from baoling.verifier.engine import check as engine_check
from baoling.verifier.engine import resync as engine_resync
from baoling.verifier.engine import wrong_pin as engine_wrong_pin
from baoling.verifier.errors import (
    AuditError,
    InvalidRequest,
    MasterKeyError,
    PSKCImportError,
    TokenExists,
)
from baoling.verifier.files import write_new
from baoling.verifier.otp import TOTP
from baoling.verifier.pskc_import import read_pskc

MAX_TEXT_CHARS = 256
API_KEY_SCOPES = ("validate", "admin")
# Tokens whose TOTP objects a Verifier keeps (each holds two hash states, a few hundred bytes).
MAX_CACHED_TOKENS = 10_000
_API_KEY = re.compile(r"bl_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")


def check_token_id(token_id: str) -> str:
    """The id itself, or InvalidRequest saying what a token id may contain (core/identity.py)."""
    try:
        return identity.check_token_id(token_id)
    except CoreError as exc:
        raise InvalidRequest(str(exc)) from None


def _check_text(name: str, value: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS or not value.isprintable():
        raise InvalidRequest(
            f"{name} must be printable text of at most {MAX_TEXT_CHARS} characters"
        )
    return value


def _state(row: Row) -> TokenState:
    return TokenState(
        last_step=row.last_step,
        fail_count=row.fail_count,
        locked_until=row.locked_until,
        enabled=row.enabled,
        drift=Drift.from_json(row.drift),
    )


def _info(row: Row) -> dict:
    """What an administrator may see of a token: everything but the secret."""
    return {
        "token": row.id,
        "algorithm": row.algorithm,
        "digits": row.digits,
        "period": row.period_s,
        "issuer": row.issuer,
        "label": row.label,
        "enabled": row.enabled,
        "fail_count": row.fail_count,
        "locked_until": row.locked_until,
        "last_step": row.last_step,
        "drift": json.loads(row.drift),
        "created": row.created,
    }


class Verifier:
    """Checks codes and administers tokens in one store (SQLite file or PostgreSQL)."""

    def __init__(
        self,
        store_url: str | None = None,
        *,
        data_dir: Path | None = None,
        master_key_file: Path | None = None,
        policy: Policy | None = None,
    ) -> None:
        """Where the data lives: the arguments given, else the settings (verifier/settings.py:
        BAOLING_ variables, the BAOLING_CONFIG file, the defaults)."""
        self.policy = policy or Policy()
        where = settings.load(
            {"store_url": store_url, "data_dir": data_dir, "master_key_file": master_key_file}
        )
        where.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._key_path = where.key_file
        self._otps: dict[tuple, TOTP] = {}
        self._store = store.Store(where.url)
        try:
            self._store.prepare()
            with self._store.write() as conn:
                self._key = self._resolve_key(conn)
        except BaseException:
            self._store.close()
            raise

    def close(self) -> None:
        """Release the database connections."""
        self._store.close()

    # ---------------------------------------------------------------- master key

    def _resolve_key(self, conn: Connection) -> crypto.MasterKey:
        """The key file's key, checked against the fingerprint the database recorded; a
        database without one (new, or upgraded from schema 1) records it after a trial open."""
        fingerprint = store.get_meta(conn, store.KEY_FINGERPRINT)
        if fingerprint is not None:
            return crypto.resolve_key_file(self._key_path, fingerprint)
        rows = store.list_tokens(conn)
        if rows:
            key = crypto.load_key(self._key_path)
            key.open(rows[0].id, rows[0].secret)
        else:
            key = crypto.resolve_key_file(self._key_path, None)
        store.set_meta(conn, store.KEY_FINGERPRINT, key.fingerprint)
        return key

    def _open(self, conn: Connection, row: Row) -> bytes:
        """The token's secret. If the key was rotated (by another node or process, or by
        another thread that has not swapped its key in yet), reload the key file once."""
        key = self._key
        try:
            return key.open(row.id, row.secret)
        except MasterKeyError:
            fingerprint = store.get_meta(conn, store.KEY_FINGERPRINT)
            if fingerprint == key.fingerprint:
                raise
            self._key = crypto.resolve_key_file(self._key_path, fingerprint)
            return self._key.open(row.id, row.secret)

    def _otp(self, conn: Connection, row: Row) -> TOTP:
        """The token's TOTP, kept while its sealed secret is unchanged: decrypting and
        precomputing the HMAC states again for every check would cost more than the check
        (docs/performance.md). The key is the sealed bytes, so a rotation or a new secret
        never meets a stale entry."""
        cache_key = (row.id, row.secret, row.algorithm, row.digits, row.period_s)
        otp = self._otps.get(cache_key)
        if otp is None:
            if len(self._otps) >= MAX_CACHED_TOKENS:
                self._otps.clear()
            otp = TOTP(
                self._open(conn, row),
                algorithm=row.algorithm,
                digits=row.digits,
                period_s=row.period_s,
            )
            self._otps[cache_key] = otp
        return otp

    def rotate_key(self) -> None:
        """Re-encrypt every secret under a new master key, in one transaction.

        The new key is written to master.key.new first and renamed over master.key after the
        commit; a crash in between is finished at the next start (crypto.resolve_key_file).
        Other nodes sharing a PostgreSQL database need the new key file copied to them.
        The key file lock is held from inside the transaction until after the rename.
        """
        with ExitStack() as key_file_held:
            try:
                with self._store.write() as conn:
                    key_file_held.enter_context(crypto.key_file_lock(self._key_path))
                    old = crypto.resolve_key_file(
                        self._key_path,
                        store.get_meta(conn, store.KEY_FINGERPRINT),
                        holding_lock=True,
                    )
                    new = crypto.stage_key(self._key_path)
                    rows = store.list_tokens(conn)
                    for row in rows:
                        sealed = new.seal(row.id, old.open(row.id, row.secret))
                        store.update_token(conn, row.id, secret=sealed)
                    store.set_meta(conn, store.KEY_FINGERPRINT, new.fingerprint)
                    audit_log.append(
                        conn,
                        "rotate_key",
                        None,
                        time.time(),
                        tokens=len(rows),
                        fingerprint=new.fingerprint,
                    )
            except BaseException:
                crypto.discard_staged_key(self._key_path)
                raise
            crypto.commit_staged_key(self._key_path)
            self._key = new

    # -------------------------------------------------------------------- tokens

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
    ) -> str:
        """Enrol a TOTP token; returns its otpauth URI (holds the secret: show it once).

        Without `secret`, one as long as the algorithm's hash output is generated
        (RFC 4226 asks for at least 128 bits).
        """
        token = self._new_token(token_id, secret, algorithm, digits, period_s, issuer, label)
        self._insert([token], source="enrol")
        return otpauth.build(
            otpauth.KeyUri(token["secret"], label or token_id, issuer, algorithm, digits, period_s)
        )

    def _new_token(
        self,
        token_id: str,
        secret: bytes | None,
        algorithm: str,
        digits: int,
        period_s: int,
        issuer: str,
        label: str,
    ) -> dict:
        check_token_id(token_id)
        _check_text("issuer", issuer)
        _check_text("label", label)
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

    def import_pskc(
        self, data: bytes, *, key: bytes | None = None, password: str | None = None
    ) -> list[str]:
        """Enrol every TOTP key of a PSKC file in one transaction: all, or none on any error.
        Returns the token ids (verifier/pskc_import.py); a key's TimeDrift starts its drift."""
        new_tokens = []
        for found in read_pskc(data, key=key, password=password):
            try:
                token = self._new_token(
                    found.token_id,
                    found.secret,
                    found.algorithm,
                    found.digits,
                    found.period_s,
                    found.issuer,
                    found.label,
                )
                new_tokens.append(token | {"drift": Drift(offset_s=found.clock_offset_s)})
            except InvalidRequest as exc:
                raise PSKCImportError(f"key {found.token_id!r}: {exc}") from None
        return self._insert(new_tokens, source="pskc")

    def _insert(self, new_tokens: list[dict], *, source: str) -> list[str]:
        """Add tokens in one transaction: all of them, or none if any id is taken."""
        now = time.time()
        with self._store.write() as conn:
            for token in new_tokens:
                if store.token_exists(conn, token["id"]):
                    raise TokenExists(f"token {token['id']!r} is already enrolled")
                sealed = self._key.seal(token["id"], token["secret"])
                drift = token.get("drift", Drift()).to_json()
                store.insert_token(
                    conn,
                    **token | {"secret": sealed, "drift": drift},
                    last_step=None,
                    fail_count=0,
                    locked_until=None,
                    enabled=True,
                    created=now,
                )
                audit_log.append(
                    conn,
                    "enrol",
                    token["id"],
                    now,
                    source=source,
                    algorithm=token["algorithm"],
                    digits=token["digits"],
                    period=token["period_s"],
                )
        return [token["id"] for token in new_tokens]

    def list_tokens(self) -> list[dict]:
        with self._store.read() as conn:
            return [_info(row) for row in store.list_tokens(conn)]

    def show(self, token_id: str) -> dict:
        with self._store.read() as conn:
            return _info(store.get_token(conn, token_id))

    def _admin(self, action: str, token_id: str, **values: object) -> None:
        with self._store.write() as conn:
            if action == "delete":
                store.delete_token(conn, token_id)
            else:
                store.update_token(conn, token_id, **values)
            audit_log.append(conn, action, token_id, time.time())

    def disable(self, token_id: str) -> None:
        self._admin("disable", token_id, enabled=False)

    def enable(self, token_id: str) -> None:
        self._admin("enable", token_id, enabled=True)

    def unlock(self, token_id: str) -> None:
        """Clear the failure count and any lock."""
        self._admin("unlock", token_id, fail_count=0, locked_until=None)

    def reset_drift(self, token_id: str) -> None:
        """Forget the learned clock offset and rate, as after the token's clock was set again:
        the window is centred on the verifier's own time until new codes teach it again."""
        self._admin("reset_drift", token_id, drift=Drift().to_json())

    def delete(self, token_id: str) -> None:
        self._admin("delete", token_id)

    # --------------------------------------------------------------- validation

    def validate(self, token_id: str, code: str, now: float | None = None) -> bool:
        """True when `code` is accepted. Unknown tokens raise UnknownToken."""
        return self.check(token_id, code, now).accepted

    def check(self, token_id: str, code: str, now: float | None = None) -> Decision:
        """The engine's decision for `code`, applied to the store, with its reason."""
        return self._decide(
            "validate",
            token_id,
            now,
            lambda otp, state, t: engine_check(otp, state, code, t, self.policy),
        )

    def resync(self, token_id: str, code1: str, code2: str, now: float | None = None) -> bool:
        """Find two consecutive codes in the wide window and move the token's offset there."""
        decision = self._decide(
            "resync",
            token_id,
            now,
            lambda otp, state, t: engine_resync(otp, state, code1, code2, t, self.policy),
        )
        return decision.accepted

    def wrong_pin(self, token_id: str, now: float | None = None) -> Decision:
        """Count a wrong or missing static PIN (checked by a front end such as RADIUS) as one
        failed attempt, audited with reason "wrong_pin"; the PIN itself never reaches here."""
        return self._decide(
            "validate", token_id, now, lambda otp, state, t: engine_wrong_pin(state, t, self.policy)
        )

    def _decide(
        self,
        action: str,
        token_id: str,
        now: float | None,
        decide: Callable[[TOTP, TokenState, float], Decision],
    ) -> Decision:
        """Run `decide` on the token's current state inside one write transaction, apply
        its decision atomically and audit it."""
        now = time.time() if now is None else now
        with self._store.write(durable=action != "validate") as conn:
            row = store.get_token(conn, token_id)
            state = _state(row)
            decision = decide(self._otp(conn, row), state, now)
            if decision.accepted:
                if not store.accept_step(
                    conn, token_id, decision.step, decision.state.drift.to_json(), now
                ):
                    decision = Decision(False, REPLAY, decision.step, state)
            elif decision.state.fail_count > state.fail_count:
                decision = self._count_failure(conn, token_id, state, decision, now)
            audit_log.append(
                conn,
                action,
                token_id,
                now,
                result="accept" if decision.accepted else "reject",
                reason=decision.reason,
            )
        return decision

    def _count_failure(
        self, conn: Connection, token_id: str, state: TokenState, decision: Decision, now: float
    ) -> Decision:
        """Apply the engine's failure with the atomic SQL increment; audit a new lock."""
        fail_count, locked_until = store.count_failure(
            conn, token_id, now, self.policy.lockout_after_fails, self.policy.lock_end(now)
        )
        if locked_until is not None and locked_until > now and not state.locked(now):
            audit_log.append(
                conn, "lock", token_id, now, fail_count=fail_count, locked_until=locked_until
            )
        return dataclasses.replace(
            decision,
            state=dataclasses.replace(state, fail_count=fail_count, locked_until=locked_until),
        )

    # ------------------------------------------------------------------ API keys

    def create_api_key(self, name: str, scopes: list[str] | tuple[str, ...]) -> str:
        """A new API key (shown once; only its SHA-256 is stored)."""
        _check_text("name", name)
        scopes = sorted(set(scopes))
        if not scopes or any(scope not in API_KEY_SCOPES for scope in scopes):
            raise InvalidRequest(f"scopes must be some of {', '.join(API_KEY_SCOPES)}")
        key_id = secrets.token_hex(8)
        key = f"bl_{key_id}_{secrets.token_urlsafe(32)}"
        now = time.time()
        with self._store.write() as conn:
            conn.execute(
                store.api_keys.insert().values(
                    id=key_id,
                    name=name,
                    key_hash=hashlib.sha256(key.encode()).hexdigest(),
                    scopes=",".join(scopes),
                    created=now,
                )
            )
            audit_log.append(
                conn, "api_key_create", None, now, key_id=key_id, name=name, scopes=scopes
            )
        return key

    def check_api_key(self, key: str, scope: str) -> bool:
        """True when `key` is a stored API key that has `scope`."""
        match = _API_KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None:
            return False
        with self._store.read() as conn:
            row = conn.execute(
                store.api_keys.select().where(store.api_keys.c.id == match.group(1))
            ).first()
        if row is None:
            return False
        digest = hashlib.sha256(key.encode()).hexdigest()
        return hmac.compare_digest(digest, row.key_hash) and scope in row.scopes.split(",")

    # --------------------------------------------------------------------- audit

    def audit(self, limit: int = 100) -> list[dict]:
        """The newest `limit` audit rows, newest first."""
        with self._store.read() as conn:
            return audit_log.recent(conn, limit)

    def verify_audit(self, archives: Sequence[Path] = ()) -> AuditReport:
        """Check the hash chain, through `archives` (oldest first, from the first ever
        written) and on through the database; `ok` is False with the first problem if broken."""
        with ExitStack() as files:
            try:
                lines = [
                    files.enter_context(Path(path).open(encoding="utf-8")) for path in archives
                ]
            except OSError as exc:
                raise InvalidRequest(f"cannot read {exc.filename}: {exc.strerror}") from None
            with self._store.read() as conn:
                return audit_log.verify(conn, lines)

    def archive_audit(self, path: Path, *, before: float) -> int:
        """Move the audit rows written before `before` (Unix time) to a new file at `path`;
        returns how many (0: nothing that old, and no file). The chain is verified first, and
        the file is on disk before any row is deleted, in the transaction that holds the
        chain's head (docs/operations.md, "Archiving the audit trail")."""
        path = Path(path)
        with self._store.write() as conn:
            report = audit_log.verify(conn)
            if not report.ok:
                raise AuditError(
                    f"the audit chain is broken ({report.problem}); nothing was archived"
                )
            through = audit_log.archive_end(conn, before)
            if through is None:
                return 0
            try:
                write_new(path, (line.encode() for line in audit_log.archive_lines(conn, through)))
            except FileExistsError:
                raise InvalidRequest(f"{path} already exists; nothing was archived") from None
            except OSError as exc:
                raise InvalidRequest(
                    f"cannot write {path}: {exc.strerror}; nothing was archived"
                ) from None
            return audit_log.drop_archived(conn, through, time.time())
