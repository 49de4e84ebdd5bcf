"""What the sleep tests share (tests/test_token_sleep_sim.py, tests/test_token_lightsleep_sim.py):
whether the simulator's display is dark, waiting for a condition, and the issue's check that a
token woken after an hour asleep shows the code of that hour (its clock kept counting).
"""

import time
from collections.abc import Callable

from test_token_labels_sim import frame

from baoling.host_tools.simulator import Simulator
from baoling.verifier.otp import TOTP

HOUR_S = 3600


def dark(sim: Simulator) -> bool:
    """Every pixel of the frame buffer off: the display sleeps."""
    return not any(any(row) for row in frame(sim))


def wait_for(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until check() holds; AssertionError after timeout."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.05)
    return time.monotonic() - start


def wake_and_check_the_code_an_hour_ahead(sim: Simulator, secret: bytes) -> None:
    """After `sim.age(HOUR_S)` while the display slept: a press wakes it (and does nothing
    else), and slot 0 shows the verifier's code for an hour after the host's clock."""
    sim.press(0.1)
    wait_for(lambda: not dark(sim), 5)
    reference = TOTP(secret)
    code = reference.code_at_step(reference.step_at(int(time.time()) + HOUR_S))
    shown = sim.wait_screen(lambda s: s.get("screen") == "code" and s.get("code") == code)
    assert shown["slot"] == 0
