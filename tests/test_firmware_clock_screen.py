"""What the token shows: SET TIME when its clock is untrusted, drift-corrected codes, profiles.

Sources of truth: the issue ("an untrusted clock shows SET TIME, never a code"; "a stored
drift correction (ppm, set by the host) is applied to the time the OTP uses"; "the code shown
on the simulator's screen equals the verifier core's code for the same secret and time") and
docs/protocol.md's drift formula. Codes come from verifier.otp, the verifier's own core.
"""

import json
import time
from pathlib import Path

from baoling.verifier.otp import TOTP
from tests.micropython_runner import run_micropython
from tests.test_firmware_protocol_ops import SECRET, TokenLink, now_ms, token

__all__ = ["token"]


def screens_for(token: TokenLink, seconds: float) -> set[str]:
    """Every screen kind published during `seconds`."""
    seen = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.add(token.sim.screen().get("screen", "nothing"))
        time.sleep(0.05)
    return seen


def test_an_untrusted_clock_shows_set_time_and_never_a_code(token: TokenLink) -> None:
    token.sim.wait_screen(lambda s: s.get("screen") == "set_time")
    token.write(0)
    assert screens_for(token, 1.5) == {"set_time"}
    token.set_time(now_ms())
    token.sim.wait_screen(lambda s: s.get("screen") == "code")
    token.sim.set_clock(battery=False)
    token.sim.restart()
    assert token.ok("time.get")["trusted"] is False
    assert screens_for(token, 1.5) <= {"set_time", "nothing"}
    assert token.sim.screen() == {"screen": "set_time"}
    assert len(token.ok("info")["profiles"]) == 1


def test_a_battery_backed_clock_is_trusted_after_a_restart(token: TokenLink) -> None:
    token.set_time(now_ms())
    token.write(0)
    token.sim.restart()
    assert token.ok("time.get")["trusted"] is True
    token.sim.wait_screen(lambda s: s.get("screen") == "code")


def test_the_screen_shows_the_verifier_cores_code_for_the_device_time(token: TokenLink) -> None:
    token.set_time(now_ms() + 7 * 86_400_000)  # a week ahead: not the host's own time
    token.write(0, label="alice")
    otp = TOTP(SECRET)
    for _ in range(3):
        step = otp.step_at(token.ok("time.get")["time_ms"] / 1000)
        # the screen shows this step's code, or the next one's if a boundary passes meanwhile
        expected = {otp.code_at_step(step), otp.code_at_step(step + 1)}
        screen = token.sim.wait_screen(lambda s, e=expected: s.get("code") in e)
        assert screen["label"] == "alice" and 1 <= screen["seconds_left"] <= 30
        token.sim.age(30)  # next period


def test_drift_correction_changes_the_code_at_the_corrected_moment(token: TokenLink) -> None:
    otp = TOTP(SECRET)
    aged_s = 100_000  # at 100 ppm the raw clock gains 10 s over this
    token.sim.set_clock(drift_ppm=100)
    boundary_ms = (now_ms() // 30_000 + 10_000) * 30_000  # a period boundary in the future
    start = boundary_ms - aged_s * 1000 - 4_000  # corrected time will be 4 s before it
    token.set_time(start)
    token.write(0)
    assert token.ok("drift.set", {"drift_ppm": 100})["drift_ppm"] == 100
    token.sim.age(aged_s)
    got = token.ok("time.get")
    # docs/protocol.md: corrected = synced + raw_elapsed * 1e9 // (1e9 + ppb)
    assert abs(got["time_ms"] - (boundary_ms - 4_000)) < 1_000
    before = otp.code_at_step(boundary_ms // 30_000 - 1)
    after = otp.code_at_step(boundary_ms // 30_000)
    screen = token.sim.wait_screen(lambda s: s.get("code") == before)
    assert 2 <= screen["seconds_left"] <= 5
    aged_at = time.monotonic()
    token.sim.wait_screen(lambda s: s.get("code") == after, timeout=8)
    assert 2.0 <= time.monotonic() - aged_at <= 6.0
    # without the correction the raw clock is 6 s past the boundary already
    token.ok("drift.set", {"drift_ppm": 0})
    assert token.ok("time.get")["time_ms"] - boundary_ms > 5_000


def test_a_short_press_shows_the_next_profile(token: TokenLink) -> None:
    """The issue's buttons: a short press moves to the next profile, wrapping around."""
    token.set_time(now_ms())
    token.write(0, label="first")
    token.write(2, label="third")
    shown = token.sim.wait_screen(lambda s: s.get("slots") == 2)
    assert (shown["label"], shown["slot"]) == ("first", 0)
    token.sim.press(0.15)
    shown = token.sim.wait_screen(lambda s: s.get("label") == "third")
    assert (shown["slot"], shown["slots"]) == (1, 2)
    token.sim.press(0.15)
    token.sim.wait_screen(lambda s: s.get("label") == "first")


def test_the_display_sleeps_when_idle_and_a_press_only_wakes_it(tmp_path: Path) -> None:
    """Real boards set hw.sleep_s (the sim board does not): app.py's loop, run under
    MicroPython on the sim board with sleep_s = 1, turns the display off after a second
    without a press, and the next short press wakes it without moving to the next profile."""
    code = f"""\
import json, os, time
from boards import sim
import app
hw = sim.make()
hw.sleep_s = 1
token = app.Token(hw)
token.clock.set({now_ms()})
token.store.write(0, b"0123456789abcdef", "sha1", 6, 30, "first", "")
token.store.write(1, b"fedcba9876543210", "sha1", 6, 30, "second", "")
def run_for(ms):
    end = time.ticks_add(time.ticks_ms(), ms)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        token.tick()
        time.sleep_ms(20)
def press():
    open(".sim/button", "w").close()
    run_for(150)
    os.remove(".sim/button")
    run_for(100)
out = []
run_for(300)
out.append([hw.display.on, token.screen.slot])
run_for(1200)
out.append([hw.display.on, token.screen.slot])
press()
out.append([hw.display.on, token.screen.slot])
press()
out.append([hw.display.on, token.screen.slot])
print(json.dumps(out))
"""
    got = json.loads(run_micropython(code, cwd=tmp_path).strip().splitlines()[-1])
    assert got == [[True, 0], [False, 0], [True, 0], [True, 1]]
