"""verifier.engine resync: two consecutive codes found within +-resync_window_steps of the
predicted step move the token's offset there; anything else fails and counts as a failure."""

import pytest

from baoling.verifier.engine import Policy, TokenState, check, resync
from baoling.verifier.otp import TOTP

SECRET = b"12345678901234567890"
PERIOD_S = 30
STEP = 56_666_666
NOW = STEP * PERIOD_S + 10.0


@pytest.fixture
def otp() -> TOTP:
    return TOTP(SECRET, period_s=PERIOD_S)


def test_two_consecutive_codes_200_steps_ahead_resync_with_a_wide_window(otp: TOTP) -> None:
    policy = Policy(resync_window_steps=200)
    decision = resync(
        otp, TokenState(), otp.code_at_step(STEP + 200), otp.code_at_step(STEP + 201), NOW, policy
    )
    assert (decision.accepted, decision.reason, decision.step) == (True, "resynced", STEP + 201)
    assert TokenState().after(decision).last_step == STEP + 201
    # From now on the token's codes are accepted with the ordinary +-1 window.
    later = NOW + 3600
    code = otp.code_at_step(otp.step_at(later) + 201)
    followed = check(otp, TokenState().after(decision), code, later, Policy())
    assert (followed.accepted, followed.step) == (True, otp.step_at(later) + 201)


def test_200_steps_ahead_is_outside_the_default_resync_window(otp: TOTP) -> None:
    decision = resync(
        otp, TokenState(), otp.code_at_step(STEP + 200), otp.code_at_step(STEP + 201), NOW, Policy()
    )
    assert (decision.accepted, decision.reason) == (False, "resync_failed")
    assert decision.fail_count == 1


@pytest.mark.parametrize("offset", [-20, -1, 0, 19])
def test_default_resync_window_is_twenty_steps_either_side(otp: TOTP, offset: int) -> None:
    decision = resync(
        otp,
        TokenState(),
        otp.code_at_step(STEP + offset),
        otp.code_at_step(STEP + offset + 1),
        NOW,
        Policy(),
    )
    assert (decision.reason, decision.step) == ("resynced", STEP + offset + 1)


def test_first_code_just_outside_the_default_window_fails(otp: TOTP) -> None:
    for offset in (-21, 21):
        decision = resync(
            otp,
            TokenState(),
            otp.code_at_step(STEP + offset),
            otp.code_at_step(STEP + offset + 1),
            NOW,
            Policy(),
        )
        assert decision.reason == "resync_failed", offset


@pytest.mark.parametrize(("first", "second"), [(200, 202), (201, 200), (200, 200), (150, 200)])
def test_codes_that_are_not_consecutive_fail(otp: TOTP, first: int, second: int) -> None:
    policy = Policy(resync_window_steps=250)
    decision = resync(
        otp,
        TokenState(),
        otp.code_at_step(STEP + first),
        otp.code_at_step(STEP + second),
        NOW,
        policy,
    )
    assert (decision.accepted, decision.reason) == (False, "resync_failed")
    assert TokenState().after(decision).last_step is None


def test_resync_cannot_reuse_accepted_steps(otp: TOTP) -> None:
    accepted = check(otp, TokenState(), otp.code_at_step(STEP + 1), NOW, Policy())
    assert accepted.accepted
    decision = resync(
        otp,
        TokenState().after(accepted),
        otp.code_at_step(STEP),
        otp.code_at_step(STEP + 1),
        NOW,
        Policy(),
    )
    assert decision.reason == "resync_failed"


def test_resync_sets_the_drift_estimate_at_the_second_code(otp: TOTP) -> None:
    decision = resync(
        otp, TokenState(), otp.code_at_step(STEP + 7), otp.code_at_step(STEP + 8), NOW, Policy()
    )
    # Step STEP + 8 seen 10 s into step STEP: the token is 8 steps and 5 to 35 s ahead.
    offset_s = (8 + 0.5) * PERIOD_S - 10.0
    assert decision.drift.history == ((NOW, offset_s),)
    assert decision.drift.offset_at(NOW) == offset_s


def test_resync_sets_the_offset_even_with_learning_off(otp: TOTP) -> None:
    policy = Policy(drift_learning=False)
    decision = resync(
        otp, TokenState(), otp.code_at_step(STEP + 7), otp.code_at_step(STEP + 8), NOW, policy
    )
    assert decision.reason == "resynced"
    state = TokenState().after(decision)
    assert check(otp, state, otp.code_at_step(STEP + 9), NOW + 30, policy).accepted


def test_resync_of_a_locked_or_disabled_token_is_refused(otp: TOTP) -> None:
    codes = (otp.code_at_step(STEP), otp.code_at_step(STEP + 1))
    locked = TokenState(fail_count=10, locked_until=NOW + 60)
    assert resync(otp, locked, *codes, NOW, Policy()).reason == "locked"
    disabled = TokenState(enabled=False)
    assert resync(otp, disabled, *codes, NOW, Policy()).reason == "disabled"


def test_resync_with_a_malformed_code_fails_as_malformed(otp: TOTP) -> None:
    decision = resync(otp, TokenState(), "12345", otp.code_at_step(STEP), NOW, Policy())
    assert (decision.reason, decision.fail_count) == ("malformed", 1)


def test_a_chance_earlier_match_of_the_first_code_does_not_hide_the_real_pair() -> None:
    # Find a secret whose code at some step of a 200-step window repeats at a later step:
    # resync must look past the first match to the pair the user really typed.
    policy = Policy(resync_window_steps=200)
    steps = range(STEP - 200, STEP + 201)
    for n in range(1000):
        otp = TOTP(n.to_bytes(4, "big") * 5, period_s=PERIOD_S)
        seen: dict[str, int] = {}
        for step in steps:
            code = otp.code_at_step(step)
            earlier = seen.setdefault(code, step)
            if earlier != step and otp.code_at_step(earlier + 1) != otp.code_at_step(step + 1):
                decision = resync(otp, TokenState(), code, otp.code_at_step(step + 1), NOW, policy)
                assert (decision.reason, decision.step) == ("resynced", step + 1)
                return
    pytest.fail("no secret with a repeated code in the window was found")


class CountingTOTP(TOTP):
    """Counts the steps whose codes the engine asks for (the cost of a resync)."""

    __slots__ = ("steps_computed",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.steps_computed = 0

    def find(self, value: int, counters):  # type: ignore[no-untyped-def]
        counters = list(counters)
        self.steps_computed += len(counters)
        return super().find(value, counters)


@pytest.mark.parametrize("window", [20, 200])
def test_a_failed_resync_computes_each_step_of_its_window_once(window: int) -> None:
    otp = CountingTOTP(SECRET, period_s=PERIOD_S)
    far = STEP + 10 * window  # codes from far outside the window: no step matches
    code1, code2 = otp.code_at_step(far), otp.code_at_step(far + 1)
    otp.steps_computed = 0
    decision = resync(otp, TokenState(), code1, code2, NOW, Policy(resync_window_steps=window))
    assert decision.reason == "resync_failed"
    assert otp.steps_computed == 2 * window + 1
