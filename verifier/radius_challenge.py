"""The RADIUS challenge's State (docs/verifier.md, "Password, then code"): pure rules, no I/O.

After a right first factor the verifier answers Access-Challenge with a random State; the
client sends it back with the code. A State is a bearer value for one login, so it is random
(`STATE_BYTES` from `secrets`), kept in the store only as its SHA-256 (a reader of the
database cannot finish anyone's login), taken out of the store the first time it is presented
(whoever presents it, so it is single-use even when refused), and accepted only from the user
and client it was issued to, before it expires. The store's side is verifier/challenges.py.
"""

import hashlib
import secrets
from dataclasses import dataclass

STATE_BYTES = 16  # 128 random bits: not guessable within any expiry
DEFAULT_CHALLENGE_TIMEOUT_S = 60.0
CHALLENGE_MESSAGE = "Enter the code shown on your token"

# Why a presented State is refused (logged; the client only sees Access-Reject).
UNKNOWN_STATE = "unknown or already used"
EXPIRED_STATE = "expired"
OTHER_USER = "issued to another user"
OTHER_CLIENT = "issued to another client"


@dataclass(frozen=True)
class PendingChallenge:
    """A State issued and not yet presented: who it was issued to, and until when."""

    user_name: str
    client: str
    expires: float


def new_state() -> bytes:
    return secrets.token_bytes(STATE_BYTES)


def state_key(state: bytes) -> str:
    """The store's key for a State: its SHA-256, hex."""
    return hashlib.sha256(state).hexdigest()


def refusal(
    pending: PendingChallenge | None, user_name: str, client: str, now: float
) -> str | None:
    """Why a presented State may not finish this login (None: it may), given what the store
    held for it (None: nothing, because it was never issued or was used already)."""
    if pending is None:
        return UNKNOWN_STATE
    if now >= pending.expires:
        return EXPIRED_STATE
    if pending.client != client:
        return OTHER_CLIENT
    if pending.user_name != user_name:
        return OTHER_USER
    return None
