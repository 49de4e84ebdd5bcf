"""verifier.engine's reach (docs/engine.md): a token unused for long is sought as far as a
crystal within the policy's bound can have carried its clock since it was last seen, never
further than max_window_steps, and on one side only once its rate is known; replay and resync
are as without it; enrolment is where a new token was last seen.

Clocks here are set at START and run a known number of ppm fast; codes are read at the token's
own time, so the step a code belongs to is the one a real token would show."""

import random
import time
from dataclasses import replace

import pyotp
import pytest

from baoling.core import base32
from baoling.verifier.constants import DEFAULT_DRIFT_BOUND_PPM, DEFAULT_MAX_WINDOW_STEPS
from baoling.verifier.drift import Drift
from baoling.verifier.engine import Policy, TokenState, check, resync
from baoling.verifier.otp import TOTP

SECRET = b"12345678901234567890"
PERIOD_S = 30
DAY_S = 86_400
START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC, a step boundary
# 30 days and half a step after START: a crystal at the bound (50 ppm) has moved the clock by
# 129.6 s, which from the middle of a step is 4 steps either way (15 + 129.6 = 144.6 s).
MONTH_LATER = START + 30 * DAY_S + 15


@pytest.fixture
def otp() -> TOTP:
    return TOTP(SECRET, period_s=PERIOD_S)


def token_step(ppm: float, now: float, delay_s: float = 0.0) -> int:
    """The step a token shows when its code, sent at `now`, was read: its clock was set at
    START and runs `ppm` fast."""
    read_at = now - delay_s
    return int((read_at + (read_at - START) * ppm * 1e-6) // PERIOD_S)


def accepted_offsets(otp: TOTP, state: TokenState, now: float, policy: Policy) -> list[int]:
    """The steps, from the verifier's own, whose codes `state` accepts at `now` (each tried
    on the same state)."""
    own = int(now // PERIOD_S)
    return [
        offset
        for offset in range(-12, 13)
        if check(otp, state, otp.code_at_step(own + offset), now, policy).accepted
    ]


def test_the_bound_is_fifty_ppm_and_the_most_steps_six() -> None:
    # The figures the tests below count with (docs/configuration.md names them too).
    assert (DEFAULT_DRIFT_BOUND_PPM, DEFAULT_MAX_WINDOW_STEPS) == (50.0, 6)


def test_a_month_after_enrolment_codes_are_sought_as_far_as_the_crystal_can_drift(
    otp: TOTP,
) -> None:
    state = TokenState(drift=Drift.synced_at(START))
    # 4 steps of drift either way, and the window's one step around each end.
    assert accepted_offsets(otp, state, MONTH_LATER, Policy()) == list(range(-5, 6))
    # A crystal at the bound, fast or slow, is let in; without the reach it is not.
    for ppm in (DEFAULT_DRIFT_BOUND_PPM, -DEFAULT_DRIFT_BOUND_PPM):
        code = otp.code_at_step(token_step(ppm, MONTH_LATER, delay_s=5.0))
        assert check(otp, state, code, MONTH_LATER, Policy()).reason == "accepted"
        off = Policy(drift_bound_ppm=0)
        assert check(otp, state, code, MONTH_LATER, off).reason == "wrong_code"


def test_the_reach_grows_with_time_and_stops_at_max_window_steps(otp: TOTP) -> None:
    state = TokenState(drift=Drift.synced_at(START))
    assert accepted_offsets(otp, state, START + 15, Policy()) == [-1, 0, 1]  # just enrolled
    year_later = START + 365 * DAY_S + 15  # 1,577 s of drift: 52 steps, capped at 6
    assert accepted_offsets(otp, state, year_later, Policy()) == list(range(-6, 7))
    wider = Policy(max_window_steps=8)
    assert accepted_offsets(otp, state, year_later, wider) == list(range(-8, 9))


def test_a_token_never_seen_or_not_learning_is_sought_in_the_window_alone(otp: TOTP) -> None:
    # No `at`: nothing says when its clock was right (a PSKC key imported with its offset).
    assert accepted_offsets(otp, TokenState(), MONTH_LATER, Policy()) == [-1, 0, 1]
    synced = TokenState(drift=Drift.synced_at(START))
    fixed = Policy(drift_learning=False)  # its anchor would never move on
    assert accepted_offsets(otp, synced, MONTH_LATER, fixed) == [-1, 0, 1]


def learned(ppm: float, days: range, seed: int, otp: TOTP) -> TokenState:
    """A token enrolled at START, its codes accepted through the engine on `days`."""
    rng = random.Random(seed)
    state = TokenState(drift=Drift.synced_at(START))
    for day in days:
        now = START + day * DAY_S + rng.uniform(0, DAY_S)
        code = otp.code_at_step(token_step(ppm, now, rng.uniform(2, 12)))
        decision = check(otp, state, code, now, Policy())
        assert decision.reason == "accepted", day
        state = state.after(decision)
    return state


def test_once_the_rate_is_known_the_reach_opens_on_its_side_only(otp: TOTP) -> None:
    # 30 ppm fast, used every 3 days for two months, then left for half a year: 20 steps of
    # drift since it was last seen, all of them ahead.
    state = learned(30.0, range(0, 61, 3), seed=5, otp=otp)
    slowest, fastest = state.drift.rate_range or (0.0, 0.0)
    assert 0 < slowest < 30 < fastest < 50
    later = state.drift.at + 182 * DAY_S
    wide = Policy(max_window_steps=40)
    seen = state.drift.history[-1][1]
    code = otp.code_at_step(token_step(30.0, later, 7.0))
    assert check(otp, state, code, later, wide).reason == "accepted"
    # A clock that had stopped drifting when last seen would show this step: the bound alone
    # (+-50 ppm) reaches it, the learned rates do not.
    stopped = otp.code_at_step(otp.step_at(later + seen))
    assert check(otp, state, stopped, later, wide).reason == "wrong_code"
    unknown = TokenState(drift=replace(state.drift, rate_range=None))
    assert check(otp, unknown, stopped, later, wide).reason == "accepted"


def test_replays_inside_the_reach_are_refused(otp: TOTP) -> None:
    state = TokenState(drift=Drift.synced_at(START))
    own = int(MONTH_LATER // PERIOD_S)
    first = check(otp, state, otp.code_at_step(own + 4), MONTH_LATER, Policy())
    assert (first.reason, first.step) == ("accepted", own + 4)
    again = check(otp, state.after(first), otp.code_at_step(own + 4), MONTH_LATER + 1, Policy())
    assert (again.accepted, again.reason, again.fail_count) == (False, "replay", 0)
    earlier = check(otp, state.after(first), otp.code_at_step(own + 3), MONTH_LATER + 1, Policy())
    assert (earlier.accepted, earlier.reason) == (False, "replay")


def test_resync_keeps_its_own_window(otp: TOTP) -> None:
    # A year after enrolment the reach would span 52 steps; a resync still looks only
    # resync_window_steps (20) either side of the prediction.
    state = TokenState(drift=Drift.synced_at(START))
    now = START + 365 * DAY_S + 15
    own = int(now // PERIOD_S)
    far = resync(otp, state, otp.code_at_step(own + 21), otp.code_at_step(own + 22), now, Policy())
    assert (far.reason, far.fail_count) == ("resync_failed", 1)
    near = resync(otp, state, otp.code_at_step(own + 19), otp.code_at_step(own + 20), now, Policy())
    assert (near.reason, near.step) == ("resynced", own + 20)


def test_enrolment_is_where_a_new_token_was_last_seen(make_verifier) -> None:
    v = make_verifier()
    before = time.time()
    v.enrol("alice", SECRET)
    enrolled = v.show("alice")["drift"]["at"]
    assert before <= enrolled <= time.time()
    totp = pyotp.TOTP(base32.encode(SECRET))
    # A month later, half a step in: its clock 50 ppm fast shows 4 steps ahead (see above).
    now = (int(enrolled // PERIOD_S) + 30 * DAY_S // PERIOD_S) * PERIOD_S + 15
    fast = now + (now - enrolled) * DEFAULT_DRIFT_BOUND_PPM * 1e-6
    assert v.check("alice", totp.at(now + 6 * PERIOD_S), now=now).reason == "wrong_code"
    assert v.validate("alice", totp.at(fast), now=now)


def test_the_reach_through_the_store_grows_from_the_given_enrolment_time(
    make_verifier, otp: TOTP
) -> None:
    # Enrolled a month before the check, a token is sought 129.6 s of drift and half a step
    # further either way, from the middle of a step: 15 + 129.6 + 15 s, 5 steps (as above);
    # enrolled at the check itself, in the ±1 window alone. Whatever day the test runs.
    v = make_verifier()
    own = int(MONTH_LATER // PERIOD_S)
    offsets = range(-6, 7)
    for enrolled, expected in ((START, list(range(-5, 6))), (MONTH_LATER, [-1, 0, 1])):
        for k in offsets:
            v.enrol(f"t{enrolled:.0f}{k:+d}", SECRET, now=enrolled)
        assert v.show(f"t{enrolled:.0f}+0")["drift"]["at"] == enrolled
        accepted = [
            k
            for k in offsets
            if v.validate(f"t{enrolled:.0f}{k:+d}", otp.code_at_step(own + k), now=MONTH_LATER)
        ]
        assert accepted == expected


def test_a_cap_below_the_window_leaves_the_window_whole(otp: TOTP) -> None:
    state = TokenState(drift=Drift.synced_at(START))
    policy = Policy(window_steps=2, max_window_steps=0)
    assert accepted_offsets(otp, state, MONTH_LATER, policy) == [-2, -1, 0, 1, 2]
