"""Bad input on the serial link loses nothing, and no device output holds a stored secret.

Sources of truth: the issue ("garbage, non-UTF-8, over-long lines, unknown operations, wrong
types, bad base32 -> an error answer, the device keeps running and keeps its state"; "no
output of the device ever contains a stored secret") and docs/protocol.md's framing rules.
"""

import base64
import json
import random

from tests.test_firmware_protocol_ops import TokenLink, now_ms, token

__all__ = ["token"]

SECRETS = [
    b"robustness-secret-one!",
    bytes(range(200, 232)),
    b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13",
]


def forms(secret: bytes) -> list[bytes]:
    """The secret as raw bytes, hex, base32 and base64, in both cases where it matters."""
    b32 = base64.b32encode(secret)
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        b32,
        b32.rstrip(b"="),
        b32.lower().rstrip(b"="),
        base64.b64encode(secret),
    ]


def provision(token: TokenLink) -> list[dict]:
    token.set_time(now_ms())
    for slot, secret in enumerate(SECRETS):
        token.write(slot, secret, label=f"p{slot}", algorithm=["sha1", "sha256", "sha512"][slot])
    return token.ok("info")["profiles"]


def test_random_bytes_and_long_lines_then_info_answers_and_profiles_are_unchanged(
    token: TokenLink,
) -> None:
    profiles = provision(token)
    rng = random.Random(2024)
    noise = bytearray()
    for _ in range(60):
        kind = rng.randrange(5)
        if kind == 0:  # raw random bytes (no Ctrl-C: before lock that is the REPL's key)
            noise += bytes(rng.choice(range(4, 256)) for _ in range(rng.randrange(1, 400)))
        elif kind == 1:  # an over-long protocol line
            noise += b"@" + b"{" * rng.randrange(513, 3000) + b"\n"
        elif kind == 2:  # an over-long line of anything
            noise += bytes(rng.randrange(32, 127) for _ in range(rng.randrange(600, 5000)))
            noise += b"\n"
        elif kind == 3:  # protocol lines that are wrong in one way
            noise += rng.choice(
                [
                    b"@\xc3\x28\n",
                    b'@{"v":1,"id":1,"op":"profile.write","args":{"slot":0,"secret":"!!"}}\n',
                    b'@{"v":1,"id":2,"op":"profile.write","args":{"slot":"0"}}\n',
                    b'@{"v":1,"id":3,"op":"no.such.op"}\n',
                    b'@{"v":1,"id":4,"op":"profile.erase","args":{"slot":32}}\n',
                    b"@" + b"[" * 400 + b"\n",
                    b'@{"v":1,"id":5,"op":"time.set","args":{"time_ms":-1}}\n',
                ]
            )
        else:
            noise += b"\r\n"
    for start in range(0, len(noise), 4096):
        token.send(bytes(noise[start : start + 4096]))
    token.send(b"\n")
    info = token.ok("info", timeout=30)
    assert info["profiles"] == profiles and info["store"] == "ok"
    assert info["clock_trusted"] is True
    output = token.sim.device_output()
    answers = [json.loads(line[1:]) for line in output.splitlines() if line.startswith(b"@")]
    errors = {a["error"] for a in answers if not a["ok"]}
    assert {"too_long", "bad_utf8", "bad_json"} <= errors
    assert b"Traceback" not in output


def test_no_device_output_ever_contains_a_stored_secret(token: TokenLink) -> None:
    provision(token)
    for slot in range(3):
        token.ok("profile.prove", {"slot": slot, "challenge": "ab" * 16})
    token.ok("info")
    token.ok("time.get")
    token.refused("profile.write", {"slot": 32, "secret": base64.b32encode(SECRETS[0]).decode()})
    token.refused("profile.write", {"slot": 0, "secret": SECRETS[0].hex() + "!"})
    token.refused("profile.read", {"slot": 0})
    token.sim.restart()
    token.ok("info")
    token.ok("lock", {"admin_key": SECRETS[1].hex()})
    token.refused("profile.write", {"slot": 1, "secret": base64.b32encode(SECRETS[1]).decode()})
    token.refused("wipe", {"timeout_s": 1})
    output = token.sim.device_output()
    assert output.count(b"@{") >= 14
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in output, form
