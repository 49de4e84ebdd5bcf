"""A token's clock, as the verifier sees it: an offset and a rate learned from accepted codes.

Every accepted code is an observation: at verifier time `t` the token showed step `s`, so the
token's clock was somewhere in [s*P - t, (s+1)*P - t) seconds ahead. The midpoint of that
interval is recorded, not the interval's start (which biases the estimate by up to a whole
step, as privacyIDEA's and early LinOTP's stored drift did). The typing delay between reading
a code and sending it is inside every observation too, so the estimate is the *effective*
offset, which is what centring the window needs.

From a bounded history of observations the token's clock rate (ppm) is fitted robustly: the
median of the slopes between pairs of observations at least MIN_RATE_SPAN_S apart, each pair
weighted by its span (a Theil-Sen estimator). The offset now is the median of the newest
observations carried forward by that rate. The rate then predicts the offset of a token that
has not been used for months. Pure: `now` is an argument; no I/O.
"""

import json
import math
from bisect import bisect_left
from dataclasses import dataclass, replace
from itertools import accumulate

from verifier.constants import (
    DRIFT_HISTORY_LEN,
    DRIFT_RECENT_OBSERVATIONS,
    MAX_DRIFT_RATE_PPM,
    MIN_RATE_SPAN_S,
)
from verifier.errors import StoreError

_PPM = 1e-6
_JSON_VERSION = 1


@dataclass(frozen=True)
class Drift:
    """The token clock's offset (seconds ahead of the verifier's, at time `at`) and rate (ppm).

    `history` holds (verifier time, observed offset in seconds) pairs, oldest first, at most
    DRIFT_HISTORY_LEN of them. `at` is None until the first observation.
    """

    offset_s: float = 0.0
    rate_ppm: float = 0.0
    at: float | None = None
    history: tuple[tuple[float, float], ...] = ()

    def offset_at(self, now: float) -> float:
        """The predicted offset in seconds at `now`: the offset carried forward by the rate."""
        if self.at is None:
            return self.offset_s
        return self.offset_s + self.rate_ppm * _PPM * (now - self.at)

    def observe(self, now: float, offset_s: float, max_change_s: float) -> "Drift":
        """The estimate after one more observation; the predicted offset at `now` moves by at
        most `max_change_s` (one odd code cannot drag the window far)."""
        history = _thin((*self.history, (now, offset_s)))
        rate_ppm = _fit_rate_ppm(history, self.rate_ppm)
        recent = history[-DRIFT_RECENT_OBSERVATIONS:]
        fitted = _median([o + rate_ppm * _PPM * (now - t) for t, o in recent])
        before = self.offset_at(now)
        bounded = min(max(fitted, before - max_change_s), before + max_change_s)
        return Drift(offset_s=bounded, rate_ppm=rate_ppm, at=now, history=history)

    def reset(self, now: float, offset_s: float) -> "Drift":
        """Start again from one trusted observation (a resync), keeping the learned rate until
        the new history spans enough time to fit its own."""
        return replace(self, offset_s=offset_s, at=now, history=((now, offset_s),))

    def to_json(self) -> str:
        """The estimate as the store keeps it (and an administrator sees it)."""
        return json.dumps(
            {
                "v": _JSON_VERSION,
                "offset_s": self.offset_s,
                "rate_ppm": self.rate_ppm,
                "at": self.at,
                "history": [list(pair) for pair in self.history],
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
            history = tuple(
                (_finite(t), _finite(o)) for t, o in data["history"]
            )
            drift = cls(
                offset_s=_finite(data["offset_s"]),
                rate_ppm=_finite(data["rate_ppm"]),
                at=None if at is None else _finite(at),
                history=history,
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"the stored drift estimate is not valid ({exc})") from None
        if len(history) > DRIFT_HISTORY_LEN or abs(drift.rate_ppm) > MAX_DRIFT_RATE_PPM:
            raise StoreError("the stored drift estimate is out of range")
        return drift


def _finite(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def _thin(history: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    """At most DRIFT_HISTORY_LEN observations, spread over time: while too many, drop the inner
    one whose neighbours are closest together. The oldest (longest baseline for the rate) and
    the newest are always kept."""
    points = list(history)
    while len(points) > DRIFT_HISTORY_LEN:
        drop = min(range(1, len(points) - 1), key=lambda i: points[i + 1][0] - points[i - 1][0])
        del points[drop]
    return tuple(points)


def _fit_rate_ppm(history: tuple[tuple[float, float], ...], current_ppm: float) -> float:
    """Span-weighted median slope over pairs at least MIN_RATE_SPAN_S apart, clamped to
    +-MAX_DRIFT_RATE_PPM; the current rate when no pair is far enough apart."""
    slopes: list[tuple[float, float]] = []
    for i, (t_i, o_i) in enumerate(history):
        for t_j, o_j in history[i + 1 :]:
            span = t_j - t_i
            if span >= MIN_RATE_SPAN_S:
                slopes.append(((o_j - o_i) / span / _PPM, span))
    if not slopes:
        return current_ppm
    rate = _weighted_median(slopes)
    return min(max(rate, -MAX_DRIFT_RATE_PPM), MAX_DRIFT_RATE_PPM)


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
