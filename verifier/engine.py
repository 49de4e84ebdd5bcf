"""The verifier's decisions (docs/engine.md): pure, with `now` as an argument.

`check`, `resync` and `wrong_pin` take a token's state and return a Decision: accepted or
not, why, the step (TOTP) or counter (HOTP) matched, and the state to store after it. They do
no I/O and read no clock, so the store applies a decision with its own atomic updates (a
conditional UPDATE on last_step, or on the HOTP counter, for an accept; an SQL increment for a
failure) and tests need no clock patching. docs/engine.md
explains the window, drift learning, replay protection and the lockout trade-off.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from baoling.verifier.constants import (
    DEFAULT_DRIFT_BOUND_PPM,
    DEFAULT_HOTP_RESYNC_WINDOW,
    DEFAULT_HOTP_WINDOW,
    DEFAULT_LOCKOUT_TZ,
    DEFAULT_MAX_WINDOW_STEPS,
    DEFAULT_RESYNC_WINDOW_STEPS,
    DEFAULT_WINDOW_STEPS,
    LOCKOUT_AFTER_FAILS,
    MAX_CLOCK_SKEW_S,
    MAX_DRIFT_RATE_PPM,
    MAX_DRIFT_UPDATE_STEPS,
    MAX_HOTP_COUNTER,
)
from baoling.verifier.drift import Drift, observation_tolerance_s
from baoling.verifier.errors import InvalidRequest
from baoling.verifier.otp import HOTP, TOTP

# Decision.reason values.
ACCEPTED = "accepted"
WRONG_CODE = "wrong_code"
REPLAY = "replay"
LOCKED = "locked"
DISABLED = "disabled"
MALFORMED = "malformed"
RESYNCED = "resynced"
RESYNC_FAILED = "resync_failed"
WRONG_PIN = "wrong_pin"
# A rejection by user name (docs/users.md): why no token of the user was tried.
UNKNOWN_REALM = "unknown_realm"
UNKNOWN_USER = "unknown_user"
USER_DEACTIVATED = "user_deactivated"
NO_TOKEN = "no_token"
# The realm's directory could not answer (verifier/ldap_resolver.py): fail closed.
DIRECTORY_ERROR = "directory_error"
# Which token's reason names a rejection by user name when none accepted: the most telling.
_USER_REASONS = (REPLAY, WRONG_CODE, MALFORMED, LOCKED, DISABLED)


def _whole(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidRequest(f"{name} must be a whole number of at least {minimum}, not {value!r}")


@dataclass(frozen=True)
class Policy:
    """How codes are checked; every field is checked when the policy is made."""

    window_steps: int = DEFAULT_WINDOW_STEPS
    resync_window_steps: int = DEFAULT_RESYNC_WINDOW_STEPS
    lockout_after_fails: int = LOCKOUT_AFTER_FAILS
    lockout_seconds: int | None = None  # None: locked until the end of the day in lockout_tz
    lockout_tz: str = DEFAULT_LOCKOUT_TZ
    drift_learning: bool = True
    # HOTP tokens: how many codes from the expected one are checked, and for a resync.
    hotp_window: int = DEFAULT_HOTP_WINDOW
    hotp_resync_window: int = DEFAULT_HOTP_RESYNC_WINDOW
    # The reach (docs/engine.md), with drift learning: the most a token's crystal can be off
    # (ppm; 0 turns the reach off), and the most steps from the predicted one a code is sought.
    drift_bound_ppm: float = DEFAULT_DRIFT_BOUND_PPM
    max_window_steps: int = DEFAULT_MAX_WINDOW_STEPS
    reach_ppm: float = field(init=False, repr=False, compare=False, default=0.0)
    reach_cap: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        _whole("window_steps", self.window_steps, 0)
        _whole("resync_window_steps", self.resync_window_steps, 1)
        _whole("hotp_window", self.hotp_window, 1)
        _whole("hotp_resync_window", self.hotp_resync_window, 2)
        _whole("lockout_after_fails", self.lockout_after_fails, 1)
        if self.lockout_seconds is not None:
            _whole("lockout_seconds", self.lockout_seconds, 1)
        try:
            ZoneInfo(self.lockout_tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise InvalidRequest(
                f"lockout_tz must be an IANA time zone such as UTC or Asia/Shanghai, "
                f"not {self.lockout_tz!r}"
            ) from None
        if not isinstance(self.drift_learning, bool):
            raise InvalidRequest("drift_learning must be true or false")
        bound = self.drift_bound_ppm
        if (
            isinstance(bound, bool)
            or not isinstance(bound, int | float)
            or not 0 <= bound <= MAX_DRIFT_RATE_PPM
        ):
            raise InvalidRequest(
                f"drift_bound_ppm must be a number from 0 to {MAX_DRIFT_RATE_PPM:g}, not {bound!r}"
            )
        _whole("max_window_steps", self.max_window_steps, 0)
        # The reach as check() uses it: no bound without drift learning, whose last-seen point
        # never moves (the reach would grow without end); a cap below the window is the window.
        object.__setattr__(self, "reach_ppm", float(bound) if self.drift_learning else 0.0)
        object.__setattr__(self, "reach_cap", max(self.max_window_steps, self.window_steps))

    def lock_end(self, now: float) -> float:
        """When a lock that starts at `now` ends: now + lockout_seconds, or the next midnight in
        lockout_tz (daylight-saving changes included, as zoneinfo knows them)."""
        if self.lockout_seconds is not None:
            return now + self.lockout_seconds
        zone = ZoneInfo(self.lockout_tz)
        tomorrow = datetime.fromtimestamp(now, zone).date() + timedelta(days=1)
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).timestamp()

    def latest_lock_end(self, now: float) -> float:
        """The latest end a lock that holds at `now` can have: that of a lock set by a clock
        up to MAX_CLOCK_SKEW_S ahead of `now` (another node's)."""
        return self.lock_end(now + MAX_CLOCK_SKEW_S)

    def locked(self, locked_until: float | None, now: float) -> bool:
        """Whether a lock that ends at `locked_until` holds at `now`. A lock that ends later
        than `latest_lock_end(now)` does not: it was set while a server's clock ran ahead, and
        would outlast the clock's correction by as much (docs/engine.md). The store's SQL
        follows the same rule (verifier/store.py, `_UNLOCKED`)."""
        return (
            locked_until is not None
            and now < locked_until
            and locked_until <= self.latest_lock_end(now)
        )

    def newly_locked(self, before: float | None, after: float | None, now: float) -> bool:
        """Whether a failure that moved a token's lock end from `before` to `after` locked it:
        the one lock row and token.locked event it gets."""
        return self.locked(after, now) and not self.locked(before, now)


# TokenState and Decision are values that are never changed once made (the engine builds new
# ones), but not frozen dataclasses: a frozen one's constructor sets each field through
# object.__setattr__, three times the cost of a slotted one's (bench/engine_check.py).
# tests/test_engine_properties.py checks that the engine leaves the state it is given as it was.
@dataclass(slots=True)
class TokenState:
    """What the store keeps about a token besides its secret."""

    last_step: int | None = None  # the last accepted step; codes at or before it are replays
    fail_count: int = 0  # consecutive failures since the last accepted code or unlock
    locked_until: float | None = None  # unix time; locked while now < locked_until
    enabled: bool = True
    drift: Drift = Drift()  # one shared default: a Drift is never changed once made
    # HOTP tokens only: the next counter expected (RFC 4226's C); codes for counters below it
    # are used. None for a TOTP token.
    counter: int | None = None

    def after(self, decision: "Decision") -> "TokenState":
        """The state to store after `decision`, made on this state: an accept moves the last
        step (TOTP) or the counter past the step matched (HOTP)."""
        last_step, counter = self.last_step, self.counter
        if decision.accepted and counter is None:
            last_step = decision.step
        elif decision.accepted:
            assert decision.step is not None  # an accepted decision names its step
            counter = decision.step + 1
        return TokenState(
            last_step,
            decision.fail_count,
            decision.locked_until,
            self.enabled,
            decision.drift,
            counter,
        )


@dataclass(slots=True)
class Decision:
    """The engine's answer, and what changes with it: the token's failure count, lock and
    drift estimate after it (for a rejection, with the failure counted and the lock set when
    the count reaches the policy's threshold). `TokenState.after` gives the whole state to
    store. One value, not a Decision holding a new TokenState: every wrong code builds one,
    and a second object was a tenth of a check's cost (docs/performance.md)."""

    accepted: bool
    reason: str
    step: int | None
    fail_count: int
    locked_until: float | None
    drift: Drift
    # RFC 8176 methods of an accept, set by verifier/validation.py (the engine never knows them).
    amr: tuple[str, ...] = ()

    @classmethod
    def unchanged(cls, reason: str, step: int | None, state: TokenState) -> "Decision":
        """A rejection that changes nothing of `state` (a replay, a locked or disabled token)."""
        return cls(False, reason, step, state.fail_count, state.locked_until, state.drift)


@dataclass(frozen=True)
class UserDecision:
    """The answer for a code given with a user name: `decisions` holds, for each of the user's
    tokens in the order tried, the Decision to apply, or None for a token left untouched."""

    accepted: bool
    reason: str
    decisions: tuple[Decision | None, ...] = ()
    amr: tuple[str, ...] = ()  # as Decision's, of the token (or backup code) that was accepted


def predicted_step(otp: TOTP, drift: Drift, now: float) -> int:
    """The step the token shows at `now` by the drift estimate: the window's centre."""
    return otp.step_at(now + drift.offset_at(now))


def observed_offset_s(otp: TOTP, step: int, now: float) -> float:
    """The token clock's offset implied by seeing `step` at `now`: the midpoint of the
    interval of offsets that show that step (unbiased, unlike the step's start)."""
    return (step + 0.5) * otp.period_s - now


def check(otp: HOTP, state: TokenState, code: str, now: float, policy: Policy) -> Decision:
    """Accept `code` if it is the token's code at a step in the window of +-window_steps around
    the predicted step, and later than the last accepted step; for an HOTP token (`otp` not a
    TOTP), at a counter among the hotp_window from the expected one (`_check_counter`)."""
    # _refuse is called only when it can refuse: every check by a usable token skips it.
    if state.locked_until is not None or not state.enabled:
        refused = _refuse(state, now, policy)
        if refused is not None:
            return refused
    value = otp.parse(code)
    if value is None:
        return _failure(state, MALFORMED, now, policy)
    if not isinstance(otp, TOTP):
        return _check_counter(otp, state, value, now, policy)
    drift = state.drift
    low, high = drift.steps(otp, now, policy.window_steps, policy.reach_ppm, policy.reach_cap)
    if low < 0:
        low = 0
    last_step = state.last_step
    fresh_from = low if last_step is None or last_step < low else last_step + 1
    step = otp.find(value, range(fresh_from, high + 1))
    if step is None:
        # The steps skipped as already used: a match there is a replay (RFC 6238 section 5.2).
        if fresh_from > low:
            replayed = otp.find(value, range(low, fresh_from if fresh_from <= high else high + 1))
            if replayed is not None:
                return Decision.unchanged(REPLAY, replayed, state)
        return _failure(state, WRONG_CODE, now, policy)
    if policy.drift_learning:
        drift = drift.observe(
            now,
            observed_offset_s(otp, step, now),
            MAX_DRIFT_UPDATE_STEPS * otp.period_s,
            observation_tolerance_s(otp.period_s),
        )
    return _accept(ACCEPTED, step, drift)


def _check_counter(
    otp: HOTP, state: TokenState, value: int, now: float, policy: Policy
) -> Decision:
    """RFC 4226 section 7.4: the codes of counters C .. C + hotp_window - 1, C the next counter
    expected; a match moves C past it, so it and every earlier code are used up. A match among
    the hotp_window counters before C is a replay."""
    expected = state.counter or 0
    found = otp.find(value, _counters(expected, policy.hotp_window))
    if found is None:
        replayed = otp.find(value, range(max(expected - policy.hotp_window, 0), expected))
        if replayed is not None:
            return Decision.unchanged(REPLAY, replayed, state)
        return _failure(state, WRONG_CODE, now, policy)
    return _accept_counter(state, ACCEPTED, found)


def _counters(first: int, count: int) -> range:
    """`count` counters from `first`, none whose next counter the store could not keep."""
    return range(first, min(first + count, MAX_HOTP_COUNTER))


def check_user(
    tokens: Sequence[tuple[HOTP, TokenState]], code: str, now: float, policy: Policy
) -> UserDecision:
    """Try `code` against each of a user's tokens. One that accepts it is the only one that
    changes: the others were not wrong, the user just holds the right one. A code that is a
    replay for any of them is refused for all, so one code is never accepted twice across the
    user's tokens, even two that share a secret. When none accepts it, no token changes: a
    failure given with a user name counts in the rate limits (verifier/rate_limits.py), which
    slow a guesser down, never in the tokens' locks, which anyone who knows the user name
    could otherwise close for the day. A locked or disabled token still refuses."""
    if not tokens:
        return UserDecision(False, NO_TOKEN)
    decisions = [check(otp, state, code, now, policy) for otp, state in tokens]
    reasons = {decision.reason for decision in decisions}
    if REPLAY not in reasons:
        for index, decision in enumerate(decisions):
            if decision.accepted:
                untouched = len(decisions) - index - 1
                return UserDecision(
                    True, ACCEPTED, (None,) * index + (decision,) + (None,) * untouched
                )
    reason = next(reason for reason in _USER_REASONS if reason in reasons)
    failed = tuple(
        None if decision.accepted else Decision.unchanged(decision.reason, decision.step, state)
        for decision, (_, state) in zip(decisions, tokens, strict=True)
    )
    return UserDecision(False, reason, failed)


def resync(
    otp: HOTP, state: TokenState, code1: str, code2: str, now: float, policy: Policy
) -> Decision:
    """Accept two consecutive codes found within +-resync_window_steps of the predicted step,
    later than the last accepted step, and set the drift estimate's offset at the second one
    (verifier.drift.Drift.resync). For an HOTP token, two consecutive codes among the
    hotp_resync_window counters from the expected one; the counter moves past the second.

    Costs one code per step of the window (2 * resync_window_steps + 1, or hotp_resync_window),
    plus one (code2's) for each step where code1 matches (docs/engine.md).
    """
    refused = _refuse(state, now, policy)
    if refused is not None:
        return refused
    value1, value2 = otp.parse(code1), otp.parse(code2)
    if value1 is None or value2 is None:
        return _failure(state, MALFORMED, now, policy)
    if not isinstance(otp, TOTP):
        counters = _counters(state.counter or 0, policy.hotp_resync_window)
        second = _consecutive(otp, value1, value2, counters)
        if second is None:
            return _failure(state, RESYNC_FAILED, now, policy)
        return _accept_counter(state, RESYNCED, second)
    centre = predicted_step(otp, state.drift, now)
    low = max(centre - policy.resync_window_steps, 0)
    if state.last_step is not None:
        low = max(low, state.last_step + 1)
    second = _consecutive(otp, value1, value2, range(low, centre + policy.resync_window_steps + 1))
    if second is None:
        return _failure(state, RESYNC_FAILED, now, policy)
    drift = state.drift.resync(now, observed_offset_s(otp, second, now))
    return _accept(RESYNCED, second, drift)


def _consecutive(otp: HOTP, value1: int, value2: int, candidates: range) -> int | None:
    """The counter of `value2` where `value1` is the code at one of `candidates` and `value2`
    the code right after it; None when there is no such pair."""
    first = otp.find(value1, candidates)
    while first is not None:
        second = first + 1
        if second < MAX_HOTP_COUNTER and otp.find(value2, (second,)) == second:
            return second
        first = otp.find(value1, range(second, candidates.stop))
    return None


def wrong_pin(state: TokenState, now: float, policy: Policy) -> Decision:
    """A wrong or missing static PIN in front of the code (RADIUS): one failure, exactly as a
    wrong code is, so guessing PINs runs into the lockout; no code is looked at."""
    refused = _refuse(state, now, policy)
    if refused is not None:
        return refused
    return _failure(state, WRONG_PIN, now, policy)


def _refuse(state: TokenState, now: float, policy: Policy) -> Decision | None:
    """Disabled and locked tokens reject everything, right codes included, without computing
    any code and without counting a failure."""
    if not state.enabled:
        return Decision.unchanged(DISABLED, None, state)
    if policy.locked(state.locked_until, now):
        return Decision.unchanged(LOCKED, None, state)
    return None


def _accept(reason: str, step: int, drift: Drift) -> Decision:
    """A TOTP accept at `step`, with the drift estimate after it: failures and lock cleared."""
    return Decision(True, reason, step, 0, None, drift)


def _accept_counter(state: TokenState, reason: str, counter: int) -> Decision:
    """An HOTP accept at `counter`: the next counter expected is the one after it
    (TokenState.after)."""
    return Decision(True, reason, counter, 0, None, state.drift)


def _failure(state: TokenState, reason: str, now: float, policy: Policy) -> Decision:
    """One more failure; reaching lockout_after_fails locks the token from `now` (a lock that
    has expired is not cleared by time: the next failure locks again at once). A replay is
    not one (`Decision.unchanged`): a copy of a right code is no guess, and counting copies
    would let a double submit or a client's retries lock the token."""
    fail_count = state.fail_count + 1
    locked_until = state.locked_until
    if fail_count >= policy.lockout_after_fails and not policy.locked(state.locked_until, now):
        locked_until = policy.lock_end(now)
    return Decision(False, reason, None, fail_count, locked_until, state.drift)


__all__ = [
    "Decision",
    "Drift",
    "Policy",
    "TokenState",
    "UserDecision",
    "check",
    "check_user",
    "predicted_step",
    "resync",
    "wrong_pin",
]
