"""verifier.drift: offsets from observations, the rate fit, bounded updates, the bounded
history, the store's JSON form; and, through the engine, a token unused for months.

Simulated tokens here have a known clock error; observations are made the way the engine makes
them (the step a code was found at, seen at the verifier's time, with a typing delay)."""

import random

import pytest

from baoling.verifier.constants import DRIFT_HISTORY_LEN, MAX_DRIFT_RATE_PPM
from baoling.verifier.drift import Drift, observation_tolerance_s
from baoling.verifier.engine import Policy, TokenState, check
from baoling.verifier.errors import StoreError
from baoling.verifier.otp import TOTP

PERIOD_S = 30
DAY_S = 86_400
START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
TOLERANCE_S = observation_tolerance_s(PERIOD_S)


def token_step(start: float, ppm: float, now: float, delay_s: float) -> int:
    """The step a token shows when its code is read: its clock was right at `start` and runs
    `ppm` fast; the user sends the code `delay_s` after reading it."""
    read_at = now - delay_s
    return int((read_at + (read_at - start) * ppm * 1e-6) // PERIOD_S)


def observation(start: float, ppm: float, now: float, delay_s: float) -> float:
    """The offset the engine records for that code (the midpoint of its step)."""
    return (token_step(start, ppm, now, delay_s) + 0.5) * PERIOD_S - now


def learn(ppm: float, days: list[float], seed: int) -> Drift:
    rng = random.Random(seed)
    drift = Drift()
    for day in days:
        now = START + day * DAY_S + rng.uniform(0, DAY_S)
        drift = drift.observe(
            now, observation(START, ppm, now, rng.uniform(2, 12)), PERIOD_S, TOLERANCE_S
        )
    return drift


def test_a_fresh_estimate_predicts_no_offset() -> None:
    assert Drift().offset_at(START) == 0.0
    assert Drift().offset_at(START + 365 * DAY_S) == 0.0


@pytest.mark.parametrize("ppm", [-50.0, -12.5, 0.0, 20.0, 50.0])
def test_rate_is_learned_within_five_ppm_from_two_months_of_use(ppm: float) -> None:
    drift = learn(ppm, [3 * k for k in range(21)], seed=int(ppm * 10) + 1000)
    assert drift.rate_ppm == pytest.approx(ppm, abs=5.0)


def test_offset_is_predicted_within_a_step_for_a_token_unused_for_six_months() -> None:
    ppm = 40.0
    drift = learn(ppm, [3 * k for k in range(21)], seed=7)
    later = START + (60 + 182) * DAY_S
    truth = observation(START, ppm, later, 7.0)
    assert abs(drift.offset_at(later) - truth) < PERIOD_S


def test_engine_accepts_a_token_unused_for_six_months_where_offset_only_fails() -> None:
    # 40 ppm over six months is about 630 s: 21 steps. The learned rate puts the +-1 window
    # on the token's code; the same offset without the rate (what other servers keep) does not.
    otp = TOTP(b"12345678901234567890", period_s=PERIOD_S)
    ppm = 40.0
    drift = learn(ppm, [3 * k for k in range(21)], seed=8)
    later = START + (60 + 182) * DAY_S
    code = otp.code_at_step(token_step(START, ppm, later, 7.0))
    learned = check(otp, TokenState(drift=drift), code, later, Policy())
    assert (learned.accepted, learned.reason) == (True, "accepted")
    offset_only = TokenState(drift=Drift(offset_s=drift.offset_s, at=drift.at))
    assert check(otp, offset_only, code, later, Policy()).reason == "wrong_code"


def test_one_update_moves_the_prediction_by_at_most_the_bound() -> None:
    drift = Drift().observe(START, 300.0, max_change_s=PERIOD_S, tolerance_s=TOLERANCE_S)
    assert drift.offset_at(START) == PERIOD_S
    assert drift.history == ((START, 300.0),)


def test_one_odd_observation_does_not_move_a_settled_estimate() -> None:
    drift = learn(0.0, [3 * k for k in range(21)], seed=3)
    now = START + 64 * DAY_S
    settled = drift.offset_at(now)
    odd = drift.observe(now, settled + 2 * PERIOD_S, PERIOD_S, TOLERANCE_S)
    assert odd.offset_at(now) == pytest.approx(settled, abs=PERIOD_S / 2)
    assert odd.rate_ppm == pytest.approx(drift.rate_ppm, abs=2.0)


def test_rate_is_clamped_to_the_largest_believable_one() -> None:
    drift = Drift()
    for day in (0, 10, 20, 30):
        now = START + day * DAY_S
        drift = drift.observe(now, day * DAY_S * 1000e-6, 1e9, TOLERANCE_S)  # 1000 ppm
    assert drift.rate_ppm == MAX_DRIFT_RATE_PPM


def test_history_stays_bounded_and_spread_over_time() -> None:
    drift = learn(10.0, [float(day) for day in range(200)], seed=4)
    assert len(drift.history) == DRIFT_HISTORY_LEN
    times = [t for t, _ in drift.history]
    assert times == sorted(times)
    assert times[0] < START + DAY_S  # the oldest observation is kept: the longest baseline
    assert times[-1] > START + 199 * DAY_S  # and the newest
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) < 30 * DAY_S


def test_a_rarely_used_token_learns_its_rate_across_resyncs() -> None:
    # Used every 90 days, its codes drift 10 steps between uses: each use needs a resync,
    # until two resyncs 90 days apart give the rate; then the third use is predicted.
    ppm = 40.0
    drift = Drift()
    for day in (90, 180):
        now = START + day * DAY_S
        drift = drift.resync(now, observation(START, ppm, now, 5.0))
    assert drift.rate_ppm == pytest.approx(ppm, abs=3.0)
    later = START + 270 * DAY_S
    assert abs(drift.offset_at(later) - observation(START, ppm, later, 5.0)) < PERIOD_S


def test_after_the_clock_is_set_again_the_new_segment_gives_the_rate() -> None:
    # 40 ppm learned for two months; then the token's clock is set (offset back to about 0)
    # and the firmware corrects its rate: the history before the resync is left behind.
    drift = learn(40.0, [3 * k for k in range(21)], seed=9)
    reset_at = START + 100 * DAY_S
    drift = drift.resync(reset_at, observation(reset_at, 0.0, reset_at, 5.0))
    assert drift.since == reset_at
    rng = random.Random(10)
    for day in range(1, 15):
        now = reset_at + day * DAY_S + rng.uniform(0, DAY_S)
        observed = observation(reset_at, 0.0, now, rng.uniform(2, 12))
        drift = drift.observe(now, observed, PERIOD_S, TOLERANCE_S)
    # Two weeks of codes, each quantized to a 30 s step, pin the new rate to about 10 ppm:
    # far from the old 40, and it sharpens as the segment grows.
    assert drift.rate_ppm == pytest.approx(0.0, abs=15.0)
    later = reset_at + 30 * DAY_S
    assert abs(drift.offset_at(later) - observation(reset_at, 0.0, later, 5.0)) < PERIOD_S


def test_clock_set_at_provisioning_gives_a_rate_from_the_first_resync() -> None:
    # 40 ppm, clock set at START, used every 30 days: 2.3 steps off at the first use, which
    # needs a resync; with the provisioning time as an observation that resync gives the
    # rate, and the second use is predicted. Without it, the second use needs a resync too.
    ppm = 40.0
    first = START + 30 * DAY_S
    second = START + 60 * DAY_S
    for start, predicted in ((Drift.clock_set_at(START), True), (Drift(), False)):
        drift = start.resync(first, observation(START, ppm, first, 5.0))
        error = abs(drift.offset_at(second) - observation(START, ppm, second, 5.0))
        assert (error < PERIOD_S) == predicted, (start, error)


def test_resync_sets_the_offset_without_a_bound() -> None:
    drift = Drift().resync(START, 7 * PERIOD_S)
    assert drift.offset_at(START) == 7 * PERIOD_S
    assert drift.history == ((START, 7 * PERIOD_S),)


def test_json_round_trip_keeps_everything() -> None:
    drift = learn(-30.0, [2 * k for k in range(30)], seed=6)
    assert Drift.from_json(drift.to_json()) == drift
    assert Drift.from_json(Drift().to_json()) == Drift()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "not json",
            "the stored drift estimate is not valid (Expecting value: line 1 column 1 (char 0))",
        ),
        ('{"v": 2}', "the stored drift estimate is not valid (unknown version)"),
        (
            '{"v": 1, "offset_s": 0, "rate_ppm": 0, "at": null}',
            "the stored drift estimate is not valid ('history')",
        ),
        (
            '{"v": 1, "offset_s": "3", "rate_ppm": 0, "at": null, "history": []}',
            "the stored drift estimate is not valid ('3' is not a finite number)",
        ),
        (
            '{"v": 1, "offset_s": NaN, "rate_ppm": 0, "at": null, "history": []}',
            "the stored drift estimate is not valid (nan is not a finite number)",
        ),
        (
            '{"v": 1, "offset_s": 0, "rate_ppm": 900, "at": null, "history": []}',
            "the stored drift estimate is out of range",
        ),
    ],
)
def test_a_stored_estimate_that_is_not_ours_is_refused(text: str, message: str) -> None:
    with pytest.raises(StoreError) as caught:
        Drift.from_json(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("ppm", [-50.0, -12.5, 0.0, 20.0, 50.0])
def test_the_rate_range_holds_the_true_rate_and_narrows_as_the_span_grows(ppm: float) -> None:
    # Each observation is within half a step and half the typing delays' spread of the line,
    # so the true rate is always inside; two months of use pin it to about +-60 s over 60 days.
    week = learn(ppm, [0, 3, 7], seed=int(ppm * 10) + 2000)
    months = learn(ppm, [3 * k for k in range(21)], seed=int(ppm * 10) + 2000)
    for drift in (week, months):
        assert drift.rate_range is not None
        low, high = drift.rate_range
        assert low <= ppm <= high
    assert months.rate_range[1] - months.rate_range[0] < 25.0
    assert week.rate_range[1] - week.rate_range[0] > months.rate_range[1] - months.rate_range[0]


def test_one_observation_or_a_resync_bounds_no_rate() -> None:
    assert Drift().observe(START, 3.0, PERIOD_S, TOLERANCE_S).rate_range is None
    drift = learn(20.0, [3 * k for k in range(21)], seed=11)
    assert drift.resync(START + 70 * DAY_S, 0.0).rate_range is None


def test_an_estimate_stored_before_rate_ranges_is_read_without_one() -> None:
    text = '{"v": 1, "offset_s": 4.5, "rate_ppm": 2.0, "at": 10.0, "history": [[10.0, 4.5]]}'
    assert Drift.from_json(text) == Drift(offset_s=4.5, rate_ppm=2.0, at=10.0, history=((10, 4.5),))
