"""Console accounts and their sessions (docs/console.md): who may sign in to the web console.

An account has a role (admin or helpdesk), a password kept as a slow hash
(verifier/slow_hash.py) and a Baoling token of its own: signing in takes the password and a code
from that token, checked by the same validation as every other code (verifier/validation.py),
so replay protection and the token's lockout apply to the console too. A wrong password never
reaches the token: the code stays unused and no failure is counted against it.

Sessions live in the store, keyed by the SHA-256 of the cookie, so signing out ends a session
on every node, and a session ends after `idle_s` without a request or `max_s` after sign-in.
Failed sign-ins are counted in the store as well (verifier/console/security.py has the limit's
rule), so the limit holds across nodes and restarts.
"""

import functools
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.console.security import WINDOW_S, limit_keys, over_limit
from baoling.verifier.doors import CONSOLE, through
from baoling.verifier.engine import DISABLED, LOCKED, REPLAY
from baoling.verifier.errors import InvalidRequest, UnknownToken
from baoling.verifier.inputs import check_token_id
from baoling.verifier.slow_hash import check_secret, hash_secret
from baoling.verifier.validation import Validation

ADMIN, HELPDESK = "admin", "helpdesk"
ROLES = (ADMIN, HELPDESK)
MIN_PASSWORD_CHARS = 12
MAX_NAME_CHARS = 64
_NAME = re.compile(rf"[a-z0-9][a-z0-9._-]{{0,{MAX_NAME_CHARS - 1}}}")

# SignInRefused.reason values: what the sign-in page tells the person.
WRONG = "wrong"  # the name, the password or the code (never said which)
REPLAYED = "replay"
RATE_LIMITED = "rate_limited"  # too many failures lately: nothing was checked
TOKEN_LOCKED = "locked"
TOKEN_DISABLED = "disabled"


class SignInRefused(Exception):
    """A sign-in that failed; `reason` is one of WRONG, REPLAYED, RATE_LIMITED, TOKEN_LOCKED,
    TOKEN_DISABLED. Not a VerifierError: only the sign-in page sees it, and it says no more
    than `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"sign-in refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Session:
    """A signed-in console session: whose, in which role, and the token its forms carry."""

    account: str
    role: str
    csrf: str
    created: float


@functools.cache
def _dummy_hash() -> str:
    """Checked when the account does not exist, so a wrong name takes as long as a wrong
    password (made on first use: hashing costs every import of the service otherwise)."""
    return hash_secret("not an account")


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _typed(name: str) -> dict[str, Any]:
    """A refused sign-in's name for its audit row: as typed, but a name longer than any
    account's cut to MAX_NAME_CHARS, with its length, so that whoever can reach the sign-in form
    cannot write a megabyte into the audit trail (and every audit page) with each attempt."""
    if len(name) <= MAX_NAME_CHARS:
        return {"console_account": name}
    return {"console_account": name[:MAX_NAME_CHARS] + "…", "typed_chars": len(name)}


def check_account_name(name: str) -> str:
    """`name`, or InvalidRequest: lower-case letters, digits, dot, hyphen, underscore."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidRequest(
            "an account name is 1 to 64 lower-case letters, digits, '.', '-' or '_', "
            "starting with a letter or digit"
        )
    return name


class ConsoleAccounts:
    """The console accounts and sessions of one store."""

    def __init__(self, db: store.Store, validation: Validation) -> None:
        self._store, self._validation = db, validation

    def add(self, name: str, role: str, password: str, token_id: str) -> dict[str, Any]:
        """A new account whose second factor is the enrolled token `token_id`."""
        check_account_name(name)
        check_token_id(token_id)
        if role not in ROLES:
            raise InvalidRequest(f"role must be {' or '.join(ROLES)}")
        if len(password) < MIN_PASSWORD_CHARS:
            raise InvalidRequest(f"a password has at least {MIN_PASSWORD_CHARS} characters")
        hashed = hash_secret(password)  # slow: before the write transaction
        now = time.time()
        with self._store.write() as conn:
            store.get_token(conn, token_id)  # UnknownToken when it is not enrolled
            if store.get_console_account(conn, name) is not None:
                raise InvalidRequest(f"console account {name!r} already exists")
            store.insert_console_account(
                conn,
                name=name,
                role=role,
                password_hash=hashed,
                token_id=token_id,
                active=True,
                created=now,
            )
            audit_log.append(conn, "console_account_add", token_id, now, account=name, role=role)
        return {"account": name, "role": role, "token": token_id}

    def set_active(self, name: str, active: bool) -> dict[str, Any]:
        """Deactivate an account (its sessions end at once, on every node; it cannot sign in)
        or make it active again."""
        return self._change(name, "console_account_" + ("enable" if active else "disable"), active)

    def set_password(self, name: str, password: str) -> dict[str, Any]:
        """Replace the account's password (a forgotten one); its sessions end."""
        if len(password) < MIN_PASSWORD_CHARS:
            raise InvalidRequest(f"a password has at least {MIN_PASSWORD_CHARS} characters")
        hashed = hash_secret(password)  # slow: before the write transaction
        return self._change(name, "console_account_password", password_hash=hashed)

    def set_token(self, name: str, token_id: str) -> dict[str, Any]:
        """Sign in with another enrolled token from now on (the account's own was lost); its
        sessions end."""
        check_token_id(token_id)
        return self._change(name, "console_account_token", token_id=token_id)

    def _change(
        self, name: str, action: str, active: bool | None = None, **values: str
    ) -> dict[str, Any]:
        """Change the account `name`, end its sessions and add the audit row `action`."""
        check_account_name(name)  # before the store: PostgreSQL refuses a NUL in a query
        now = time.time()
        with self._store.write() as conn:
            row = store.get_console_account(conn, name)
            if row is None:
                raise InvalidRequest(f"no console account {name!r}")
            if "token_id" in values:
                store.get_token(conn, values["token_id"])  # UnknownToken when not enrolled
            changed: dict[str, object] = dict(values)
            if active is not None:
                changed["active"] = active
            store.update_console_account(conn, name, **changed)
            ended = store.delete_console_sessions_of(conn, name)
            token_id = values.get("token_id", row.token_id)
            audit_log.append(conn, action, token_id, now, account=name, sessions_ended=ended)
        return {
            "account": name,
            "role": row.role,
            "token": token_id,
            "active": row.active if active is None else active,
        }

    def list_accounts(self) -> list[dict[str, Any]]:
        with self._store.read() as conn:
            return [
                {"account": row.name, "role": row.role, "token": row.token_id, "active": row.active}
                for row in store.list_console_accounts(conn)
            ]

    def sign_in(
        self, name: str, password: str, code: str, now: float | None = None, address: str = ""
    ) -> tuple[str, Session]:
        """Check the sign-in limit of the name and the client `address`, the password, then
        the code from the account's token; returns the new session's cookie value (shown to
        the browser only) and the session. Every refusal but the limit's counts against both:
        the attempt is counted as a failure when it passes the limit, in one serialised write,
        and taken back if it succeeds, so attempts sent at once cannot all pass the limit."""
        now = time.time() if now is None else now
        keys = limit_keys(name, address)
        with self._store.write() as conn:
            failures = store.console_sign_in_failures_since(conn, keys, now - WINDOW_S)
            limited = over_limit(failures, name, address)
            if not limited:
                counted = store.add_console_sign_in_failure(conn, keys, now, now - WINDOW_S)
            # A name no account can have is not looked up: PostgreSQL refuses a NUL in a query.
            row = store.get_console_account(conn, name) if _NAME.fullmatch(name) else None
        if limited:
            self._refused(name, RATE_LIMITED, now)
            raise SignInRefused(RATE_LIMITED)
        known = row is not None and row.active
        stored = row.password_hash if row is not None and known else _dummy_hash()
        password_ok = check_secret(password, stored)
        if row is None or not known or not password_ok:
            self._refused(name, "wrong_password" if known else "unknown_account", now)
            raise SignInRefused(WRONG)
        with audit_log.origin(console_account=name), through(CONSOLE, name):
            try:
                decision = self._validation.check(row.token_id, code, now)
            except UnknownToken:
                self._refused(name, "no_token", now)
                raise SignInRefused(WRONG) from None
        if not decision.accepted:
            self._refused(name, decision.reason, now)
            reason = {REPLAY: REPLAYED, LOCKED: TOKEN_LOCKED, DISABLED: TOKEN_DISABLED}
            raise SignInRefused(reason.get(decision.reason, WRONG))
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._store.write() as conn:
            store.forget_console_sign_in_failure(conn, counted)
            store.insert_console_session(conn, _digest(cookie), name, csrf, now, now - 86400)
            audit_log.append(
                conn, "console_sign_in", None, now, console_account=name, result="accept"
            )
        return cookie, Session(name, row.role, csrf, now)

    def _refused(self, name: str, reason: str, now: float) -> None:
        """The audit row of a refused sign-in (sign_in counted its failure)."""
        with self._store.write() as conn:
            audit_log.append(
                conn, "console_sign_in", None, now, result="reject", reason=reason, **_typed(name)
            )

    def session(self, cookie: str, idle_s: float, max_s: float) -> Session | None:
        """The live session of this cookie, its last use moved to now; None when there is
        none, it timed out (then it is ended), or its account was deactivated."""
        now = time.time()
        key = _digest(cookie)
        with self._store.write() as conn:
            row = store.get_console_session(conn, key)
            if row is None:
                return None
            account = store.get_console_account(conn, row.account)
            expired = now - row.seen > idle_s or now - row.created > max_s
            if expired or account is None or not account.active:
                store.delete_console_session(conn, key)
                audit_log.append(
                    conn, "console_session_end", None, now, console_account=row.account
                )
                return None
            store.touch_console_session(conn, key, now)
            return Session(row.account, account.role, row.csrf, row.created)

    def sign_out(self, cookie: str) -> None:
        """End the session of this cookie (on every node: it is gone from the store)."""
        now = time.time()
        with self._store.write() as conn:
            account = store.delete_console_session(conn, _digest(cookie))
            if account is not None:
                audit_log.append(conn, "console_sign_out", None, now, console_account=account)

    def audit(self, action: str, account: str, token_id: str | None = None, **detail: str) -> None:
        """An audit row for a console event no other module records (a refused page)."""
        now = time.time()
        with self._store.write() as conn:
            audit_log.append(conn, action, token_id, now, console_account=account, **detail)
