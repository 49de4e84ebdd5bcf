"""32 profiles and the menu (issue 17 item 3), on the real firmware under MicroPython in the
simulator, driven through its serial link and its simulated button.

Sources of truth: CPython's hmac for the proofs, the verifier's TOTP for the codes, MicroPython's
own FrameBuffer.text for the menu's rows (tests/test_token_labels_sim.py's font_rows), and the
issue's rules: a long press opens the list of labels, short presses move, a long press selects;
a 33rd profile is refused by the token with its state unchanged and by the host before the
token is touched. The token runs deployed as .mpy in a small heap (HEAP).
"""

import hashlib
import hmac
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from provisioning_sim import run_baoling
from test_token_labels_sim import font_rows, frame

from baoling.host_tools.simulator import Simulator
from baoling.verifier.otp import TOTP
from tests.test_firmware_protocol_ops import TokenLink

SLOTS = 32
ROW_PITCH = 13  # docs/firmware-memory.md's menu: five 12-row labels, one blank row between
LONG_S = 1.2  # docs/protocol.md: a long press is held at least 1 s
HEAP = "64k"  # issue 17: 32 profiles in the heap every profile fits (docs/firmware-memory.md)


def line(slot: int) -> str:
    return f"Bank:user{slot:02d}"


@pytest.fixture
def full_token(tmp_path: Path) -> Iterator[tuple[Simulator, list[TOTP]]]:
    """A token holding 32 profiles, each proved with CPython's hmac, time set."""
    with Simulator(tmp_path / "token", heap=HEAP, compiled=True) as sim:
        link = TokenLink(sim)
        try:
            link.set_time(int(time.time() * 1000))
            references = []
            for slot in range(SLOTS):
                secret = os.urandom(20)
                algorithm = ("sha1", "sha256")[slot % 2]
                link.write(
                    slot, secret, algorithm=algorithm, label=f"user{slot:02d}", issuer="Bank"
                )
                challenge = os.urandom(16)
                mac = link.ok("profile.prove", {"slot": slot, "challenge": challenge.hex()})["mac"]
                message = b"baoling-prove-v1\x00" + challenge
                assert mac == hmac.new(secret, message, getattr(hashlib, algorithm)).hexdigest()
                references.append(TOTP(secret, algorithm=algorithm))
            info = link.ok("info")
            assert [p["slot"] for p in info["profiles"]] == list(range(SLOTS))
            assert [line(p["slot"]) for p in info["profiles"]] == [
                f"{p['issuer']}:{p['label']}" for p in info["profiles"]
            ]
            assert (info["slots"], info["free_slots"]) == (SLOTS, [])
        finally:
            link.close()
        yield sim, references


def code_now(sim: Simulator, reference: TOTP) -> str:
    link = TokenLink(sim)
    try:
        device_s = link.ok("time.get")["time_ms"] // 1000
    finally:
        link.close()
    return reference.code_at_step(reference.step_at(device_s))


def menu_at(sim: Simulator, cursor: int) -> dict:
    first = cursor - cursor % 5
    labels = [line(slot) for slot in range(first, min(first + 5, SLOTS))]
    return sim.wait_screen(
        lambda s: s.get("screen") == "menu" and s.get("cursor") == cursor and s["labels"] == labels
    )


def test_32_profiles_are_shown_through_the_menu(full_token) -> None:
    sim, references = full_token
    sim.wait_screen(lambda s: s.get("screen") == "code" and s.get("label") == line(0))
    sim.press(LONG_S)  # opens the menu at the profile shown
    shown = menu_at(sim, 0)
    assert shown["count"] == SLOTS
    rows = frame(sim)
    for row in range(5):
        y = row * ROW_PITCH + 2
        expected = font_rows((">" if row == 0 else " ") + line(row))
        assert [r[:128] for r in rows[y : y + 8]] == expected[:8], f"row {row}"
    for cursor in range(1, SLOTS):
        sim.press(0.1)
        menu_at(sim, cursor)
    sim.press(LONG_S)  # selects slot 31
    sim.wait_screen(lambda s: s.get("screen") == "code" and s.get("slot") == SLOTS - 1)
    code = code_now(sim, references[SLOTS - 1])
    sim.wait_screen(lambda s: s.get("label") == line(SLOTS - 1) and s.get("code") == code)
    sim.press(LONG_S)
    menu_at(sim, SLOTS - 1)
    sim.press(0.1)  # round to the first
    menu_at(sim, 0)
    sim.press(LONG_S)
    code = code_now(sim, references[0])
    sim.wait_screen(lambda s: s.get("label") == line(0) and s.get("code") == code)
    for slot in range(1, 4):  # short presses on the code screen still step through the profiles
        sim.press(0.1)
        code = code_now(sim, references[slot])
        sim.wait_screen(lambda s, slot=slot, code=code: s.get("slot") == slot and s["code"] == code)


def test_a_33rd_profile_is_refused_by_the_token_and_by_the_host(full_token, tmp_path) -> None:
    sim, _ = full_token
    link = TokenLink(sim)
    try:
        before = link.ok("info")
        secret = "JBSWY3DPEHPK3PXPJBSWY3DP"
        assert link.refused("profile.write", {"slot": SLOTS, "secret": secret}) == (
            "bad_args",
            "slot must be an integer 0..31",
        )
        after = link.ok("info")
        assert after["profiles"] == before["profiles"] and after["free_slots"] == []
    finally:
        link.close()
    pid = sim.pid
    proc = run_baoling(
        "token",
        "provision",
        "--port",
        sim.port,
        "--secret",
        "-",
        "--slot",
        str(SLOTS),
        "--keys",
        str(tmp_path / "keys.json"),
        stdin=secret + "\n",
    )
    assert proc.returncode == 1
    assert proc.stderr == "Error: Slot must be from 0 to 31, not 32.\n"
    link = TokenLink(sim)
    try:
        assert link.ok("info")["profiles"] == before["profiles"]
    finally:
        link.close()
    assert sim.pid == pid
