"""Time sync against the simulator's clock knobs: a wrong clock is set, and drift is learned."""

import time

import pytest
from provisioning_sim import sim_token

from baoling.provisioning.sync import sync_time

DAY_S = 86_400


def offset_now(tok, clock=lambda: time.time() * 1000) -> float:
    """An independent reading of device minus host: the least delayed of a few time.get."""
    readings = [tok.read_time(clock).exchange for _ in range(5)]
    best = min(readings, key=lambda exchange: exchange.round_trip_ms)
    assert best.round_trip_ms < 40
    return best.offset_ms


def test_clock_one_hour_wrong_ends_within_50_ms(tmp_path):
    with sim_token(tmp_path / "t") as (sim, tok):
        sim.set_clock(offset_s=3600)
        report = sync_time(tok)
        assert report.offset_before_ms == pytest.approx(3_600_000, abs=1000)
        assert abs(report.offset_after_ms) < 50
        assert abs(offset_now(tok)) < 50
        assert tok.read_time(lambda: time.time() * 1000).trusted


def test_drift_of_40_ppm_is_measured_between_two_syncs_and_corrected(tmp_path):
    with sim_token(tmp_path / "t") as (sim, tok):
        sim.set_clock(offset_s=-90, drift_ppm=40)
        first = sync_time(tok)
        assert first.drift is None and not first.drift_written
        sim.age(DAY_S)  # a day passes for the device; the host clock below moves with it
        aged_clock = lambda: (time.time() + DAY_S) * 1000  # noqa: E731
        second = sync_time(tok, clock=aged_clock)
        assert second.drift is not None
        assert second.drift.ppm == pytest.approx(40, abs=5)
        assert second.drift_written
        assert second.drift_ppm == pytest.approx(second.drift.ppm, abs=0.001)
        assert abs(offset_now(tok, aged_clock)) < 50


def test_drift_is_not_written_from_a_short_interval(tmp_path):
    with sim_token(tmp_path / "t") as (sim, tok):
        sim.set_clock(drift_ppm=40)
        sync_time(tok)
        sim.age(60)
        clock = lambda: (time.time() + 60) * 1000  # noqa: E731
        report = sync_time(tok, clock=clock)
        assert report.drift is not None and not report.drift_written
        assert report.drift_ppm == 0
