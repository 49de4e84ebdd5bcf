"""Properties of verifier.engine.check over random tokens, times, windows and offsets
(hypothesis): the window is exactly +-window_steps around the predicted step, and no step is
ever accepted twice or after a later one (RFC 6238 section 5.2); the state given is never
changed."""

import copy
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from baoling.verifier.drift import Drift
from baoling.verifier.engine import Policy, TokenState, check, resync, wrong_pin
from baoling.verifier.otp import TOTP

tokens = st.builds(
    lambda secret, digits, period: TOTP(secret, digits=digits, period_s=period),
    st.binary(min_size=1, max_size=64),
    st.integers(min_value=6, max_value=8),
    st.integers(min_value=10, max_value=300),
)
# Whole seconds, so that RFC 6238's floor((now + offset) / period) is exact here.
times = st.integers(min_value=10**9, max_value=4 * 10**9).map(float)
learned_offsets = st.integers(min_value=-3000, max_value=3000).map(float)


@settings(max_examples=300, deadline=None, database=None)
@given(tokens, times, learned_offsets, st.integers(min_value=0, max_value=4), st.data())
def test_accepted_exactly_within_the_window_around_the_predicted_step(
    otp: TOTP, now: float, offset_s: float, window: int, data: st.DataObject
) -> None:
    state = TokenState(drift=Drift(offset_s=offset_s, at=now))
    centre = math.floor((int(now) + int(offset_s)) / otp.period_s)
    shift = data.draw(st.integers(min_value=-window - 3, max_value=window + 3))
    code = otp.code_at_step(centre + shift)
    decision = check(otp, state, code, now, Policy(window_steps=window))
    if abs(shift) <= window:
        assert (decision.accepted, decision.step) == (True, centre + shift)
    else:
        # A chance collision with a code inside the window is the only way to be accepted.
        inside = {otp.code_at_step(centre + k) for k in range(-window, window + 1)}
        assert decision.accepted == (code in inside)


@settings(max_examples=200, deadline=None, database=None)
@given(tokens, times, st.lists(st.integers(min_value=-1, max_value=1), min_size=2, max_size=6))
def test_no_step_is_accepted_twice_or_after_a_later_one(
    otp: TOTP, now: float, shifts: list[int]
) -> None:
    policy = Policy(drift_learning=False)
    state = TokenState()
    centre = otp.step_at(now)
    accepted: list[int] = []
    for shift in shifts:
        decision = check(otp, state, otp.code_at_step(centre + shift), now, policy)
        if decision.accepted:
            accepted.append(decision.step)
        state = state.after(decision)
    assert accepted == sorted(set(accepted))
    assert state.last_step == (accepted[-1] if accepted else None)


@settings(max_examples=200, deadline=None, database=None)
@given(
    tokens,
    times,
    st.one_of(st.none(), st.integers(min_value=0, max_value=2 * 10**8)),
    st.integers(min_value=0, max_value=12),
    st.one_of(st.none(), times),
    st.booleans(),
    st.integers(min_value=-1, max_value=1),
)
def test_the_engine_never_changes_the_state_it_is_given(
    otp: TOTP,
    now: float,
    last_step: int | None,
    fail_count: int,
    locked_until: float | None,
    enabled: bool,
    shift: int,
) -> None:
    # TokenState and Decision are slotted, not frozen, dataclasses (verifier/engine.py): they
    # stay values because the engine builds new ones and never assigns to one it was given.
    state = TokenState(last_step, fail_count, locked_until, enabled, Drift(offset_s=5.0, at=now))
    before = copy.deepcopy(state)
    code = otp.code_at_step(otp.step_at(now) + shift)
    policy = Policy(lockout_after_fails=3)
    check(otp, state, code, now, policy)
    check(otp, state, "x" * otp.digits, now, policy)
    resync(otp, state, code, code, now, policy)
    wrong_pin(state, now, policy)
    assert state == before
