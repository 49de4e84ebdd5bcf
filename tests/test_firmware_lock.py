"""The production lock and wipe (docs/protocol.md "lock", "wipe", "States"), on the real firmware.

Source of truth: the issue's lock rules: before lock Ctrl-C reaches the REPL; after lock
Ctrl-C (0x03) does nothing, the firmware never exits, occupied slots cannot be overwritten,
and only wipe with a long button press unlocks and erases everything.
"""

import time

from tests.test_firmware_protocol_ops import SECRET, TokenLink, now_ms, prove_mac, token

__all__ = ["token"]

ADMIN_KEY = "a5" * 32


def test_before_lock_ctrl_c_ends_main_and_the_repl_answers(token: TokenLink) -> None:
    token.ok("info")
    since = len(token.sim.device_output())
    token.send(b"\x03")
    token.sim.wait_output(b">>> ", since=since)
    token.send(b"print(6 * 7)\r")
    token.sim.wait_output(b"42", since=since)


def test_after_lock_ctrl_c_does_nothing(token: TokenLink) -> None:
    token.write(0)
    token.ok("lock", {"admin_key": ADMIN_KEY})
    pid = token.sim.pid
    before = token.ok("info")["uptime_ms"]
    since = len(token.sim.device_output())
    token.send(b"\x03")
    token.send(b"\x03\x03\r\n")
    token.send(b'@{"v":1,"id":900,\x03"op":"info"}\n')
    time.sleep(0.5)
    assert token.answer(900)["result"]["state"] == "locked"  # the 0x03 inside was dropped
    info = token.ok("info")
    assert info["state"] == "locked" and info["uptime_ms"] > before
    assert token.sim.pid == pid
    output = token.sim.device_output()[since:]
    assert b">>>" not in output and b"Traceback" not in output


def test_the_lock_holds_across_a_restart(token: TokenLink) -> None:
    token.write(0)
    token.ok("lock", {"admin_key": ADMIN_KEY})
    token.sim.restart()
    assert token.ok("info")["state"] == "locked"
    since = len(token.sim.device_output())
    token.send(b"\x03")
    time.sleep(0.3)
    assert token.ok("info")["state"] == "locked"
    assert b">>>" not in token.sim.device_output()[since:]


def test_after_lock_occupied_slots_cannot_be_overwritten(token: TokenLink) -> None:
    token.write(0, label="first")
    token.ok("lock", {"admin_key": ADMIN_KEY})
    assert token.refused("profile.write", {"slot": 0, "secret": "JBSWY3DPEHPK3PXP"}) == (
        "slot_occupied",
        "slot 0 is occupied and the token is locked",
    )
    assert token.write(1, label="second")["profile"]["label"] == "second"
    profiles = token.ok("info")["profiles"]
    assert [p["label"] for p in profiles] == ["first", "second"]
    challenge = bytes(range(16))
    assert token.ok("profile.prove", {"slot": 0, "challenge": challenge.hex()}) == {
        "mac": prove_mac(SECRET, challenge)
    }


def test_wipe_without_the_press_is_refused_and_changes_nothing(token: TokenLink) -> None:
    token.set_time(now_ms())
    token.write(0)
    token.ok("lock", {"admin_key": ADMIN_KEY})
    rid = token.begin("wipe", {"timeout_s": 2})
    assert token.sim.wait_screen(lambda s: s.get("screen") == "wipe_confirm")
    token.sim.press(0.2)  # a short press is not a confirmation
    answer = token.answer(rid)
    assert (answer["error"], answer["message"]) == ("button_timeout", "no button press within 2 s")
    info = token.ok("info")
    assert info["state"] == "locked" and len(info["profiles"]) == 1
    token.sim.wait_screen(lambda s: s.get("screen") == "code")


def test_wipe_with_the_press_erases_everything_and_unlocks(token: TokenLink) -> None:
    token.set_time(now_ms())
    token.write(0)
    token.write(3, label="x")
    token.ok("drift.set", {"drift_ppm": 5})
    token.ok("lock", {"admin_key": ADMIN_KEY})
    rid = token.begin("wipe")
    token.sim.wait_screen(lambda s: s.get("screen") == "wipe_confirm")
    token.sim.press(1.3)
    assert token.answer(rid)["result"] == {"state": "empty"}
    token.sim.wait_screen(lambda s: s.get("screen") == "wiped")
    info = token.ok("info")
    assert info["state"] == "empty" and info["profiles"] == [] and info["store"] == "ok"
    assert info["free_slots"] == list(range(32))
    assert sorted(p.name for p in token.sim.state_dir.glob("bl*")) == []
    # the admin key went too: the clock can be set without a MAC, and drift is back to 0
    assert token.set_time(now_ms())["drift_ppm"] == 0
    token.sim.restart()
    assert token.ok("info")["state"] == "empty"
