"""`baoling token sync-time` reports a measured drift only when it means something.

A rate measured over seconds (a second sync right after the first, as a newcomer tries while
`baoling demo --keep-running` runs) is noise of thousands of ppm: the command says when a sync
can measure it instead (docs/provisioning.md, Clock).
"""

import re
from pathlib import Path

from provisioning_sim import run_baoling, sim_token

from baoling.provisioning.timesync import (
    MIN_DRIFT_BASELINE_S,
    Exchange,
    measure_drift,
)

T0 = 1_790_000_000_000


def test_a_second_sync_seconds_later_reports_no_drift(tmp_path: Path):
    with sim_token(tmp_path / "token") as (sim, token):
        token.link.close()  # the command opens the port itself
        first = run_baoling("token", "sync-time", "--port", sim.port)
        assert first.returncode == 0, first.stderr
        assert "Drift" not in first.stdout  # a new token's clock was never synced
        second = run_baoling("token", "sync-time", "--port", sim.port)
    assert second.returncode == 0, second.stderr
    said = second.stdout.splitlines()[-1]
    assert re.fullmatch(
        r"Drift not measured: the last sync was \d+ s ago; one at least 7 h after it measures "
        r"the clock's rate\. Correction kept: \+0\.000 ppm\.",
        said,
    ), second.stdout
    assert "ppm over" not in second.stdout


def test_a_drift_is_precise_from_the_minimum_baseline_on():
    # An exchange with no round trip: only the previous sync's own error remains.
    def after(elapsed_s: float) -> bool:
        at = T0 + elapsed_s * 1000
        return measure_drift(Exchange(at, at, at), T0, 0.0).precise

    assert after(MIN_DRIFT_BASELINE_S)
    assert not after(MIN_DRIFT_BASELINE_S * 0.99)
    assert not after(1.0)
