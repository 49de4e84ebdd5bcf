"""The device PIN entered with two buttons (issue 17 item 2, "two buttons: one each"), on the real
firmware under MicroPython in the simulator with a second simulated button behind the same
board interface (docs/hardware.md: button A steps the digit, button B takes it).

Sources of truth: the issue's rules (no code before a right PIN, a wrong one counts), the
verifier's TOTP for the code, and the screens docs/protocol.md and docs/hardware.md describe.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from baoling.host_tools.simulator import Simulator
from baoling.verifier.otp import TOTP
from tests.test_firmware_protocol_ops import TokenLink

PIN = "2031"
SECRET = b"two-button-secret!!!"
A, B = 1, 2


def enter(sim: Simulator, digits: str) -> None:
    """A steps the digit, B takes it: short presses only."""
    for i, digit in enumerate(digits):
        for _ in range(int(digit)):
            sim.press(0.1, A)
        shown = "*" * i + digit
        sim.wait_screen(lambda s, shown=shown: s.get("detail", "").startswith(shown))
        sim.press(0.1, B)


@pytest.fixture
def two_button_token(tmp_path: Path) -> Iterator[Simulator]:
    """A two-button token with a PIN and two profiles, restarted: the PIN screen is up."""
    with Simulator(tmp_path / "token", buttons=2) as sim:
        link = TokenLink(sim)
        try:
            link.set_time(int(time.time() * 1000))
            link.ok("pin.set", {"pin": PIN, "hold_s": 60})
            link.write(0, SECRET, label="alice")
            link.write(1, b"another-secret-here!", label="bob")
        finally:
            link.close()
        sim.restart()
        yield sim


def call(sim: Simulator, op: str) -> dict:
    link = TokenLink(sim)
    try:
        return link.ok(op)
    finally:
        link.close()


def test_a_steps_the_digit_and_b_takes_it(two_button_token: Simulator) -> None:
    sim = two_button_token
    shown = sim.wait_screen(lambda s: s.get("screen") == "pin_ab")
    assert shown == {"screen": "pin_ab", "detail": "0___"}
    enter(sim, "2030")  # one digit off: a wrong PIN, counted
    sim.wait_screen(lambda s: s.get("screen") == "wrong_pin")
    assert call(sim, "info")["pin_tries_left"] == 9
    sim.wait_screen(lambda s: s == {"screen": "pin_ab", "detail": "0___"})
    enter(sim, PIN)
    reference = TOTP(SECRET)
    device_s = call(sim, "time.get")["time_ms"] // 1000
    code = reference.code_at_step(reference.step_at(device_s))
    sim.wait_screen(lambda s: s.get("screen") == "code" and s.get("code") == code)
    assert call(sim, "info")["pin_tries_left"] == 10


def test_b_opens_the_menu_and_picks_and_a_moves(two_button_token: Simulator) -> None:
    sim = two_button_token
    enter(sim, PIN)
    sim.wait_screen(lambda s: s.get("screen") == "code" and s.get("slot") == 0)
    sim.press(0.1, B)
    sim.wait_screen(
        lambda s: s == {"screen": "menu", "cursor": 0, "count": 2, "labels": ["alice", "bob"]}
    )
    sim.press(0.1, A)
    sim.wait_screen(lambda s: s.get("screen") == "menu" and s.get("cursor") == 1)
    sim.press(0.1, B)
    sim.wait_screen(lambda s: s.get("screen") == "code" and s.get("slot") == 1)


def test_a_wipe_needs_a_long_press_not_a_short_b(tmp_path: Path) -> None:
    with Simulator(tmp_path / "token", buttons=2) as sim:
        link = TokenLink(sim)
        try:
            link.set_time(int(time.time() * 1000))
            link.write(0, SECRET, label="alice")
            rid = link.begin("wipe", {"timeout_s": 5})
            sim.wait_screen(lambda s: s.get("screen") == "wipe_confirm")
            sim.press(0.1, B)
            assert link.answer(rid)["error"] == "button_timeout"
            assert [p["slot"] for p in link.ok("info")["profiles"]] == [0]
            rid = link.begin("wipe", {"timeout_s": 10})
            sim.wait_screen(lambda s: s.get("screen") == "wipe_confirm")
            sim.press(1.2, B)
            assert link.answer(rid)["result"] == {"state": "empty"}
        finally:
            link.close()
