"""Sleep on battery (issue 17 item 4): with its display off, a token off USB power light-sleeps
until the next second or a press; on USB it never does (a light sleep would drop a Pico's USB
link, docs/hardware.md). The real firmware under MicroPython in the simulator, whose board
counts its light sleeps behind the same board interface (`doze`).

Sources of truth: the issue's rules (a press wakes it, the clock keeps counting: the right code
after an hour asleep), the verifier's TOTP for the code, the sim board's count of sleeps.
"""

import time
from pathlib import Path

from test_token_sleep_sim import dark, wait_for

from baoling.host_tools.simulator import Simulator
from baoling.verifier.otp import TOTP
from tests.test_firmware_protocol_ops import TokenLink

SECRET = b"battery-token-secret"
SLEEP_S = 5
HOUR_S = 3600


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
        sim.press(0.1)  # wakes it, and nothing else
        wait_for(lambda: not dark(sim), 5)
        reference = TOTP(SECRET)
        code = reference.code_at_step(reference.step_at(int(time.time()) + HOUR_S))
        shown = sim.wait_screen(lambda s: s.get("screen") == "code" and s.get("code") == code)
        assert shown["slot"] == 0
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
