"""A token's clock, as the verifier sees it: an offset and a rate learned from accepted codes.

Every accepted code is an observation: at verifier time `t` the token showed step `s`, so the
token's clock was somewhere in [s*P - t, (s+1)*P - t) seconds ahead. The midpoint of that
interval is recorded, not the interval's start (which biases the estimate by up to a whole
step, as privacyIDEA's and early LinOTP's stored drift did). The typing delay between reading
a code and sending it is inside every observation too, so the estimate is the *effective*
offset, which is what centring the window needs.

From a bounded history of observations the token's clock rate (ppm) is fitted robustly: the
median of the slopes between pairs of observations at least MIN_RATE_SPAN_S apart, each pair
weighted by its span squared (a weighted Theil-Sen estimator). The offset now is the median of
the newest observations carried forward by that rate. The rate then predicts the offset of a
token that has not been used for months. A resync starts a new segment of the history
(Drift.resync). Pure: `now` is an argument; no I/O.
"""

import json
import math
from bisect import bisect_left
from dataclasses import dataclass, replace
from itertools import accumulate, combinations

from baoling.verifier.constants import (
    DRIFT_HISTORY_LEN,
    DRIFT_RECENT_OBSERVATIONS,
    MAX_DRIFT_RATE_PPM,
    MIN_RATE_SPAN_S,
    TYPING_DELAY_SPREAD_S,
)
from baoling.verifier.errors import StoreError
from baoling.verifier.otp import TOTP

_PPM = 1e-6
_JSON_VERSION = 1


@dataclass(frozen=True)
class Drift:
    """The token clock's offset (seconds ahead of the verifier's, at time `at`) and rate (ppm).

    `history` holds (verifier time, observed offset in seconds) pairs, oldest first, at most
    DRIFT_HISTORY_LEN of them. `at` is None until the first observation; `since` is the time of
    the last resync (None: never), which starts a new segment of the history.
    """

    offset_s: float = 0.0
    rate_ppm: float = 0.0
    at: float | None = None
    history: tuple[tuple[float, float], ...] = ()
    since: float | None = None
    # The rates (ppm) consistent with every observation since the last resync, each within
    # the tolerance given to observe(); None while they do not narrow it (fewer than two
    # observations, or ones that fit no straight line).
    rate_range: tuple[float, float] | None = None

    @classmethod
    def clock_set_at(cls, when: float) -> "Drift":
        """The estimate for a token whose clock was set right at `when` (as `baoling token`
        does before it registers a token): an exact first observation of offset 0. The first
        accepted or resynced code at least MIN_RATE_SPAN_S later then gives a rate.

        It lacks the user's typing delay that later observations carry (a few seconds), which
        biases the first rates by that delay over the span; more observations outweigh it."""
        return cls(offset_s=0.0, at=when, history=((when, 0.0),))

    @classmethod
    def synced_at(cls, when: float) -> "Drift":
        """The estimate for a token whose clock was in step with the verifier's at `when` (it is
        enrolled right after provisioning set its clock): offset 0 as of then, and no
        observation, so the rate is learned from codes alone. It anchors the reach (`reach`)
        of a token's first code."""
        return cls(at=when)

    def steps(
        self, otp: TOTP, now: float, window: int, bound_ppm: float, cap: int
    ) -> tuple[int, int]:
        """The lowest and highest steps of `otp` to look for the token's code in at `now`:
        `window` steps either side of the predicted one, widened to the reach (docs/engine.md)
        for a crystal at most `bound_ppm` off (0: no reach), to at most `cap` steps from it.

        The reach is the offsets the clock can have reached by `now`, half a step either way for
        the observations' own error: from where it was last seen (its newest observation, else
        `at`: the enrolment of a token never seen), carried forward at the slowest and the
        fastest rate it can have. Those are +-bound_ppm, narrowed to `rate_range` (the rates
        consistent with every observation since the last resync) where the two overlap. No
        reach without `at` (nothing says when the clock was right) or before it.

        One method, not the predicted step and the reach apart: every check asks, and a call
        and a tuple cost as much as the arithmetic (docs/performance.md, "The engine against
        pyotp"); for the same reason bounds are comparisons, not min/max calls."""
        centre = otp.step_at(now + self.offset_at(now))
        low = centre - window
        high = centre + window
        if not bound_ppm:
            return low, high
        history = self.history
        if history:
            seen_at, seen = history[-1]
        elif self.at is not None:
            seen_at, seen = self.at, self.offset_s
        else:
            return low, high
        if now <= seen_at:
            return low, high
        slowest, fastest = -bound_ppm, bound_ppm
        if self.rate_range is not None:
            low_rate, high_rate = self.rate_range
            if low_rate <= fastest and high_rate >= slowest:
                if low_rate > slowest:
                    slowest = low_rate
                if high_rate < fastest:
                    fastest = high_rate
        elapsed = (now - seen_at) * _PPM
        period = otp.period_s
        half_step = period / 2
        seen_now = now + seen  # the clock's time, were it still as far off as when last seen
        # A step is below `low` exactly when its time is; only then is it computed.
        earliest_at = seen_now + slowest * elapsed - half_step
        if earliest_at < low * period:
            earliest = otp.step_at(earliest_at)
            low = earliest if earliest > centre - cap else centre - cap
        latest_at = seen_now + fastest * elapsed + half_step
        if latest_at >= (high + 1) * period:
            latest = otp.step_at(latest_at)
            high = latest if latest < centre + cap else centre + cap
        return low, high

    def offset_at(self, now: float) -> float:
        """The predicted offset in seconds at `now`: the offset carried forward by the rate."""
        if self.at is None:
            return self.offset_s
        return self.offset_s + self.rate_ppm * _PPM * (now - self.at)

    def observe(
        self, now: float, offset_s: float, max_change_s: float, tolerance_s: float
    ) -> "Drift":
        """The estimate after one more observation, which is within `tolerance_s` of the
        clock's offset; the predicted offset at `now` moves by at most `max_change_s` (one odd
        code cannot drag the window far)."""
        history = _thin((*self.history, (now, offset_s)), self.since)
        rate_ppm = _fit_rate_ppm(history, self.since, self.rate_ppm)
        segment = _segment(history, self.since)
        recent = segment[-DRIFT_RECENT_OBSERVATIONS:]
        fitted = _median([o + rate_ppm * _PPM * (now - t) for t, o in recent])
        before = self.offset_at(now)
        bounded = min(max(fitted, before - max_change_s), before + max_change_s)
        return replace(
            self,
            offset_s=bounded,
            rate_ppm=rate_ppm,
            at=now,
            history=history,
            rate_range=_rate_range(segment, tolerance_s),
        )

    def resync(self, now: float, offset_s: float) -> "Drift":
        """The estimate after a resync: two consecutive codes are trusted, so the offset is set
        to this observation without a bound, and a new segment of the history starts.

        The rate is fitted from the new segment once it spans MIN_RATE_SPAN_S, and from the
        whole history until then. A token used rarely, whose codes drifted out of the window
        between uses, thus learns its rate across resyncs; a token whose clock was set again
        (a jump, and a new rate) soon has a segment of its own and forgets the old one.
        """
        history = _thin((*self.history, (now, offset_s)), now)
        rate_ppm = _fit_rate_ppm(history, now, self.rate_ppm)
        return Drift(offset_s=offset_s, rate_ppm=rate_ppm, at=now, history=history, since=now)

    def to_json(self) -> str:
        """The estimate as the store keeps it (and an administrator sees it)."""
        return json.dumps(
            {
                "v": _JSON_VERSION,
                "offset_s": self.offset_s,
                "rate_ppm": self.rate_ppm,
                "at": self.at,
                "history": [list(pair) for pair in self.history],
                "since": self.since,
                "rate_range": None if self.rate_range is None else list(self.rate_range),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> "Drift":
        """The estimate stored by to_json(); anything else is refused (never guessed)."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != _JSON_VERSION:
                raise ValueError("unknown version")
            at = data["at"]
            since = data.get("since")  # absent in estimates stored before resync segments
            history = tuple((_finite(t), _finite(o)) for t, o in data["history"])
            # absent in estimates stored before the reach (Drift.steps)
            rate_range = data.get("rate_range")
            if rate_range is not None:
                low, high = rate_range
                rate_range = (_finite(low), _finite(high))
            drift = cls(
                offset_s=_finite(data["offset_s"]),
                rate_ppm=_finite(data["rate_ppm"]),
                at=None if at is None else _finite(at),
                history=history,
                since=None if since is None else _finite(since),
                rate_range=rate_range,
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"the stored drift estimate is not valid ({exc})") from None
        if len(history) > DRIFT_HISTORY_LEN or abs(drift.rate_ppm) > MAX_DRIFT_RATE_PPM:
            raise StoreError("the stored drift estimate is out of range")
        return drift


def observation_tolerance_s(period_s: int) -> float:
    """How far an accepted code's observation can be from the clock's offset less a typical
    typing delay: half a step of quantization and half the spread of typing delays."""
    return (period_s + TYPING_DELAY_SPREAD_S) / 2


def _finite(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def _thin(
    history: tuple[tuple[float, float], ...], since: float | None
) -> tuple[tuple[float, float], ...]:
    """At most DRIFT_HISTORY_LEN observations, spread over time: while too many, drop the one
    whose neighbours are closest together. Observations from before the last resync go first
    (the oldest of them too, once they are all that is left to drop); otherwise the oldest
    (longest baseline for the rate) and the newest are kept."""
    points = list(history)
    while len(points) > DRIFT_HISTORY_LEN:
        older = [i for i, (t, _) in enumerate(points) if since is not None and t < since]
        candidates = older or list(range(1, len(points) - 1))

        def crowding(i: int) -> float:
            before = points[i - 1][0] if i > 0 else points[i][0]
            return points[i + 1][0] - before

        del points[min(candidates, key=crowding)]
    return tuple(points)


def _segment(
    history: tuple[tuple[float, float], ...], since: float | None
) -> tuple[tuple[float, float], ...]:
    """The observations since the last resync (all of them when there was none)."""
    return history if since is None else tuple(p for p in history if p[0] >= since)


def _fit_rate_ppm(
    history: tuple[tuple[float, float], ...], since: float | None, current_ppm: float
) -> float:
    """Median slope over pairs at least MIN_RATE_SPAN_S apart, each weighted by its span squared
    (a slope's error from quantization falls with its span, so its variance with the square),
    from the segment
    since the last resync when it has such a pair, else from the whole history; clamped to
    +-MAX_DRIFT_RATE_PPM. The current rate when no pair is far enough apart."""
    for points in (_segment(history, since), history):
        slopes = [
            ((o_j - o_i) / span / _PPM, span * span)
            for (t_i, o_i), (t_j, o_j) in combinations(points, 2)
            if (span := t_j - t_i) >= MIN_RATE_SPAN_S
        ]
        if slopes:
            rate = _weighted_median(slopes)
            return min(max(rate, -MAX_DRIFT_RATE_PPM), MAX_DRIFT_RATE_PPM)
    return current_ppm


def _rate_range(
    points: tuple[tuple[float, float], ...], tolerance_s: float
) -> tuple[float, float] | None:
    """The rates (ppm) of the straight lines that pass within `tolerance_s` of every point:
    each pair of points bounds the rate by its change in offset, +-2 tolerances, over its span
    (eliminating the line's offset leaves exactly these pairwise bounds). None when no pair
    bounds it or no line passes near them all."""
    pairs = [
        ((t_j - t_i) * _PPM, o_j - o_i)
        for (t_i, o_i), (t_j, o_j) in combinations(points, 2)
        if t_j > t_i
    ]
    if not pairs:
        return None
    width = 2 * tolerance_s
    slowest = max((change - width) / span for span, change in pairs)
    fastest = min((change + width) / span for span, change in pairs)
    if slowest > fastest:
        return None
    return slowest, fastest


def _median(values: list[float]) -> float:
    return _weighted_median([(v, 1.0) for v in values])


def _weighted_median(pairs: list[tuple[float, float]]) -> float:
    """The value at half the total weight (the mean of the two middle ones on an exact tie)."""
    ordered = sorted(pairs)
    cumulative = list(accumulate(weight for _, weight in ordered))
    half = cumulative[-1] / 2
    index = bisect_left(cumulative, half)
    value = ordered[index][0]
    if cumulative[index] == half and index + 1 < len(ordered):
        return (value + ordered[index + 1][0]) / 2
    return value
