"""Every protocol operation and error code of docs/protocol.md, against the real firmware.

The firmware runs as `micropython -i main.py` on the sim board behind host_tools.simulator's
pseudo-terminals; requests are written to its port with pyserial. Sources of truth:
docs/protocol.md (operations, results, codes, messages), CPython's hmac for prove answers and
pyotp for codes. The `TokenLink` client and the `token` fixture are used by the other
firmware integration tests too.
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import serial

from baoling.host_tools.simulator import Simulator
from tests.micropython_runner import run_micropython

SECRET = b"protocol-ops-secret-20b"
SECRET_B32 = base64.b32encode(SECRET).decode().rstrip("=")
BUILD_MS = 1793491200000
END_MS = 4102444800000


class TokenLink:
    """The host side of docs/protocol.md, written from the document, for tests only."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.serial = serial.Serial(sim.port, timeout=0.2)
        self.rid = 0
        self.serial.write(b"\n")

    def close(self) -> None:
        self.serial.close()

    def send(self, data: bytes) -> None:
        self.serial.write(data)

    def answer(self, rid: int | None, timeout: float = 10) -> dict[str, Any]:
        """The next answer line carrying id `rid` (None: the next answer with a null id)."""
        deadline = time.monotonic() + timeout
        pending = b""
        while time.monotonic() < deadline:
            pending += self.serial.readline()
            if not pending.endswith(b"\n"):
                continue
            line, pending = pending.strip(), b""
            if not line.startswith(b"@"):
                continue
            try:
                message = json.loads(line[1:])
            except ValueError:
                # An answer cut short by a power cut (the tests kill the firmware): the host
                # skips it, as provisioning does. A broken answer to `rid` still fails the
                # test, as a timeout.
                continue
            if "ok" in message and message["id"] == rid:
                return message
        raise TimeoutError(f"no answer with id {rid} within {timeout} s")

    def begin(self, op: str, args: dict[str, Any] | None = None) -> int:
        """Send a request without waiting (the test presses the button); return its id."""
        self.rid += 1
        request: dict[str, Any] = {"v": 1, "id": self.rid, "op": op}
        if args is not None:
            request["args"] = args
        self.send(b"@" + json.dumps(request).encode() + b"\n")
        return self.rid

    def call(self, op: str, args: dict[str, Any] | None = None, timeout: float = 10) -> dict:
        return self.answer(self.begin(op, args), timeout)

    def ok(self, op: str, args: dict[str, Any] | None = None, timeout: float = 10) -> Any:
        message = self.call(op, args, timeout)
        assert message["ok"], message
        return message["result"]

    def refused(self, op: str, args: dict[str, Any] | None = None, timeout: float = 10) -> tuple:
        message = self.call(op, args, timeout)
        assert not message["ok"], message
        assert set(message) == {"id", "ok", "error", "message"}
        return message["error"], message["message"]

    def set_time(self, unix_ms: int) -> dict:
        return self.ok("time.set", {"time_ms": unix_ms})

    def write(self, slot: int, secret: bytes = SECRET, **fields: Any) -> dict:
        args = {"slot": slot, "secret": base64.b32encode(secret).decode(), **fields}
        return self.ok("profile.write", args)


@pytest.fixture
def token(tmp_path: Path) -> Iterator[TokenLink]:
    with Simulator(tmp_path / "token") as sim:
        link = TokenLink(sim)
        try:
            yield link
        finally:
            link.close()


def prove_mac(secret: bytes, challenge: bytes, algorithm: str = "sha1") -> str:
    """docs/protocol.md: HMAC_alg(secret, b"baoling-prove-v1\\x00" + challenge)."""
    return hmac.new(secret, b"baoling-prove-v1\x00" + challenge, algorithm).hexdigest()


def now_ms() -> int:
    return int(time.time() * 1000)


def test_info_reports_what_the_document_lists(token: TokenLink) -> None:
    info = token.ok("info")
    uid = (token.sim.state_dir / ".sim" / "unique_id").read_bytes()
    assert info["serial"] == uid.hex()
    assert {k: info[k] for k in info if k not in ("serial", "time_ms", "uptime_ms")} == {
        "firmware": "0.3.0",
        "protocol": 3,
        "board": "sim",
        "state": "empty",
        "clock_trusted": False,
        "slots": 32,
        "free_slots": list(range(32)),
        "profiles": [],
        "store": "ok",
        "encrypted": True,
        "max_line": 512,
        "pin": False,
        "pin_tries_left": None,
        "sleep_s": 0,
    }
    assert type(info["time_ms"]) is int and type(info["uptime_ms"]) is int


def test_time_set_and_get_before_lock(token: TokenLink) -> None:
    assert token.ok("time.get")["trusted"] is False
    target = now_ms() + 3_600_000
    result = token.set_time(target)
    assert result["trusted"] is True and result["synced_ms"] == target
    assert result["drift_ppm"] == 0
    got = token.ok("time.get")
    assert 0 <= got["time_ms"] - target < 2000
    assert token.ok("info")["clock_trusted"] is True


def test_drift_set_is_reported_and_kept_across_a_restart(token: TokenLink) -> None:
    token.set_time(now_ms())
    assert token.ok("drift.set", {"drift_ppm": 12.345})["drift_ppm"] == 12.345
    assert token.ok("drift.set", {"drift_ppm": -7})["drift_ppm"] == -7
    token.sim.restart()
    assert token.ok("time.get")["drift_ppm"] == -7


def test_time_nonce_is_16_fresh_bytes(token: TokenLink) -> None:
    nonces = {token.ok("time.nonce")["nonce"] for _ in range(5)}
    assert len(nonces) == 5
    assert all(len(bytes.fromhex(n)) == 16 for n in nonces)


def test_profile_write_stores_every_field_and_shows_the_pyotp_code(token: TokenLink) -> None:
    token.set_time(now_ms())
    result = token.write(2, algorithm="sha256", digits=8, period=60, label="bob", issuer="ACME")
    profile = {
        "slot": 2,
        "label": "bob",
        "issuer": "ACME",
        "algorithm": "sha256",
        "digits": 8,
        "period": 60,
    }
    assert result == {"profile": profile}
    info = token.ok("info")
    assert info["profiles"] == [profile]
    assert info["free_slots"] == [0, 1, *range(3, 32)] and info["state"] == "provisioned"
    screen = token.sim.wait_screen(lambda s: s.get("screen") == "code")
    device_s = token.ok("time.get")["time_ms"] // 1000
    reference = pyotp.TOTP(SECRET_B32, digits=8, interval=60, digest=hashlib.sha256)
    assert screen["code"] in {reference.at(device_s - 1), reference.at(device_s)}
    assert screen["label"] == "ACME:bob" and screen["period"] == 60


def test_profile_write_defaults(token: TokenLink) -> None:
    result = token.ok("profile.write", {"slot": 0, "secret": "jbsw y3dp ehpk 3pxp"})
    assert result["profile"] == {
        "slot": 0,
        "label": "",
        "issuer": "",
        "algorithm": "sha1",
        "digits": 6,
        "period": 30,
    }


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_profile_prove_is_the_documented_hmac(token: TokenLink, algorithm: str) -> None:
    token.write(1, algorithm=algorithm)
    for challenge in (bytes(range(16)), bytes(range(64))):
        result = token.ok("profile.prove", {"slot": 1, "challenge": challenge.hex()})
        assert result == {"mac": prove_mac(SECRET, challenge, algorithm)}


def test_profile_erase_frees_the_slot(token: TokenLink) -> None:
    token.write(0)
    token.write(3)
    assert token.ok("profile.erase", {"slot": 0}) == {"slot": 0}
    assert token.ok("info")["free_slots"] == [0, 1, 2, *range(4, 32)]
    assert token.refused("profile.erase", {"slot": 0}) == ("empty_slot", "slot 0 is empty")


def test_lock_then_wipe_with_the_button(token: TokenLink) -> None:
    token.write(0)
    assert token.ok("lock", {"admin_key": "11" * 32}) == {"state": "locked"}
    assert token.ok("info")["state"] == "locked"
    rid = token.begin("wipe", {"timeout_s": 10})
    token.sim.wait_screen(lambda s: s.get("screen") == "wipe_confirm")
    token.sim.press(1.3)
    assert token.answer(rid)["result"] == {"state": "empty"}
    info = token.ok("info")
    assert info["state"] == "empty" and info["profiles"] == []


def test_unknown_op_and_arguments_are_refused(token: TokenLink) -> None:
    assert token.refused("profile.read", {"slot": 0}) == ("unknown_op", "unknown op: profile.read")
    assert token.refused("info", {"verbose": True}) == ("bad_args", "unknown arg: verbose")
    assert token.refused("x" * 100) == ("unknown_op", "unknown op: " + "x" * 32)


BAD_ARGS = [
    ("time.set", {}, "time_ms must be an integer 1793491200000..4102444799999"),
    (
        "time.set",
        {"time_ms": BUILD_MS - 1},
        "time_ms must be an integer 1793491200000..4102444799999",
    ),
    ("time.set", {"time_ms": END_MS}, "time_ms must be an integer 1793491200000..4102444799999"),
    ("time.set", {"time_ms": 1.8e12}, "time_ms must be an integer 1793491200000..4102444799999"),
    ("time.set", {"time_ms": BUILD_MS, "timeout_s": 0}, "timeout_s must be an integer 1..120"),
    ("drift.set", {"drift_ppm": 1000.5}, "drift_ppm must be a number -1000..1000"),
    ("drift.set", {"drift_ppm": "5"}, "drift_ppm must be a number -1000..1000"),
    ("drift.set", {"drift_ppm": True}, "drift_ppm must be a number -1000..1000"),
    ("profile.write", {"secret": SECRET_B32}, "slot must be an integer 0..31"),
    ("profile.write", {"slot": 32, "secret": SECRET_B32}, "slot must be an integer 0..31"),
    ("profile.write", {"slot": True, "secret": SECRET_B32}, "slot must be an integer 0..31"),
    ("profile.write", {"slot": 0}, "secret must be a base32 string"),
    ("profile.write", {"slot": 0, "secret": 12}, "secret must be a base32 string"),
    (
        "profile.write",
        {"slot": 0, "secret": SECRET_B32, "algorithm": "md5"},
        "algorithm must be one of sha1, sha256, sha512",
    ),
    (
        "profile.write",
        {"slot": 0, "secret": SECRET_B32, "digits": 9},
        "digits must be one of 6, 7, 8",
    ),
    (
        "profile.write",
        {"slot": 0, "secret": SECRET_B32, "digits": "6"},
        "digits must be one of 6, 7, 8",
    ),
    (
        "profile.write",
        {"slot": 0, "secret": SECRET_B32, "period": 301},
        "period must be an integer 10..300",
    ),
    (
        "profile.write",
        {"slot": 0, "secret": SECRET_B32, "label": "x" * 33},
        "label must be at most 32 characters, none a control character",
    ),
    (
        "profile.write",
        {"slot": 0, "secret": SECRET_B32, "issuer": "\u5f20" * 33},
        "issuer must be at most 32 characters, none a control character",
    ),
    (
        "profile.write",
        {"slot": 0, "secret": SECRET_B32, "label": "a\nb"},
        "label must be at most 32 characters, none a control character",
    ),
    (
        "profile.write",
        {"slot": 0, "secret": SECRET_B32, "issuer": "a\u0085b"},
        "issuer must be at most 32 characters, none a control character",
    ),
    ("profile.prove", {"slot": 0, "challenge": "00" * 15}, "challenge must be 16..64 bytes in hex"),
    ("profile.prove", {"slot": 0, "challenge": "00" * 65}, "challenge must be 16..64 bytes in hex"),
    ("profile.prove", {"slot": 0, "challenge": "zz" * 16}, "challenge must be 16..64 bytes in hex"),
    ("profile.prove", {"slot": 0, "challenge": "0" * 33}, "challenge must be 16..64 bytes in hex"),
    ("profile.erase", {"slot": -1}, "slot must be an integer 0..31"),
    ("lock", {"admin_key": "11" * 31}, "admin_key must be 32 bytes in hex"),
    ("lock", {}, "admin_key must be 32 bytes in hex"),
    ("wipe", {"timeout_s": 121}, "timeout_s must be an integer 1..120"),
    ("sleep.set", {}, "sleep_s must be 0 or an integer 5..3600, or null"),
    ("sleep.set", {"sleep_s": 4}, "sleep_s must be 0 or an integer 5..3600, or null"),
]


def test_bad_arguments_name_the_argument(token: TokenLink) -> None:
    for op, args, message in BAD_ARGS:
        assert token.refused(op, args) == ("bad_args", message), (op, args)
    assert token.ok("info")["state"] == "empty"


def test_bad_secrets(token: TokenLink) -> None:
    cases = [
        ("JBSWY3DP!EHPK3PXP", "secret is not valid base32"),
        ("JBSWY3DPE", "secret is not valid base32"),
        ("", "secret is not valid base32"),
        ("JBSWY3DPEHPK3PX", "secret must be 10..64 bytes"),  # 9 bytes
        (base64.b32encode(bytes(65)).decode(), "secret must be 10..64 bytes"),
    ]
    for secret, message in cases:
        assert token.refused("profile.write", {"slot": 0, "secret": secret}) == (
            "bad_secret",
            message,
        )
    assert token.ok("info")["profiles"] == []


def test_empty_and_corrupt_slots(token: TokenLink) -> None:
    challenge = {"challenge": "00" * 16}
    assert token.refused("profile.prove", {"slot": 1, **challenge}) == (
        "empty_slot",
        "slot 1 is empty",
    )
    token.write(0)
    token.write(1)
    path = token.sim.state_dir / "bl1.dat"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    token.sim.restart()
    info = token.ok("info")
    assert info["store"] == "corrupt" and info["profiles"][1] == {"slot": 1, "corrupt": True}
    assert token.refused("profile.prove", {"slot": 1, **challenge}) == (
        "corrupt_slot",
        "slot 1 is corrupt; write or erase it",
    )
    assert token.ok("profile.prove", {"slot": 0, **challenge})["mac"] == prove_mac(
        SECRET, bytes(16)
    )
    token.write(1)
    assert token.ok("info")["store"] == "ok"


def test_a_failing_flash_write_is_store_error_and_keeps_the_old_profile(token: TokenLink) -> None:
    token.write(0, label="old")
    (token.sim.state_dir / "bl0.dat.new").mkdir()  # the new file cannot be created
    assert token.refused("profile.write", {"slot": 0, "secret": SECRET_B32, "label": "new"}) == (
        "store_error",
        "could not write the store",
    )
    assert token.ok("info")["profiles"][0]["label"] == "old"


def test_wipe_without_a_press_is_button_timeout(token: TokenLink) -> None:
    token.write(0)
    started = time.monotonic()
    assert token.refused("wipe", {"timeout_s": 1}) == (
        "button_timeout",
        "no button press within 1 s",
    )
    assert 0.9 <= time.monotonic() - started < 4
    assert token.ok("info")["state"] == "provisioned"


def test_lock_twice_and_erase_after_lock_are_locked(token: TokenLink) -> None:
    token.write(0)
    token.ok("lock", {"admin_key": "22" * 32})
    assert token.refused("lock", {"admin_key": "22" * 32}) == ("locked", "token is locked")
    assert token.refused("profile.erase", {"slot": 0}) == ("locked", "token is locked")


def test_an_unexpected_fault_is_answered_as_internal() -> None:
    # No request can make the firmware fail on purpose, so the answer path of app.py is
    # driven directly under MicroPython with a device whose handler raises.
    code = """\
import json
import app
class Broken:
    def handle(self, op, args):
        raise KeyError("boom")
class Bare(app.Token):
    def __init__(self):
        self.dev = Broken()
print(json.dumps(Bare().respond(b'{"v":1,"id":5,"op":"info"}')))
"""
    assert json.loads(run_micropython(code)) == {
        "id": 5,
        "ok": False,
        "error": "internal",
        "message": "internal error",
    }
