"""The console's charts, computed on the server as SVG geometry (docs/console.md): validations per
minute over the last hour, and a token's clock drift (observed offsets and the learned rate).
Pure: data and `now` in, coordinates out; the templates only draw them.
"""

from dataclasses import dataclass

from baoling.verifier.drift import Drift

WIDTH, HEIGHT = 640, 240
# The plot area inside the SVG: room on the left for the value labels, below for the time.
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 32
MINUTES = 60
# The frame the templates draw the axes on.
FRAME = {
    "width": WIDTH,
    "height": HEIGHT,
    "left": LEFT,
    "right": WIDTH - RIGHT,
    "top": TOP,
    "bottom": HEIGHT - BOTTOM,
}
_PPM = 1e-6


@dataclass(frozen=True)
class Scale:
    """Maps data (x: seconds, y: a value) into the plot area; y grows upwards on the page."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float

    def x(self, value: float) -> float:
        span = self.x_max - self.x_min
        return LEFT + (value - self.x_min) / span * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        span = self.y_max - self.y_min
        return HEIGHT - BOTTOM - (value - self.y_min) / span * (HEIGHT - TOP - BOTTOM)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    minute: int  # minutes before now at the bar's start


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class MinuteChart:
    accepted: tuple[Bar, ...]
    rejected: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    total_accepted: int
    total_rejected: int


def minute_chart(results: list[tuple[float, str | None]], now: float) -> MinuteChart:
    """Accepted and rejected validations in each of the last MINUTES minutes, as two bars per
    minute (accepted left, rejected right), the oldest minute on the left."""
    accepted, rejected = [0] * MINUTES, [0] * MINUTES
    for when, result in results:
        age = int((now - when) // 60)
        if 0 <= age < MINUTES:
            (accepted if result == "accept" else rejected)[MINUTES - 1 - age] += 1
    top = max(max(accepted), max(rejected), 1)
    scale = Scale(0, MINUTES, 0, top)
    slot = (WIDTH - LEFT - RIGHT) / MINUTES

    def bars(counts: list[int], shift: float) -> tuple[Bar, ...]:
        return tuple(
            Bar(
                x=scale.x(i) + shift,
                y=scale.y(count),
                width=slot / 2 - 0.5,
                height=scale.y(0) - scale.y(count),
                count=count,
                minute=MINUTES - i,
            )
            for i, count in enumerate(counts)
        )

    y_ticks = tuple(Tick(scale.y(v), str(v)) for v in sorted({0, top // 2, top}))
    x_ticks = tuple(Tick(scale.x(MINUTES - m), f"-{m}" if m else "0") for m in (60, 45, 30, 15, 0))
    return MinuteChart(
        bars(accepted, 0.0),
        bars(rejected, slot / 2),
        y_ticks,
        x_ticks,
        sum(accepted),
        sum(rejected),
    )


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    at: float  # verifier time of the observation (Unix seconds)
    offset_s: float


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class DriftChart:
    points: tuple[Point, ...]
    rate_line: Line
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]  # labels are Unix times; the template writes them as dates


def drift_chart(drift: Drift, now: float) -> DriftChart | None:
    """The observed offsets over time as points, and the learned estimate as a line: the
    offset `drift.offset_at(t)` from the first observation to `now` (straight, since the rate
    is constant). None before the first observation."""
    if not drift.history:
        return None
    start = drift.history[0][0]
    end = max(now, drift.history[-1][0])
    if end - start < 1:
        start, end = start - 3600, end + 3600
    line_ends = (drift.offset_at(start), drift.offset_at(end))
    values = [offset for _, offset in drift.history] + list(line_ends)
    low, high = min(values), max(values)
    pad = max((high - low) * 0.1, 1.0)
    scale = Scale(start, end, low - pad, high + pad)
    points = tuple(Point(scale.x(t), scale.y(o), t, o) for t, o in drift.history)
    line = Line(scale.x(start), scale.y(line_ends[0]), scale.x(end), scale.y(line_ends[1]))
    y_values = (scale.y_min, (scale.y_min + scale.y_max) / 2, scale.y_max)
    y_ticks = tuple(Tick(scale.y(v), f"{v:.1f}") for v in y_values)
    x_ticks = tuple(Tick(scale.x(t), f"{t:.0f}") for t in (start, (start + end) / 2, end))
    return DriftChart(points, line, y_ticks, x_ticks)
