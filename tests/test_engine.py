"""verifier.engine: the window, replay protection (RFC 6238 section 5.2), disabled tokens and
the policy's checks. Lockout is in test_engine_lockout.py, resync in test_engine_resync.py.

Codes come from verifier.otp, whose codes tests/test_rfc6238.py and test_otp_interop.py prove;
times are chosen at the start, the middle and the last millisecond of a step.
"""

from dataclasses import replace

import pytest

from baoling.verifier.drift import Drift
from baoling.verifier.engine import Policy, TokenState, check
from baoling.verifier.errors import InvalidRequest
from baoling.verifier.otp import HOTP, TOTP

SECRET = b"12345678901234567890"
PERIOD_S = 30
STEP = 56_666_666  # the step that holds 2023-11-14 22:13:00 UTC
# Where in the step `now` falls: its first instant, its middle, its last millisecond.
IN_STEP = {"start": 0.0, "middle": 15.0, "end": 29.999}


@pytest.fixture
def otp() -> TOTP:
    return TOTP(SECRET, period_s=PERIOD_S)


def at(where: str, step: int = STEP) -> float:
    return step * PERIOD_S + IN_STEP[where]


@pytest.mark.parametrize("where", IN_STEP)
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_default_window_accepts_offsets_minus_one_to_plus_one(
    otp: TOTP, where: str, offset: int
) -> None:
    decision = check(otp, TokenState(), otp.code_at_step(STEP + offset), at(where), Policy())
    assert (decision.accepted, decision.reason, decision.step) == (True, "accepted", STEP + offset)
    assert TokenState().after(decision).last_step == STEP + offset
    assert decision.fail_count == 0


@pytest.mark.parametrize("where", IN_STEP)
@pytest.mark.parametrize("offset", [-2, 2])
def test_default_window_rejects_offsets_of_two(otp: TOTP, where: str, offset: int) -> None:
    decision = check(otp, TokenState(), otp.code_at_step(STEP + offset), at(where), Policy())
    assert (decision.accepted, decision.reason, decision.step) == (False, "wrong_code", None)
    assert decision.fail_count == 1
    assert TokenState().after(decision).last_step is None


def test_window_is_symmetric_and_explicit(otp: TOTP) -> None:
    policy = Policy(window_steps=3)
    accepted = [
        offset
        for offset in range(-6, 7)
        if check(otp, TokenState(), otp.code_at_step(STEP + offset), at("middle"), policy).accepted
    ]
    assert accepted == [-3, -2, -1, 0, 1, 2, 3]


def test_window_of_zero_steps_accepts_only_the_current_step(otp: TOTP) -> None:
    policy = Policy(window_steps=0)
    assert check(otp, TokenState(), otp.code_at_step(STEP), at("end"), policy).accepted
    assert not check(otp, TokenState(), otp.code_at_step(STEP + 1), at("end"), policy).accepted
    assert not check(otp, TokenState(), otp.code_at_step(STEP - 1), at("start"), policy).accepted


@pytest.mark.parametrize("where", IN_STEP)
def test_learned_offset_of_plus_seven_steps_accepts_with_a_window_of_one(
    otp: TOTP, where: str
) -> None:
    # The estimate holds at `now` (no time for the clock to drift: the reach adds nothing).
    state = TokenState(drift=Drift(offset_s=7 * PERIOD_S, at=at(where)))
    accepted = [
        offset
        for offset in range(0, 11)
        if check(otp, state, otp.code_at_step(STEP + offset), at(where), Policy()).accepted
    ]
    assert accepted == [6, 7, 8]


def test_a_token_seven_steps_ahead_is_learned_and_then_followed(otp: TOTP) -> None:
    # The verifier sees it after a resync; then it follows the token without another one.
    from baoling.verifier.engine import resync

    now = at("middle")
    first = resync(
        otp, TokenState(), otp.code_at_step(STEP + 7), otp.code_at_step(STEP + 8), now, Policy()
    )
    assert first.reason == "resynced"
    state = TokenState().after(first)
    for later in range(1, 40):
        now = at("middle", STEP + later * 20)
        decision = check(otp, state, otp.code_at_step(STEP + later * 20 + 8), now, Policy())
        assert decision.reason == "accepted", later
        state = state.after(decision)
    assert round(state.drift.offset_at(now) / PERIOD_S) == 8


def test_accepted_code_is_rejected_the_second_time_as_a_replay(otp: TOTP) -> None:
    code = otp.code_at_step(STEP)
    first = check(otp, TokenState(), code, at("middle"), Policy())
    state = TokenState().after(first)
    again = check(otp, state, code, at("middle"), Policy())
    assert (again.accepted, again.reason, again.step) == (False, "replay", STEP)
    assert state.after(again).last_step == STEP
    assert again.fail_count == 0  # a copy of a right code is no guess: not counted


def test_code_from_a_step_before_the_last_accepted_one_is_a_replay(otp: TOTP) -> None:
    # Learning off keeps the window where it was, so both earlier steps are still inside it.
    policy = Policy(drift_learning=False)
    first = check(otp, TokenState(), otp.code_at_step(STEP + 1), at("middle"), policy)
    assert first.accepted
    for earlier in (STEP, STEP - 1):
        decision = check(
            otp, TokenState().after(first), otp.code_at_step(earlier), at("middle"), policy
        )
        assert (decision.accepted, decision.reason, decision.step) == (False, "replay", earlier)


def test_code_from_an_earlier_step_is_rejected_after_the_window_moved(otp: TOTP) -> None:
    # Learning moved the window one step on (the token looked a step ahead): the oldest
    # step fell out of it, and its code is simply wrong now.
    first = check(otp, TokenState(), otp.code_at_step(STEP + 1), at("middle"), Policy())
    assert first.drift.offset_at(at("middle")) == PERIOD_S
    for earlier, reason in ((STEP, "replay"), (STEP - 1, "wrong_code")):
        decision = check(
            otp, TokenState().after(first), otp.code_at_step(earlier), at("middle"), Policy()
        )
        assert (decision.accepted, decision.reason) == (False, reason)


def test_code_after_the_last_accepted_step_is_accepted(otp: TOTP) -> None:
    first = check(otp, TokenState(), otp.code_at_step(STEP - 1), at("start"), Policy())
    later = check(otp, TokenState().after(first), otp.code_at_step(STEP), at("start"), Policy())
    assert (later.accepted, later.step) == (True, STEP)


def test_replay_is_found_at_a_step_boundary(otp: TOTP) -> None:
    # Accepted in the last millisecond of a step, replayed in the first of the next one.
    first = check(otp, TokenState(), otp.code_at_step(STEP), at("end"), Policy())
    again = check(
        otp, TokenState().after(first), otp.code_at_step(STEP), at("start", STEP + 1), Policy()
    )
    assert again.reason == "replay"


@pytest.mark.parametrize(
    "code",
    ["12345", "1234567", "12a456", "", " 123456", "１２３４５６"],
    ids=["short", "long", "letter", "empty", "space", "fullwidth-digits"],
)
def test_malformed_code_is_rejected_and_counted(otp: TOTP, code: str) -> None:
    decision = check(otp, TokenState(), code, at("middle"), Policy())
    assert (decision.accepted, decision.reason, decision.step) == (False, "malformed", None)
    assert decision.fail_count == 1


def test_disabled_token_rejects_its_right_code_without_counting(otp: TOTP) -> None:
    state = TokenState(enabled=False, fail_count=2)
    decision = check(otp, state, otp.code_at_step(STEP), at("middle"), Policy())
    assert (decision.accepted, decision.reason) == (False, "disabled")
    assert state.after(decision) == state


def test_accepting_clears_the_failure_count(otp: TOTP) -> None:
    state = TokenState(fail_count=7)
    decision = check(otp, state, otp.code_at_step(STEP), at("middle"), Policy())
    assert decision.accepted
    assert decision.fail_count == 0


def test_drift_learning_off_leaves_the_estimate_alone(otp: TOTP) -> None:
    state = TokenState(drift=Drift(offset_s=12.0, at=at("start")))
    decision = check(
        otp, state, otp.code_at_step(STEP + 1), at("middle"), Policy(drift_learning=False)
    )
    assert decision.accepted
    assert decision.drift == state.drift


def test_drift_learning_on_records_the_observation(otp: TOTP) -> None:
    decision = check(otp, TokenState(), otp.code_at_step(STEP), at("start"), Policy())
    # Seen in step STEP at the step's start: the token is 0 to 30 s ahead; the midpoint is 15.
    assert decision.drift.history == ((at("start"), 15.0),)
    assert decision.drift.offset_at(at("start")) == 15.0


def test_the_state_given_is_not_changed(otp: TOTP) -> None:
    state = TokenState()
    check(otp, state, otp.code_at_step(STEP), at("middle"), Policy())
    assert state == TokenState()
    assert replace(state) == state


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_steps": -1}, "window_steps must be a whole number of at least 0, not -1"),
        ({"window_steps": 1.5}, "window_steps must be a whole number of at least 0, not 1.5"),
        (
            {"resync_window_steps": 0},
            "resync_window_steps must be a whole number of at least 1, not 0",
        ),
        (
            {"lockout_after_fails": 0},
            "lockout_after_fails must be a whole number of at least 1, not 0",
        ),
        ({"lockout_seconds": 0}, "lockout_seconds must be a whole number of at least 1, not 0"),
        (
            {"lockout_tz": "Mars/Olympus_Mons"},
            "lockout_tz must be an IANA time zone such as UTC or Asia/Shanghai, "
            "not 'Mars/Olympus_Mons'",
        ),
        ({"drift_learning": "yes"}, "drift_learning must be true or false"),
        (
            {"drift_bound_ppm": -1.0},
            "drift_bound_ppm must be a number from 0 to 200, not -1.0",
        ),
        (
            {"max_window_steps": -1},
            "max_window_steps must be a whole number of at least 0, not -1",
        ),
    ],
)
def test_bad_policy_is_refused_with_a_message_naming_the_parameter(
    kwargs: dict, message: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        Policy(**kwargs)
    assert str(caught.value) == message


def test_the_state_after_an_hotp_accept_expects_the_next_counter() -> None:
    hotp = HOTP(SECRET)
    state = TokenState(counter=3, fail_count=2)
    decision = check(hotp, state, hotp.code(5), at("middle"), Policy())
    assert (decision.accepted, decision.step) == (True, 5)
    after = state.after(decision)
    assert (after.counter, after.last_step, after.fail_count, after.locked_until) == (
        6,
        None,
        0,
        None,
    )
    # Its codes for counters up to the one matched are used now; the next one is taken.
    assert check(hotp, after, hotp.code(5), at("middle"), Policy()).reason == "replay"
    assert check(hotp, after, hotp.code(6), at("middle"), Policy()).accepted


def test_the_state_after_a_failure_keeps_the_last_step_and_counts(otp: TOTP) -> None:
    state = TokenState(last_step=STEP - 5, fail_count=1, drift=Drift(offset_s=3.0, at=at("start")))
    wrong = next(code for code in ("000000", "111111") if code != otp.code_at_step(STEP))
    decision = check(otp, state, wrong, at("start"), Policy(window_steps=0))
    assert (decision.accepted, decision.reason) == (False, "wrong_code")
    assert state.after(decision) == TokenState(last_step=STEP - 5, fail_count=2, drift=state.drift)
