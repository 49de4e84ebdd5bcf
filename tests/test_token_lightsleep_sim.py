"""Sleep on battery (issue 17 item 4): with its display off, a token off USB power light-sleeps
until the next second or a press; on USB it never does (a light sleep would drop a Pico's USB
link, docs/hardware.md). The real firmware under MicroPython in the simulator, whose board
counts its light sleeps behind the same board interface (`doze`).

Sources of truth: the issue's rules (a press wakes it, the clock keeps counting: the right code
after an hour asleep), the verifier's TOTP for the code, the sim board's count of sleeps.
"""

import time
from pathlib import Path

from baoling.host_tools.simulator import Simulator
from tests.test_firmware_protocol_ops import TokenLink
from tests.token_sleep import HOUR_S, dark, wait_for, wake_and_check_the_code_an_hour_ahead

SECRET = b"battery-token-secret"
SLEEP_S = 5


def sleeps(sim: Simulator) -> int:
    return int(sim.sleeps().get("sleeps", 0))


def test_off_usb_the_dark_token_light_sleeps_and_keeps_time(tmp_path: Path) -> None:
    with Simulator(tmp_path / "token") as sim:
        link = TokenLink(sim)
        try:
            link.set_time(int(time.time() * 1000))
            link.write(0, SECRET, label="alice")
            link.ok("sleep.set", {"sleep_s": SLEEP_S})
        finally:
            link.close()
        # On USB power: the display goes dark, the board never sleeps.
        wait_for(lambda: dark(sim), SLEEP_S + 5)
        time.sleep(2)
        assert sleeps(sim) == 0
        # Off USB (a battery): it light-sleeps, about once a second, while dark.
        sim.set_usb_power(False)
        wait_for(lambda: sleeps(sim) >= 3, 10)
        sim.age(HOUR_S)  # an hour passes while it sleeps
        wait_for(lambda: sleeps(sim) >= 6, 10)
        assert dark(sim)
        slept = sim.sleeps()
        assert slept["slept_ms"] >= 0.5 * 1000 * (slept["sleeps"] - 1)  # whole sleeps, mostly
        wake_and_check_the_code_an_hour_ahead(sim, SECRET)
        awake_at = sleeps(sim)
        time.sleep(2)  # the display is on: no sleep
        assert sleeps(sim) == awake_at
        # It answers the link after sleeping too (a request also turns the display on).
        wait_for(lambda: dark(sim), SLEEP_S + 5)
        wait_for(lambda: sleeps(sim) > awake_at, 5)
        link = TokenLink(sim)
        try:
            assert link.ok("info")["sleep_s"] == SLEEP_S
        finally:
            link.close()
        wait_for(lambda: not dark(sim), 5)
