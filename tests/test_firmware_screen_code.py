"""The code on the simulated token's screen is the verifier core's code for that secret and time.

Source of truth: verifier.otp (itself checked against RFC 6238, pyotp and oathtool). The
firmware runs unchanged on the sim board; the profile is written and the clock set over the
serial protocol (docs/protocol.md) through a pyserial connection to the simulator's port.
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_firmware_protocol_ops import TokenLink

from baoling.host_tools.simulator import Simulator
from baoling.verifier.otp import TOTP

LEAD_MS = 6000  # the clock is set this long before a period boundary


@pytest.fixture
def token(tmp_path: Path) -> Iterator[tuple[Simulator, TokenLink]]:
    with Simulator(tmp_path / "token") as sim:
        link = TokenLink(sim)
        try:
            yield sim, link
        finally:
            link.close()


def showing(code: str):
    return lambda shown: shown["screen"] == "code" and shown["code"] == code


@pytest.mark.parametrize(
    ("algorithm", "digits", "period"),
    [("sha1", 6, 30), ("sha256", 6, 60), ("sha512", 8, 60)],
)
def test_screen_shows_the_verifier_code_before_and_after_a_period_boundary(
    token: tuple[Simulator, TokenLink], algorithm: str, digits: int, period: int
):
    sim, link = token
    secret = os.urandom(32)
    reference = TOTP(secret, algorithm=algorithm, digits=digits, period_s=period)
    period_ms = period * 1000
    boundary_ms = (int(time.time() * 1000) // period_ms + 2) * period_ms
    step = boundary_ms // period_ms
    link.set_time(boundary_ms - LEAD_MS)
    link.write(0, secret, algorithm=algorithm, digits=digits, period=period, label="screen")

    before = sim.wait_screen(lambda shown: shown["screen"] == "code")
    assert before["code"] == reference.code_at_step(step - 1)
    assert before["seconds_left"] <= LEAD_MS // 1000
    assert before["period"] == period

    after = sim.wait_screen(showing(reference.code_at_step(step)), timeout=LEAD_MS / 1000 + 3)
    assert after["seconds_left"] >= period - 2

    # A whole period of virtual time later (no drift set): exactly one step on.
    sim.age(period)
    sim.wait_screen(showing(reference.code_at_step(step + 1)))


def test_the_second_slot_shows_its_own_code_after_a_button_press(
    token: tuple[Simulator, TokenLink],
):
    sim, link = token
    secrets = [os.urandom(20), os.urandom(20)]
    step = int(time.time()) // 30 + 1
    link.set_time(step * 30_000 + 5000)  # 25 s before the code changes
    for slot, secret in enumerate(secrets):
        link.write(slot, secret, label=f"slot {slot}")
    first = sim.wait_screen(lambda shown: shown["screen"] == "code" and shown["slot"] == 0)
    sim.press(0.1)
    second = sim.wait_screen(lambda shown: shown["screen"] == "code" and shown["slot"] == 1)
    assert first["code"] == TOTP(secrets[0]).code_at_step(step)
    assert second["code"] == TOTP(secrets[1]).code_at_step(step)
    assert second["label"] == "slot 1"
