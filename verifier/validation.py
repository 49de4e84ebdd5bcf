"""Checking codes: validate (by token, or by user name), resync and a wrong static PIN. Each is
one write transaction that takes no store-wide lock (verifier/store.py, `concurrent_write`):
read the token (or the user's tokens), let the engine decide (verifier/engine.py, pure), apply
the decision with the store's atomic updates, append the audit row and the event a channel
takes (verifier/outbox.py), then commit, so the state, its audit row and its event land
together or not at all. On PostgreSQL a check by token needs no transaction: its read, then
one statement with the token's conditional UPDATE, its audit rows and its events, each commit
alone, two round trips (docs/operations.md); only a failure counted towards a burst, or one
whose token changed since it was read, takes a transaction. On SQLite a check by token
is a savepoint in a transaction that concurrent checks share, so they share its flush
(verifier/group_commit.py); each is answered after that commit."""

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Row

from baoling.verifier import audit as audit_log
from baoling.verifier import backup_codes, doors, store
from baoling.verifier.backup_codes import is_backup_code
from baoling.verifier.engine import (
    DIRECTORY_ERROR,
    NO_TOKEN,
    REPLAY,
    UNKNOWN_REALM,
    UNKNOWN_USER,
    USER_DEACTIVATED,
    Decision,
    Drift,
    Policy,
    TokenState,
    UserDecision,
)
from baoling.verifier.engine import check as engine_check
from baoling.verifier.engine import check_user as engine_check_user
from baoling.verifier.engine import resync as engine_resync
from baoling.verifier.engine import wrong_pin as engine_wrong_pin
from baoling.verifier.errors import DirectoryError, UnknownToken
from baoling.verifier.events import (
    BackupCodeUsed,
    TokenDriftFar,
    TokenLocked,
    ValidationAccepted,
    ValidationFailedBurst,
    ValidationReplay,
)
from baoling.verifier.inputs import check_code, check_time
from baoling.verifier.master_key import CurrentKey
from baoling.verifier.otp import HOTP, TOTP
from baoling.verifier.outbox import Outbox
from baoling.verifier.rate_limits import (
    NOT_COUNTED,
    RATE_LIMITED,
    Count,
    Key,
    RateLimits,
    cleared_by_accept,
    waiting,
)
from baoling.verifier.resolvers import Account, RealmResolvers, lost_entry
from baoling.verifier.user_names import UserName
from baoling.verifier.validation_metrics import UNKNOWN_TOKEN, ValidationCounts

_log = logging.getLogger(__name__)

_D = TypeVar("_D", Decision, UserDecision)

# Tokens whose HOTP/TOTP objects a Verifier keeps (each holds two hash states, a few hundred bytes).
MAX_CACHED_TOKENS = 10_000


def _origin(source: str | None) -> AbstractContextManager[None]:
    """The client's address on every audit row of the attempt, when it is known."""
    return audit_log.origin(**({} if source is None else {"source": source}))


def _user_and_source(keys: tuple[Key, ...]) -> tuple[str, str]:
    """The user name and source address an attempt's keys name ("" for one not known)."""
    return (
        next((key.user for key in keys if key.user), ""),
        next((key.source for key in keys if key.source), ""),
    )


BACKUP_CODE_AMR = ("otp",)  # a one-time code, but not from a hardware key


def amr(device_pin: bool) -> tuple[str, ...]:
    """The RFC 8176 methods an accepted token code shows (docs/verifier.md, "amr"): a hardware
    key ("hwk") and a one-time password ("otp"), and "pin" when the token has a device PIN,
    which it asks for before it shows a code."""
    return ("hwk", "otp", "pin") if device_pin else ("hwk", "otp")


def _accepted_amr(rows: list[Row[Any]], applied: list[Decision | None]) -> tuple[str, ...]:
    """The methods of the one of the user's tokens whose code was accepted, if any."""
    for token, decision in zip(rows, applied, strict=True):
        if decision is not None and decision.accepted:
            return amr(token.device_pin)
    return ()


def _state(row: Row[Any]) -> TokenState:
    """The engine's view of a token: disabled too while its user is deactivated, so a code given
    with the token's id is refused as one given with the user's name is."""
    return TokenState(
        last_step=row.last_step,
        fail_count=row.fail_count,
        locked_until=row.locked_until,
        enabled=row.enabled and not row.owner_deactivated,
        drift=Drift.from_json(row.drift),
        counter=row.counter,
    )


def _with_amr(decision: Decision, row: Row[Any]) -> Decision:
    """An accept names the methods of the token of `row` (amr)."""
    return dataclasses.replace(decision, amr=amr(row.device_pin)) if decision.accepted else decision


def _accepting(
    token_id: str, state: TokenState, decision: Decision, now: float, policy: Policy
) -> store.Change:
    """The token's conditional UPDATE for a decision accepted on `state` (store.accepting_step
    or accepting_counter)."""
    assert decision.step is not None  # an accepted decision names its step
    counter, latest = state.after(decision).counter, policy.latest_lock_end(now)
    if counter is None:
        drift = decision.drift.to_json()
        return store.accepting_step(token_id, decision.step, drift, now, latest)
    return store.accepting_counter(token_id, counter, now, latest)


def _came() -> dict[str, str | None]:
    """Where the code came from (verifier/doors.py), for the person an event concerns."""
    door = doors.current()
    return {"door": door.name, "client": door.client, "source": door.source}


def _planned(events: list[store.PlannedEvent | None]) -> list[store.PlannedEvent]:
    """The events a channel takes, of those planned."""
    return [event for event in events if event is not None]


class Validation:
    """Code checks against one store, under one lockout policy."""

    def __init__(
        self,
        db: store.Store,
        key: CurrentKey,
        policy: Policy,
        resolver: RealmResolvers,
        outbox: Outbox,
        limits: RateLimits,
        counts: ValidationCounts,
    ) -> None:
        """Every answer of check, check_user, waiting_for (a refusal), refuse_user and
        wrong_pin is counted in `counts`, here and only here (verifier/validation_metrics.py)."""
        self._store, self._key, self.policy, self._resolver = db, key, policy, resolver
        self._outbox, self.limits, self._metrics = outbox, limits, counts
        self._otps: dict[tuple[object, ...], HOTP] = {}

    def check(self, token_id: str, code: str, now: float | None = None) -> Decision:
        """The engine's decision for `code`, applied to the store, with its reason."""
        check_code(code)
        check_time(now)
        try:
            decision = self._decide("validate", token_id, now, self._checking(code))
        except UnknownToken:
            self._metrics.count(False, UNKNOWN_TOKEN)
            raise
        return self._counted(decision)

    def _checking(self, code: str) -> Callable[[HOTP, TokenState, float], Decision]:
        """The engine's check of `code`, as `_decide` takes it."""
        return lambda otp, state, t: engine_check(otp, state, code, t, self.policy)

    def _counted(self, decision: _D) -> _D:
        self._metrics.count(decision.accepted, decision.reason)
        return decision

    def check_user(
        self, user: UserName, code: str, now: float | None = None, source: str | None = None
    ) -> UserDecision:
        """Try `code` against each token of `user` (engine.check_user) and apply the result.
        An unknown realm or user, a deactivated user or one without a token is a rejection
        whose reason only the audit trail tells. `source` is the client's address for the
        rate limits (verifier/rate_limits.py): while one of the attempt's keys waits, the
        attempt is rejected untried (reason rate_limited); the source is in its audit rows."""
        check_code(code)
        check_time(now)
        now = time.time() if now is None else now
        # Before a slow hash or a directory search, so an attempt that waits costs neither;
        # any other attempt is checked inside its write transaction (_check_user) only.
        if is_backup_code(code) or self._resolver.directory(user.realm) is not None:
            refused = self._refusal_while_waiting(user, source, now)
            if refused is not None:
                return self._counted(refused)
        with _origin(source):
            keys = self.limits.keys(str(user), source)
            return self._counted(self._check_user(user, code, now, keys))

    def waiting_for(
        self, user: UserName, source: str | None, now: float | None = None
    ) -> UserDecision | None:
        """The rejection (reason rate_limited, audited) of an attempt for `user` from `source`
        while one of its rate-limit keys waits; None when it may go on. A front end asks this
        before any check of its own, such as a first factor (verifier/logins.py)."""
        refused = self._refusal_while_waiting(user, source, now)
        return None if refused is None else self._counted(refused)

    def _refusal_while_waiting(
        self, user: UserName, source: str | None, now: float | None
    ) -> UserDecision | None:
        now = time.time() if now is None else now
        keys = self.limits.keys(str(user), source)
        with self._store.read() as conn:
            waits = self._waiting(conn, keys, now)
        if waits is None:
            return None
        with _origin(source), self._store.concurrent_write() as conn:
            return self._reject_user(conn, user, RATE_LIMITED, now, limit=waits.kind)

    def refuse_user(
        self,
        user: UserName,
        reason: str,
        source: str | None,
        now: float | None = None,
        **detail: str,
    ) -> UserDecision:
        """Reject an attempt for `user` for a reason found before any code was tried, such as
        a wrong first factor or a directory that could not check it: audited (with `detail`),
        and counted in the rate limits as a wrong code is (unless its reason is NOT_COUNTED),
        never in the tokens' locks."""
        now = time.time() if now is None else now
        keys = self.limits.keys(str(user), source)
        with _origin(source), self._store.concurrent_write() as conn:
            store.lock_user_attempts(conn, str(user))
            rejected = self._reject_user(conn, user, reason, now, **detail)
            return self._counted(self._count(conn, keys, rejected, now))

    def _check_user(
        self, user: UserName, code: str, now: float, keys: tuple[Key, ...]
    ) -> UserDecision:
        # A backup code (verifier/backup_codes.py) is checked against its slow hash here,
        # outside the write transaction, and used up inside it.
        backup = backup_codes.candidate(self._store, user, code) if is_backup_code(code) else None
        try:  # outside the transaction: a slow directory must not hold the store's writer
            account = self._resolver.lookup(user)
            known_realm = account is not None or self._resolver.has_realm(user.realm)
        except DirectoryError as exc:  # fail closed; the administrator reads why in the audit
            _log.error("validation for %s rejected: %s", user, exc)
            with self._store.concurrent_write() as conn:
                return self._reject_user(conn, user, DIRECTORY_ERROR, now, problem=str(exc))
        with self._store.concurrent_write() as conn:
            store.lock_user_attempts(conn, str(user))
            stored = self._counts(conn, keys)  # again: others may have counted meanwhile
            waits = waiting(stored, now)
            if waits is not None:
                return self._reject_user(conn, user, RATE_LIMITED, now, limit=waits.kind)
            row = store.get_user(conn, user.realm, user.name)
            reason = self._refusal(conn, user, account, known_realm, row, now)
            if reason is not None:
                rejected = self._reject_user(conn, user, reason, now)
                return self._count(conn, keys, rejected, now, stored)
            assert row is not None  # _refusal: no row is a refusal
            if backup is not None:
                redeemed = backup_codes.redeem(conn, row.id, user, backup, now)
                if redeemed.accepted:
                    redeemed = dataclasses.replace(redeemed, amr=BACKUP_CODE_AMR)
                    if BackupCodeUsed.name in self._outbox.recorded_types:
                        left = store.backup_code_count(conn, row.id, now)
                        used = BackupCodeUsed(user=str(user), left=left, **_came())
                        self._outbox.emit(conn, used, now, user=user)
                return self._count(conn, keys, redeemed, now, stored)
            rows = store.user_tokens(conn, row.id)
            tried = [(self._otp(conn, token), _state(token)) for token in rows]
            decided = engine_check_user(tried, code, now, self.policy)
            if not rows:
                rejected = self._reject_user(conn, user, decided.reason, now)
                return self._count(conn, keys, rejected, now, stored)
            applied: list[Decision | None] = []
            for token, (_, state), decision in zip(rows, tried, decided.decisions, strict=True):
                if decision is not None:
                    decision = self._apply(conn, "validate", token.id, state, decision, now, user)
                applied.append(decision)
            if decided.accepted and not any(d is not None and d.accepted for d in applied):
                decided = UserDecision(False, REPLAY, tuple(applied))  # another node was first
            else:
                decided = dataclasses.replace(
                    decided, decisions=tuple(applied), amr=_accepted_amr(rows, applied)
                )
            return self._count(conn, keys, decided, now, stored)

    def _waiting(self, conn: Connection, keys: tuple[Key, ...], now: float) -> Key | None:
        """The first of the attempt's keys that waits at `now`, or None."""
        return waiting(self._counts(conn, keys), now)

    @staticmethod
    def _counts(conn: Connection, keys: tuple[Key, ...]) -> dict[Key, Count]:
        """The stored counts of the attempt's keys that have one."""
        found = {
            Key(row.kind, row.user_name, row.source): Count(
                row.failures, row.last_failure, row.blocked_until
            )
            for row in store.rate_limit_rows(conn, *_user_and_source(keys))
        }
        return {key: found[key] for key in keys if key in found}

    def _count(
        self,
        conn: Connection,
        keys: tuple[Key, ...],
        decided: UserDecision,
        now: float,
        stored: Mapping[Key, Count] | None = None,
    ) -> UserDecision:
        """Record the attempt in its rate-limit keys, in the transaction of its answer: an
        accept clears the user's keys (those of `stored`, the counts read in this
        transaction, when given); a counted failure adds one to each key, and a key past its
        allowance starts to wait (audited as `rate_limit`)."""
        if decided.accepted:
            cleared = cleared_by_accept(keys)
            if stored is not None:
                cleared = tuple(key for key in cleared if key in stored)
            store.clear_rate_keys(conn, cleared)
        elif decided.reason not in NOT_COUNTED:
            forget = self.limits.forgotten_before(now)
            for key in keys:
                failures = store.count_rate_failure(conn, key, now, forget)
                delay_s = self.limits.delay_s_after(key.kind, failures)
                if delay_s > 0:
                    store.block_rate_key(conn, key, now + delay_s)
                    named = {"user": key.user} if key.user else {}
                    audit_log.append(
                        conn,
                        "rate_limit",
                        None,
                        now,
                        limit=key.kind,
                        failures=failures,
                        blocked_until=now + delay_s,
                        **named,
                    )
        return decided

    @staticmethod
    def _reject_user(
        conn: Connection, user: UserName, reason: str, now: float, **detail: str
    ) -> UserDecision:
        """A rejection before any token was tried, audited with its reason."""
        audit_log.append(
            conn, "validate", None, now, user=str(user), result="reject", reason=reason, **detail
        )
        return UserDecision(False, reason)

    def _refusal(
        self,
        conn: Connection,
        user: UserName,
        account: Account | None,
        known_realm: bool,
        row: Row[Any] | None,
        now: float,
    ) -> str | None:
        """Why `user` cannot validate: an unknown realm or user, an inactive account or row,
        a directory user never added (no token); None when it may. A directory user whose
        entry is gone, or was replaced by a new one of the same name, is deactivated here for
        good, audited: its tokens stay, and the new entry does not inherit them."""
        if (
            row is not None
            and row.active
            and row.resolver == self._resolver.for_realm(user.realm).name
        ):
            why = lost_entry(store.directory_entry(conn, row.id), account)
            if why is not None:
                store.deactivate_user(conn, row.id, now)
                audit_log.append(conn, "user_deactivate", None, now, user=str(user), reason=why)
                return USER_DEACTIVATED
        if row is not None and not row.active:
            return USER_DEACTIVATED
        if account is None:
            return UNKNOWN_USER if known_realm else UNKNOWN_REALM
        if not account.active:
            return USER_DEACTIVATED
        return NO_TOKEN if row is None else None

    def resync(self, token_id: str, code1: str, code2: str, now: float | None = None) -> bool:
        """Find two consecutive codes in the wide window and move the token's offset there."""
        check_code(code1)
        check_code(code2)
        check_time(now)
        decision = self._decide(
            "resync",
            token_id,
            now,
            lambda otp, state, t: engine_resync(otp, state, code1, code2, t, self.policy),
        )
        return decision.accepted

    def wrong_pin(self, token_id: str, now: float | None = None) -> Decision:
        """Count a wrong or missing static PIN as one failed attempt, audited with reason
        "wrong_pin"."""
        check_time(now)
        return self._counted(
            self._decide(
                "validate",
                token_id,
                now,
                lambda otp, state, t: engine_wrong_pin(state, t, self.policy),
            )
        )

    def _decide(
        self,
        action: str,
        token_id: str,
        now: float | None,
        decide: Callable[[HOTP, TokenState, float], Decision],
    ) -> Decision:
        """Run `decide` on the token's current state inside one write transaction, apply
        its decision atomically and audit it."""
        now = time.time() if now is None else now
        if self._store.has_single_statements:  # one round trip for the read, one for the write
            with self._store.single_statements() as (conn, arm):
                row = store.get_token(conn, token_id)
                state = _state(row)
                decision = decide(self._otp(conn, row), state, now)
                if self._one_statement(state, decision):
                    arm()
                    applied = self._apply_at_once(conn, action, token_id, state, decision, now)
                    if applied is not None:
                        return _with_amr(applied, row)
        # Read again: a change of several rows, or a failure whose token changed since it was
        # read. On SQLite it may share its commit's flush with other validations
        # (Store.grouped_write).
        return self._store.grouped_write(
            lambda conn: self._decide_in(conn, action, token_id, now, decide)
        )

    def _one_statement(self, state: TokenState, decision: Decision) -> bool:
        """Whether applying `decision` is one statement (`_apply_at_once`), which needs no
        transaction: all but a counted failure while a channel takes validation.failed_burst,
        whose count of the token's failures in a window is a row read, then written, in the
        failure's transaction (Outbox.failure), and whose event carries that count."""
        counted = decision.fail_count > state.fail_count
        return not counted or ValidationFailedBurst.name not in self._outbox.recorded_types

    def prove(self, conn: Connection, token_id: str, code: str, now: float) -> Decision:
        """Check a code given to prove possession of the token (assigning it, verifier/
        users.py) inside the caller's write transaction, audited as "possession": the same
        engine as validate, so a right code is used up and a wrong one counts as a failure."""
        return self._decide_in(
            conn,
            "possession",
            token_id,
            now,
            self._checking(code),
        )

    def _decide_in(
        self,
        conn: Connection,
        action: str,
        token_id: str,
        now: float,
        decide: Callable[[HOTP, TokenState, float], Decision],
    ) -> Decision:
        row = store.get_token(conn, token_id, to_change=True)
        state = _state(row)
        decision = decide(self._otp(conn, row), state, now)
        return self._finish(conn, action, token_id, row, state, decision, now)

    def _finish(
        self,
        conn: Connection,
        action: str,
        token_id: str,
        row: Row[Any],
        state: TokenState,
        decision: Decision,
        now: float,
    ) -> Decision:
        """Apply the token's decision; an accept names its methods (amr)."""
        return _with_amr(self._apply(conn, action, token_id, state, decision, now), row)

    def _apply_at_once(
        self,
        conn: Connection,
        action: str,
        token_id: str,
        state: TokenState,
        decision: Decision,
        now: float,
    ) -> Decision | None:
        """`_apply` as one statement on PostgreSQL (audit.append_at_once), for a check by
        token: the token's conditional UPDATE, its audit row, a new lock's audit row and the
        events channels take, each only when the UPDATE's outcome calls for it, all committed
        as one. A failure's UPDATE sets the count and lock decided on the state read, only if
        they are still that state, so a lock is audited and reported exactly once; None when
        they changed meanwhile: nothing was written, and the caller decides again."""
        rejected: dict[str, object] = {"result": "reject", "reason": decision.reason}
        plan = self._outbox.planned
        if decision.accepted:
            return self._accept_at_once(conn, action, token_id, state, decision, now, {})
        if decision.fail_count > state.fail_count:
            rows: list[audit_log.AuditRow] = []
            events = []
            if self.policy.newly_locked(state.locked_until, decision.locked_until, now):
                lock: dict[str, Any] = {
                    "fail_count": decision.fail_count,
                    "locked_until": decision.locked_until,
                }
                rows.append(audit_log.AuditRow(True, "lock", lock))
                events.append(plan(TokenLocked, now, if_changed=True, token=token_id, **lock))
            before = (state.fail_count, state.locked_until)
            change = store.failing_from(
                token_id, before, (decision.fail_count, decision.locked_until)
            )
            counted = audit_log.append_at_once(
                conn, change, action, token_id, now, rejected, None, rows, _planned(events)
            )
            return None if counted is None else decision
        return self._reject_at_once(conn, action, token_id, decision, now, {})

    def _reject_at_once(
        self,
        conn: Connection,
        action: str,
        token_id: str,
        decision: Decision,
        now: float,
        by_user: dict[str, str],
    ) -> Decision:
        """Audit a rejection that changes nothing (not counted: a replay, a locked or disabled
        token) on PostgreSQL in one statement (audit.append_at_once), with validation.replay
        for a replay."""
        rejected: dict[str, object] = {"result": "reject", "reason": decision.reason, **by_user}
        came = {"token": token_id, **by_user, **_came()}
        replay = (
            self._outbox.planned(ValidationReplay, now, if_changed=True, **came)
            if decision.reason == REPLAY
            else None
        )
        audit_log.append_at_once(
            conn, None, action, token_id, now, rejected, None, (), _planned([replay])
        )
        return decision

    def _accept_at_once(
        self,
        conn: Connection,
        action: str,
        token_id: str,
        state: TokenState,
        decision: Decision,
        now: float,
        by_user: dict[str, str],
    ) -> Decision:
        """Apply an accept on PostgreSQL in one statement (audit.append_at_once): the token's
        conditional UPDATE, its audit row, and token.drift_far and validation.accepted when it
        changed the row, validation.replay when it did not (another node was first)."""
        plan, came = self._outbox.planned, {"token": token_id, **by_user, **_came()}
        far = self._outbox.drift_far(token_id, state.drift, decision.drift, now)
        events = [
            None if far is None else plan(TokenDriftFar, now, if_changed=True, **far.model_dump()),
            plan(ValidationAccepted, now, if_changed=True, **came)
            if action == "validate"
            else None,
            plan(ValidationReplay, now, if_changed=False, **came),
        ]
        accepted: dict[str, object] = {"result": "accept", "reason": decision.reason, **by_user}
        replayed: dict[str, object] = {"result": "reject", "reason": REPLAY, **by_user}
        change = _accepting(token_id, state, decision, now, self.policy)
        moved = audit_log.append_at_once(
            conn, change, action, token_id, now, accepted, replayed, (), _planned(events)
        )
        return decision if moved is not None else Decision.unchanged(REPLAY, decision.step, state)

    def _apply(
        self,
        conn: Connection,
        action: str,
        token_id: str,
        state: TokenState,
        decision: Decision,
        now: float,
        user: UserName | None = None,
    ) -> Decision:
        """Apply the engine's decision for one token atomically and audit it (with the user
        name the code came with, if any): the token's conditional UPDATE and its audit row are
        one statement on PostgreSQL (audit.append_with), an accept's events too."""
        by_user = {} if user is None else {"user": str(user)}
        if conn.dialect.name == "postgresql" and decision.accepted:
            return self._accept_at_once(conn, action, token_id, state, decision, now, by_user)
        counted = decision.fail_count > state.fail_count
        if conn.dialect.name == "postgresql" and not counted:
            return self._reject_at_once(conn, action, token_id, decision, now, by_user)
        rejected: dict[str, object] = {"result": "reject", "reason": decision.reason, **by_user}
        if decision.accepted:
            change = _accepting(token_id, state, decision, now, self.policy)
            accepted: dict[str, object] = {"result": "accept", "reason": decision.reason, **by_user}
            replayed: dict[str, object] = {**rejected, "reason": REPLAY}
            moved = audit_log.append_with(conn, change, action, token_id, now, accepted, replayed)
            if moved is None:
                decision = Decision.unchanged(REPLAY, decision.step, state)
        elif counted:
            decision = self._count_failure(conn, action, token_id, state, decision, now, rejected)
        else:
            audit_log.append(conn, action, token_id, now, **rejected)
        if decision.accepted:
            self._outbox.drift(conn, token_id, state.drift, decision.drift, now)
        if decision.reason == REPLAY or (decision.accepted and action == "validate"):
            kind = ValidationAccepted if decision.accepted else ValidationReplay
            self._outbox.emit(conn, kind(token=token_id, **by_user, **_came()), now)
        return decision

    def _count_failure(
        self,
        conn: Connection,
        action: str,
        token_id: str,
        state: TokenState,
        decision: Decision,
        now: float,
        rejected: dict[str, object],
    ) -> Decision:
        """Apply the engine's failure with the atomic SQL increment, audited as `rejected`;
        audit a new lock after it; count it towards a burst (verifier/outbox.py)."""
        policy = self.policy
        change = store.counting_failure(
            token_id,
            now,
            policy.lockout_after_fails,
            policy.lock_end(now),
            policy.latest_lock_end(now),
        )
        counted = audit_log.append_with(conn, change, action, token_id, now, rejected, rejected)
        if counted is None:
            raise UnknownToken(f"no token {token_id!r} is enrolled")
        fail_count, locked_until = counted.fail_count, counted.locked_until
        if policy.newly_locked(state.locked_until, locked_until, now):
            audit_log.append(
                conn, "lock", token_id, now, fail_count=fail_count, locked_until=locked_until
            )
            locked = TokenLocked(token=token_id, fail_count=fail_count, locked_until=locked_until)
            self._outbox.emit(conn, locked, now)
        self._outbox.failure(conn, token_id, now)
        return dataclasses.replace(decision, fail_count=fail_count, locked_until=locked_until)

    def _otp(self, conn: Connection, row: Row[Any]) -> HOTP:
        """The token's TOTP (HOTP for a counter token), kept while its sealed secret is
        unchanged: decrypting and
        precomputing the HMAC states again for every check would cost more than the check
        (docs/performance.md). The key is the sealed bytes, so a rotation or a new secret
        never meets a stale entry."""
        cache_key = (row.id, row.secret, row.algorithm, row.digits, row.period_s, row.kind)
        otp = self._otps.get(cache_key)
        if otp is None:
            if len(self._otps) >= MAX_CACHED_TOKENS:
                self._otps.clear()
            secret = self._key.open(conn, row)
            if row.kind == store.HOTP:
                otp = HOTP(secret, algorithm=row.algorithm, digits=row.digits)
            else:
                otp = TOTP(
                    secret, algorithm=row.algorithm, digits=row.digits, period_s=row.period_s
                )
            self._otps[cache_key] = otp
        return otp
