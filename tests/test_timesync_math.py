"""NTP-style clock arithmetic (RFC 5905 section 8's offset and delay, one device reading)."""

import pytest

from baoling.provisioning.timesync import (
    MAX_DRIFT_UNCERTAINTY_PPM,
    Exchange,
    measure_drift,
    time_to_send,
    worth_writing,
)

DAY_MS = 86_400_000
T0 = 1_790_000_000_000


def test_offset_is_measured_against_the_midpoint_of_the_round_trip():
    exchange = Exchange(host_sent_ms=T0, device_ms=T0 + 3_600_010, host_received_ms=T0 + 20)
    assert exchange.round_trip_ms == 20
    assert exchange.offset_ms == 3_600_000
    assert exchange.uncertainty_ms == 10


def test_time_to_send_is_the_expected_arrival():
    assert time_to_send(T0, 30) == T0 + 15


def test_drift_of_a_fast_clock_over_a_day():
    # Synced at T0; a day later a +40 ppm clock is 3456 ms ahead.
    exchange = Exchange(T0 + DAY_MS, T0 + DAY_MS + 3456 + 5, T0 + DAY_MS + 10)
    drift = measure_drift(exchange, synced_ms=T0, drift_in_force_ppm=0.0)
    assert drift.ppm == pytest.approx(40, abs=0.01)
    assert drift.uncertainty_ppm == pytest.approx(55 / DAY_MS * 1e6, rel=0.01)
    assert worth_writing(drift, 0.0)


def test_drift_adds_to_the_correction_in_force():
    # A +40 ppm clock already corrected by +30 ppm builds up only 10 ppm in a day.
    exchange = Exchange(T0 + DAY_MS, T0 + DAY_MS + 864 + 5, T0 + DAY_MS + 10)
    drift = measure_drift(exchange, synced_ms=T0, drift_in_force_ppm=30.0)
    assert drift.ppm == pytest.approx(40, abs=0.01)


def test_slow_clock_gives_negative_drift():
    exchange = Exchange(T0 + DAY_MS, T0 + DAY_MS - 1728 + 5, T0 + DAY_MS + 10)
    assert measure_drift(exchange, T0, 0.0).ppm == pytest.approx(-20, abs=0.01)


def test_short_interval_is_too_imprecise_to_write():
    # A minute after a sync, 10 ms of offset would read as 167 ppm: pure noise.
    exchange = Exchange(T0 + 60_000, T0 + 60_000 + 15, T0 + 60_010)
    drift = measure_drift(exchange, T0, 0.0)
    assert drift.uncertainty_ppm > MAX_DRIFT_UNCERTAINTY_PPM
    assert not worth_writing(drift, 0.0)


def test_drift_already_in_force_is_not_rewritten():
    exchange = Exchange(T0 + DAY_MS, T0 + DAY_MS + 5 + 20, T0 + DAY_MS + 10)
    drift = measure_drift(exchange, T0, 40.0)
    assert drift.ppm == pytest.approx(40.23, abs=0.01)
    assert not worth_writing(drift, 40.0)


def test_implausible_drift_means_a_moved_clock_not_a_crystal():
    exchange = Exchange(T0 + DAY_MS, T0 + DAY_MS + 3_600_000, T0 + DAY_MS + 10)
    assert not worth_writing(measure_drift(exchange, T0, 0.0), 0.0)


def test_sync_time_after_the_reading_gives_no_measurement():
    exchange = Exchange(T0, T0 + 5, T0 + 10)
    drift = measure_drift(exchange, synced_ms=T0 + 10_000, drift_in_force_ppm=0.0)
    assert drift.elapsed_s == 0
    assert not worth_writing(drift, 0.0)
