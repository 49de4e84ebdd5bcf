"""Users' static PINs (docs/users.md, "PINs"): set and cleared by an administrator or the
helpdesk, stored only as verifier/slow_hash.py's salted scrypt, and never written to a log, an
audit row, an error or an answer. The doors that carry a password ask for the PIN before the
code (verifier/logins.py).
"""

import time

from sqlalchemy.engine import Connection

from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.errors import InvalidRequest, UnknownUser
from baoling.verifier.slow_hash import hash_secret
from baoling.verifier.user_names import UserName

# A PIN is typed in front of a code in one RADIUS User-Password (at most 128 octets), so it is
# short; fewer than 4 characters is guessed within the lockout's allowance.
MIN_PIN_CHARS = 4
MAX_PIN_CHARS = 64


def check_pin_text(pin: object) -> str:
    """`pin` itself, or InvalidRequest saying the rule (never the PIN)."""
    if (
        not isinstance(pin, str)
        or not pin.isprintable()
        or not MIN_PIN_CHARS <= len(pin) <= MAX_PIN_CHARS
    ):
        raise InvalidRequest(
            f"the PIN must be {MIN_PIN_CHARS} to {MAX_PIN_CHARS} printable characters"
        )
    return pin


class UserPins:
    """The PINs of one store's users."""

    def __init__(self, db: store.Store) -> None:
        self._store = db

    def set(self, user: UserName, pin: str) -> None:
        """Give the user a PIN (replacing one it had); audited without the PIN."""
        pin_hash = hash_secret(check_pin_text(pin))  # slow: outside the write transaction
        now = time.time()
        with self._store.write() as conn:
            user_id = _user_id(conn, user)
            store.set_user_pin(conn, user_id, pin_hash, now)
            audit_log.append(conn, "user_pin_set", None, now, user=str(user))

    def clear(self, user: UserName) -> bool:
        """Take the user's PIN away: it then logs in with the code alone (or its directory
        password, in a realm that binds). False when it had none."""
        now = time.time()
        with self._store.write() as conn:
            cleared = store.clear_user_pin(conn, _user_id(conn, user))
            if cleared:
                audit_log.append(conn, "user_pin_clear", None, now, user=str(user))
            return cleared

    def has_pin(self, user: UserName) -> bool:
        with self._store.read() as conn:
            return store.user_pin(conn, _user_id(conn, user)) is not None


def _user_id(conn: Connection, user: UserName) -> int:
    row = store.get_user(conn, user.realm, user.name)
    if row is None:
        raise UnknownUser(f"no user {str(user)!r}")
    return int(row.id)
