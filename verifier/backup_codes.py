"""One-time backup codes for a user whose token is lost (docs/users.md, "Lost tokens").

The helpdesk issues a set of codes that expire at the end of a day it chooses; they are shown
once and stored only as slow hashes (verifier/slow_hash.py). A validation by user name
(`POST /v1/validate {"user", "code"}`, `Verifier.validate_user`) with a code of
BACKUP_CODE_DIGITS digits, a length no token has (core/limits.py: 6 to 8), checks it against
the user's backup codes instead of the tokens, and a code that matches is marked used in the
same write transaction as its audit row, before the answer, so it is accepted once, across
threads and nodes alike.

A code's first digit is its slot in the set (0 to 9); the other nine are random. The slot
picks the one stored hash to check, so a guess costs the verifier one slow hash, not one per
code of the set; the nine random digits (about 30 bits) are what a guesser has to find.
"""

import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Row

from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.engine import UserDecision
from baoling.verifier.errors import InvalidRequest, LifecycleConflict, UnknownUser
from baoling.verifier.events import BackupCodesIssued
from baoling.verifier.outbox import Outbox
from baoling.verifier.slow_hash import check_secret, hash_secret
from baoling.verifier.user_names import UserName

BACKUP_CODE_DIGITS = 10
MAX_BACKUP_CODES = 10  # one per slot digit
DEFAULT_BACKUP_CODES = 10
# Backup codes are a stopgap until the token is found or replaced.
MAX_BACKUP_DAYS = 90

# UserDecision.reason values of a validation with a backup code.
BACKUP_CODE = "backup_code"
WRONG_BACKUP_CODE = "wrong_backup_code"
BACKUP_CODE_USED = "backup_code_used"
BACKUP_CODE_EXPIRED = "backup_code_expired"

_REASONS = {
    store.CODE_USED: BACKUP_CODE,
    store.CODE_TAKEN: BACKUP_CODE_USED,
    store.CODE_EXPIRED: BACKUP_CODE_EXPIRED,
}

# Checked when the slot holds no code, so a wrong guess takes as long either way.
_DUMMY_HASH = hash_secret("0" * BACKUP_CODE_DIGITS)


def is_backup_code(code: str) -> bool:
    """Whether `code` has a backup code's form (no token's code has this length)."""
    return (
        isinstance(code, str)
        and len(code) == BACKUP_CODE_DIGITS
        and code.isascii()
        and code.isdigit()
    )


def new_codes(count: int) -> list[str]:
    """`count` fresh codes, slot digit first."""
    return [f"{slot}{secrets.randbelow(10**9):09d}" for slot in range(count)]


def expiry(last_day: date, time_zone: str, now: float) -> float:
    """When codes valid through `last_day` stop working: the midnight after it in
    `time_zone`. The day must be today or later (in that zone) and at most MAX_BACKUP_DAYS
    ahead."""
    if not isinstance(last_day, date) or isinstance(last_day, datetime):
        raise InvalidRequest("expires must be a date (YYYY-MM-DD)")
    zone = ZoneInfo(time_zone)
    today = datetime.fromtimestamp(now, zone).date()
    if last_day < today:
        raise InvalidRequest(f"expires must be today ({today.isoformat()}) or later")
    if last_day > today + timedelta(days=MAX_BACKUP_DAYS):
        raise InvalidRequest(f"expires must be at most {MAX_BACKUP_DAYS} days ahead")
    after = last_day + timedelta(days=1)
    return datetime(after.year, after.month, after.day, tzinfo=zone).timestamp()


@dataclass(frozen=True)
class Candidate:
    """What checking a backup code outside the write transaction found: the stored hash it
    matched (None: it matched none) and the slot."""

    slot: int
    matched_hash: str | None


class BackupCodes:
    """The backup codes of one store's users."""

    def __init__(self, db: store.Store, time_zone: str, outbox: Outbox) -> None:
        self._store, self._time_zone, self._outbox = db, time_zone, outbox

    def issue(
        self, user: UserName, last_day: date, count: int = DEFAULT_BACKUP_CODES
    ) -> tuple[list[str], float]:
        """A new set of `count` codes for an active user, valid through `last_day`; returns
        the codes (show them once, they are stored hashed) and when they expire. Any codes
        the user still had are revoked."""
        if (
            isinstance(count, bool)
            or not isinstance(count, int)
            or not 0 < count <= MAX_BACKUP_CODES
        ):
            raise InvalidRequest(f"count must be a whole number from 1 to {MAX_BACKUP_CODES}")
        now = time.time()
        expires = expiry(last_day, self._time_zone, now)
        with self._store.read() as conn:
            self._active_user(conn, user)  # before the slow hashes: a refusal costs none
        codes = new_codes(count)
        hashes = [hash_secret(code) for code in codes]  # slow: before the write transaction
        with self._store.write() as conn:
            row = self._active_user(conn, user)
            revoked = store.replace_backup_codes(conn, row.id, hashes, now, expires)
            audit_log.append(
                conn,
                "backup_codes_issue",
                None,
                now,
                user=str(user),
                count=count,
                expires=expires,
                revoked=revoked,
            )
            issued = BackupCodesIssued(user=str(user), count=count, expires=expires)
            self._outbox.emit(conn, issued, now, user=user)
        return codes, expires

    @staticmethod
    def _active_user(conn: Connection, user: UserName) -> Row[Any]:
        row = store.get_user(conn, user.realm, user.name)
        if row is None:
            raise UnknownUser(f"no user {str(user)!r}")
        if not row.active:
            raise LifecycleConflict(f"user {str(user)!r} is deactivated; reactivate it first")
        return row

    def revoke(self, user: UserName) -> int:
        """Revoke the user's backup codes; returns how many were still usable."""
        now = time.time()
        with self._store.write() as conn:
            row = store.get_user(conn, user.realm, user.name)
            if row is None:
                raise UnknownUser(f"no user {str(user)!r}")
            revoked = store.revoke_backup_codes(conn, row.id, now)
            audit_log.append(
                conn, "backup_codes_revoke", None, now, user=str(user), revoked=revoked
            )
        return revoked


def candidate(db: store.Store, user: UserName, code: str) -> Candidate:
    """Check `code` (is_backup_code) against the stored hash of its slot: read in a read
    transaction, checked outside any, as a slow hash must not hold the store's writer."""
    slot = int(code[0])
    with db.read() as conn:
        stored = store.backup_code_hash(conn, user.realm, user.name, slot)
    matched = check_secret(code, stored or _DUMMY_HASH) and stored is not None
    return Candidate(slot, stored if matched else None)


def redeem(
    conn: Connection, user_id: int, user: UserName, found: Candidate, now: float
) -> UserDecision:
    """Inside the validation's write transaction: use the matched code up (once: a
    conditional UPDATE) and audit the answer."""
    reason = WRONG_BACKUP_CODE
    if found.matched_hash is not None:
        state = store.use_backup_code(conn, user_id, found.slot, found.matched_hash, now)
        reason = _REASONS.get(state, WRONG_BACKUP_CODE)  # CODE_GONE: revoked meanwhile
    accepted = reason == BACKUP_CODE
    audit_log.append(
        conn,
        "validate",
        None,
        now,
        user=str(user),
        result="accept" if accepted else "reject",
        reason=reason,
        backup_slot=found.slot,
    )
    return UserDecision(accepted, reason)
