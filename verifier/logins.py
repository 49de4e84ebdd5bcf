"""Logins by user name through the doors that carry a password: RADIUS and privacyIDEA's
`/validate/check` (docs/users.md, "Password and code").

A user's first factor is its static PIN (verifier/user_pins.py) or, in a realm whose directory
says `first_factor = "ldap_bind"`, its directory password, checked by a bind as its entry
(verifier/ldap_resolver.py). A user with neither logs in with the code alone.

- One round: the password is the first factor followed by the code (the code is the last
  `digits` characters, tried for each code length among the user's tokens).
- Two rounds: the first factor alone earns a challenge, a random single-use State
  (verifier/radius_challenge.py) bound to the user's name and the door, kept in the store
  (verifier/challenges.py); the State with the code finishes the login.

A wrong first factor never earns a challenge and counts as one failed attempt (reason
wrong_pin) in the rate limits (verifier/rate_limits.py), as a wrong code given with the user's
name does, so guessing PINs slows down as guessing codes does; an attempt that waits is
refused before the first factor is checked (no PIN hash, no directory bind).
A user who could not log in anyway (unknown, deactivated, no token fit to answer) gets no
challenge either, whatever the password, so a challenge says nothing about who exists.
"""

import logging
import time
from dataclasses import dataclass
from typing import Literal, get_args

from baoling.verifier import store
from baoling.verifier.challenges import Challenges
from baoling.verifier.engine import DIRECTORY_ERROR, WRONG_PIN, UserDecision
from baoling.verifier.errors import DirectoryError
from baoling.verifier.resolvers import RealmResolvers
from baoling.verifier.slow_hash import check_secret
from baoling.verifier.user_names import UserName
from baoling.verifier.validation import Validation

ACCEPT, REJECT, CHALLENGE = "accept", "reject", "challenge"
# A user's own choice of rounds at a door that offers both (RADIUS): as the door says (its
# client entry's `challenge`), the first factor and the code in one password, or always two.
LoginRounds = Literal["client", "one", "two"]
LOGIN_ROUNDS: tuple[str, ...] = get_args(LoginRounds)
FOLLOW_DOOR, ONE_ROUND, TWO_ROUNDS = LOGIN_ROUNDS
# Why a first round got no challenge though nothing was wrong with what was typed.
NO_FIT_TOKEN = "no_token_fit_to_answer"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Login:
    """One round's answer: ACCEPT, REJECT or CHALLENGE (with its State and the tokens, id and
    code length, that may answer it); `reason` is for the log and the audit, never a secret."""

    result: str
    reason: str
    state: bytes | None = None
    tokens: tuple[tuple[str, int], ...] = ()
    decision: UserDecision | None = None


@dataclass(frozen=True)
class _Holder:
    """What the store knows of a user a login names: its PIN's hash, its tokens (id, code
    length, fit to answer now), whether it is active and its choice of rounds."""

    pin_hash: str | None
    tokens: tuple[tuple[str, int, bool], ...]
    active: bool
    rounds: str = FOLLOW_DOOR


class Logins:
    """Password-and-code logins against one store."""

    def __init__(
        self,
        db: store.Store,
        realms: RealmResolvers,
        validation: Validation,
        challenges: Challenges,
    ) -> None:
        self._store, self._realms = db, realms
        self._validation, self._challenges = validation, challenges

    def login(
        self,
        user: UserName,
        password: str,
        *,
        door: str,
        two_rounds: bool,
        timeout_s: float,
        now: float | None = None,
        source: str | None = None,
    ) -> Login:
        """The first (or only) round: in two rounds the password is the first factor alone,
        else the first factor followed by the code. `two_rounds` is the door's choice, which
        the user's own (LOGIN_ROUNDS) overrides. A user without a first factor sends the code
        alone either way. `source` is the client's address for the rate limits
        (verifier/rate_limits.py), asked before the first factor is checked."""
        waiting = self._validation.waiting_for(user, source, now)
        if waiting is not None:
            return Login(REJECT, waiting.reason, decision=waiting)
        holder = self._holder(user, now)
        if not self._has_first_factor(user, holder):
            return self._code(user, password, now, source)
        try:
            if holder.rounds == TWO_ROUNDS or (holder.rounds == FOLLOW_DOOR and two_rounds):
                return self._first_round(user, password, holder, door, timeout_s, source)
            return self._one_round(user, password, holder, now, source)
        except DirectoryError as exc:
            return self._refused(user, exc, source)

    def login_either(
        self,
        user: UserName,
        password: str,
        *,
        door: str,
        timeout_s: float,
        source: str | None = None,
    ) -> Login:
        """privacyIDEA's reading of a password: the first factor alone earns a challenge, the
        first factor and a code are one round."""
        waiting = self._validation.waiting_for(user, source)
        if waiting is not None:
            return Login(REJECT, waiting.reason, decision=waiting)
        holder = self._holder(user, None)
        if not self._has_first_factor(user, holder):
            return self._code(user, password, None, source)
        try:
            if self._first_factor_is(user, holder, password):
                return self._challenge(user, holder, door, timeout_s)
            return self._one_round(user, password, holder, None, source)
        except DirectoryError as exc:
            return self._refused(user, exc, source)

    def answer(
        self,
        state: bytes,
        user: UserName,
        code: str,
        *,
        door: str,
        now: float | None = None,
        source: str | None = None,
    ) -> Login:
        """The second round: the State is used up first, whatever follows; the code is
        checked only when the State was issued to this user on this door and has not
        expired."""
        refused = self._challenges.redeem(state, str(user), door)
        if refused is not None:
            return Login(REJECT, f"State {refused}")
        return self._code(user, code, now, source)

    # ------------------------------------------------------------------------------ rounds

    def _first_round(
        self,
        user: UserName,
        password: str,
        holder: _Holder,
        door: str,
        timeout_s: float,
        source: str | None,
    ) -> Login:
        if not self._first_factor_is(user, holder, password):
            return self._wrong_first_factor(user, holder, source)
        return self._challenge(user, holder, door, timeout_s)

    def _challenge(self, user: UserName, holder: _Holder, door: str, timeout_s: float) -> Login:
        fit = tuple((token, digits) for token, digits, ready in holder.tokens if ready)
        if not holder.active or not fit:
            return Login(REJECT, NO_FIT_TOKEN)
        state = self._challenges.issue(str(user), door, timeout_s)
        return Login(CHALLENGE, "first factor right", state, fit)

    def _one_round(
        self,
        user: UserName,
        password: str,
        holder: _Holder,
        now: float | None,
        source: str | None,
    ) -> Login:
        for digits in sorted({digits for _, digits, _ in holder.tokens}, reverse=True):
            if len(password) > digits and self._first_factor_is(user, holder, password[:-digits]):
                return self._code(user, password[-digits:], now, source)
        return self._wrong_first_factor(user, holder, source)

    def _code(self, user: UserName, code: str, now: float | None, source: str | None) -> Login:
        decision = self._validation.check_user(user, code, now, source)
        return Login(ACCEPT if decision.accepted else REJECT, decision.reason, decision=decision)

    def _wrong_first_factor(self, user: UserName, holder: _Holder, source: str | None) -> Login:
        """One failed attempt in the rate limits, as a wrong code given with the user's name
        is, never in the tokens' locks (which anyone who knows the name could close for the
        day); a user without tokens is refused as validation refuses it (unknown,
        deactivated, no token), audited there."""
        if not holder.tokens:
            return self._code(user, "", None, source)
        self._validation.refuse_user(user, WRONG_PIN, source)
        return Login(REJECT, WRONG_PIN)

    def _refused(self, user: UserName, problem: DirectoryError, source: str | None) -> Login:
        """The directory could not check the password: refused (fail closed), with the
        problem in the log and the audit trail for the administrator."""
        _log.error("login of %s refused: %s", user, problem)
        self._validation.refuse_user(user, DIRECTORY_ERROR, source, problem=str(problem))
        return Login(REJECT, DIRECTORY_ERROR)

    # ------------------------------------------------------------------------ first factor

    def _has_first_factor(self, user: UserName, holder: _Holder) -> bool:
        return (
            holder.pin_hash is not None or self._realms.password_directory(user.realm) is not None
        )

    def _first_factor_is(self, user: UserName, holder: _Holder, password: str) -> bool:
        """Whether `password` is the user's first factor: its directory password in a realm
        that binds, else its PIN."""
        directory = self._realms.password_directory(user.realm)
        if directory is not None:
            return directory.check_password(user, password)
        return holder.pin_hash is not None and check_secret(password, holder.pin_hash)

    def _holder(self, user: UserName, now: float | None) -> _Holder:
        now = time.time() if now is None else now
        policy = self._validation.policy
        with self._store.read() as conn:
            row = store.get_user(conn, user.realm, user.name)
            if row is None:
                return _Holder(None, (), False)
            tokens = tuple(
                (
                    token.id,
                    token.digits,
                    bool(token.enabled) and not policy.locked(token.locked_until, now),
                )
                for token in store.user_tokens(conn, row.id)
            )
            return _Holder(store.user_pin(conn, row.id), tokens, bool(row.active), row.login_rounds)
