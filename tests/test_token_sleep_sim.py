"""Display sleep (issue 17 item 4) on the real firmware under MicroPython in the simulator:
the idle time set over the link, the display dark after it, on again at a press, and the right
code after an hour of simulated sleep (the running clock kept counting).

Sources of truth: the issue's rules, the verifier's TOTP for the code, the simulator's frame
buffer (all pixels dark while the display is off).
"""

import time
from pathlib import Path

from baoling.host_tools.simulator import Simulator
from tests.test_firmware_protocol_ops import TokenLink
from tests.token_sleep import HOUR_S, dark, wait_for, wake_and_check_the_code_an_hour_ahead

SECRET = b"sleepy-token-secret!"
SLEEP_S = 5


def test_the_display_sleeps_after_the_idle_time_and_the_code_is_right_after_an_hour(
    tmp_path: Path,
) -> None:
    with Simulator(tmp_path / "token") as sim:
        link = TokenLink(sim)
        try:
            assert link.ok("info")["sleep_s"] == 0  # the sim board's own: never off
            link.set_time(int(time.time() * 1000))
            link.write(0, SECRET, label="alice")
            assert link.refused("sleep.set", {"sleep_s": 3}) == (
                "bad_args",
                "sleep_s must be 0 or an integer 5..3600, or null",
            )
            assert link.ok("sleep.set", {"sleep_s": SLEEP_S}) == {"sleep_s": SLEEP_S}
            assert link.ok("info")["sleep_s"] == SLEEP_S
        finally:
            link.close()
        idle_since = time.monotonic()
        sim.wait_screen(lambda s: s.get("screen") == "code")
        assert not dark(sim)
        wait_for(lambda: dark(sim), SLEEP_S + 5)
        assert time.monotonic() - idle_since >= SLEEP_S - 0.5
        sim.age(HOUR_S)  # an hour passes while it sleeps
        time.sleep(1)
        assert dark(sim)
        wake_and_check_the_code_an_hour_ahead(sim, SECRET)
        sim.restart()  # the idle time is kept across restarts
        link = TokenLink(sim)
        try:
            assert link.ok("info")["sleep_s"] == SLEEP_S
            assert link.ok("sleep.set", {"sleep_s": None}) == {"sleep_s": 0}
        finally:
            link.close()
