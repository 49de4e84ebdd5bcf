"""verifier.engine lockout: N consecutive failures lock; a locked token rejects right codes;
the lock ends at a time (a number of seconds, or the end of the day in a zone) or by an
administrator's unlock. A wrong RADIUS PIN counts as a wrong code does. Expected lock ends are
written out from the calendar, not computed."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from baoling.verifier.engine import Policy, TokenState, check, wrong_pin
from baoling.verifier.otp import TOTP

SECRET = b"12345678901234567890"
PERIOD_S = 30
# 2026-11-24 10:00:00 UTC: a Tuesday, far from any daylight-saving change.
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def otp() -> TOTP:
    return TOTP(SECRET, period_s=PERIOD_S)


def wrong_code(otp: TOTP, now: float) -> str:
    step = otp.step_at(now)
    window = {otp.code_at_step(s) for s in range(step - 3, step + 4)}
    return next(code for code in ("000000", "111111", "222222") if code not in window)


def fail(otp: TOTP, state: TokenState, now: float, policy: Policy, times: int) -> TokenState:
    for _ in range(times):
        decision = check(otp, state, wrong_code(otp, now), now, policy)
        assert not decision.accepted
        state = state.after(decision)
    return state


def right_code(otp: TOTP, now: float) -> str:
    return otp.code_at_step(otp.step_at(now))


def test_default_locks_after_ten_failures_until_midnight_utc(otp: TOTP) -> None:
    policy = Policy()
    state = fail(otp, TokenState(), NOW, policy, 9)
    assert state.fail_count == 9
    assert state.locked_until is None
    tenth = check(otp, state, wrong_code(otp, NOW), NOW, policy)
    assert tenth.reason == "wrong_code"
    assert tenth.fail_count == 10
    assert tenth.locked_until == datetime(2026, 11, 25, 0, 0, tzinfo=UTC).timestamp()


def test_locked_token_rejects_its_right_code_and_counts_nothing(otp: TOTP) -> None:
    policy = Policy(lockout_after_fails=3, lockout_seconds=600)
    state = fail(otp, TokenState(), NOW, policy, 3)
    assert state.locked_until == NOW + 600
    later = NOW + 60
    decision = check(otp, state, right_code(otp, later), later, policy)
    assert (decision.accepted, decision.reason, decision.step) == (False, "locked", None)
    assert state.after(decision) == state


def test_time_based_lock_expires_at_its_end(otp: TOTP) -> None:
    policy = Policy(lockout_after_fails=3, lockout_seconds=600)
    state = fail(otp, TokenState(), NOW, policy, 3)
    just_before = NOW + 600 - 0.001
    assert check(otp, state, right_code(otp, just_before), just_before, policy).reason == "locked"
    end = NOW + 600
    decision = check(otp, state, right_code(otp, end), end, policy)
    assert (decision.accepted, decision.reason) == (True, "accepted")
    assert (decision.fail_count, decision.locked_until) == (0, None)


def test_after_a_lock_expires_one_more_failure_locks_again(otp: TOTP) -> None:
    # The count is not cleared by time: a guesser gets one try per lock period, not N.
    policy = Policy(lockout_after_fails=3, lockout_seconds=600)
    state = fail(otp, TokenState(), NOW, policy, 3)
    after = NOW + 601
    decision = check(otp, state, wrong_code(otp, after), after, policy)
    assert decision.fail_count == 4
    assert decision.locked_until == after + 600


def test_a_lock_set_by_a_clock_a_year_ahead_ends_when_the_clock_is_right(otp: TOTP) -> None:
    # The server's clock ran a year ahead: its users' right codes were all wrong, and locked
    # their tokens until a year from now. Once the clock is right, that lock no longer holds.
    policy = Policy(lockout_after_fails=3, lockout_seconds=600)
    ahead = NOW + 365 * 86400
    state = fail(otp, TokenState(), ahead, policy, 3)
    assert state.locked_until == ahead + 600
    later = ahead + 60  # while the clock is still ahead, the lock holds
    assert check(otp, state, right_code(otp, later), later, policy).reason == "locked"
    decision = check(otp, state, right_code(otp, NOW), NOW, policy)
    assert (decision.accepted, decision.fail_count, decision.locked_until) == (True, 0, None)
    # Its count stays: one more wrong code locks it again at once, from the right time.
    again = check(otp, state, wrong_code(otp, NOW), NOW, policy)
    assert (again.reason, again.fail_count, again.locked_until) == ("wrong_code", 4, NOW + 600)


@pytest.mark.parametrize(("ahead_s", "holds"), [(1, True), (299, True), (301, False)])
def test_a_lock_from_a_clock_ahead_holds_within_the_nodes_allowed_skew(
    otp: TOTP, ahead_s: float, holds: bool
) -> None:
    # Another node's clock `ahead_s` ahead set the lock; MAX_CLOCK_SKEW_S is 300 s.
    policy = Policy(lockout_after_fails=3, lockout_seconds=600)
    state = fail(otp, TokenState(), NOW + ahead_s, policy, 3)
    assert policy.locked(state.locked_until, NOW) is holds
    reason = check(otp, state, right_code(otp, NOW), NOW, policy).reason
    assert reason == ("locked" if holds else "accepted")


def test_a_lock_until_a_later_midnight_holds_no_longer_than_today(otp: TOTP) -> None:
    # Locked by a clock a day ahead: until the midnight after tomorrow (2026-11-26 00:00 UTC).
    policy = Policy(lockout_after_fails=1)
    tomorrow = NOW + 86400
    state = fail(otp, TokenState(), tomorrow, policy, 1)
    assert state.locked_until == datetime(2026, 11, 26, 0, 0, tzinfo=UTC).timestamp()
    assert check(otp, state, right_code(otp, tomorrow), tomorrow, policy).reason == "locked"
    assert check(otp, state, right_code(otp, NOW), NOW, policy).accepted
    # A lock set today, until tonight's midnight, holds until then.
    today = fail(otp, TokenState(), NOW, policy, 1)
    evening = datetime(2026, 11, 24, 23, 59, tzinfo=UTC).timestamp()
    assert check(otp, today, right_code(otp, evening), evening, policy).reason == "locked"


def test_admin_unlock_clears_the_lock_and_the_count(otp: TOTP) -> None:
    # An administrator's unlock stores fail_count 0 and no lock (Verifier.unlock).
    policy = Policy(lockout_after_fails=3, lockout_seconds=600)
    locked = fail(otp, TokenState(), NOW, policy, 3)
    unlocked = replace(locked, fail_count=0, locked_until=None)
    later = NOW + 30
    assert check(otp, unlocked, right_code(otp, later), later, policy).accepted
    # Unlocked, the token again has its full number of tries before the next lock.
    again = fail(otp, unlocked, later, policy, 2)
    assert again.locked_until is None


def test_an_accepted_code_resets_the_consecutive_count(otp: TOTP) -> None:
    policy = Policy(lockout_after_fails=3, lockout_seconds=600)
    state = fail(otp, TokenState(), NOW, policy, 2)
    state = state.after(check(otp, state, right_code(otp, NOW), NOW, policy))
    state = fail(otp, state, NOW + 30, policy, 2)
    assert (state.fail_count, state.locked_until) == (2, None)


def test_lock_ends_at_midnight_in_the_configured_zone(otp: TOTP) -> None:
    # 10:00 UTC is 18:00 in Shanghai (UTC+8, no daylight saving): the day ends at 16:00 UTC.
    policy = Policy(lockout_tz="Asia/Shanghai")
    assert policy.lock_end(NOW) == datetime(2026, 11, 24, 16, 0, tzinfo=UTC).timestamp()


def test_lock_end_on_a_daylight_saving_day_is_the_real_midnight() -> None:
    # New York springs forward at 02:00 on 2026-03-08: at 01:00 EST (06:00 UTC) the day has
    # 22 hours left, and midnight is 00:00 EDT = 04:00 UTC on 2026-03-09.
    policy = Policy(lockout_tz="America/New_York")
    now = datetime(2026, 3, 8, 6, 0, tzinfo=UTC).timestamp()
    end = datetime(2026, 3, 9, 4, 0, tzinfo=UTC).timestamp()
    assert policy.lock_end(now) == end
    assert end - now == 22 * 3600


def test_lock_end_just_before_midnight_is_that_midnight() -> None:
    policy = Policy()
    now = datetime(2026, 11, 24, 23, 59, 59, 999000, tzinfo=UTC).timestamp()
    assert policy.lock_end(now) == datetime(2026, 11, 25, 0, 0, tzinfo=UTC).timestamp()


def test_disabled_beats_locked(otp: TOTP) -> None:
    policy = Policy(lockout_after_fails=1, lockout_seconds=600)
    state = replace(fail(otp, TokenState(), NOW, policy, 1), enabled=False)
    assert check(otp, state, right_code(otp, NOW), NOW, policy).reason == "disabled"


def test_wrong_pins_count_and_lock_exactly_as_wrong_codes(otp: TOTP) -> None:
    policy = Policy(lockout_after_fails=3, lockout_seconds=600)
    state = TokenState()
    for count in (1, 2):
        decision = wrong_pin(state, NOW, policy)
        assert (decision.accepted, decision.reason, decision.step) == (False, "wrong_pin", None)
        assert (decision.fail_count, decision.locked_until) == (count, None)
        state = state.after(decision)
    third = wrong_pin(state, NOW, policy)
    assert state.after(third) == fail(otp, state, NOW, policy, 1)
    assert (third.fail_count, third.locked_until) == (3, NOW + 600)


def test_wrong_pin_on_a_locked_token_is_refused_without_counting(otp: TOTP) -> None:
    policy = Policy(lockout_after_fails=3, lockout_seconds=600)
    locked = fail(otp, TokenState(), NOW, policy, 3)
    decision = wrong_pin(locked, NOW + 60, policy)
    assert (decision.accepted, decision.reason) == (False, "locked")
    assert locked.after(decision) == locked


def test_wrong_pin_on_a_disabled_token_is_refused_without_counting() -> None:
    disabled = TokenState(fail_count=1, enabled=False)
    decision = wrong_pin(disabled, NOW, Policy())
    assert (decision.accepted, decision.reason) == (False, "disabled")
    assert disabled.after(decision) == disabled
