"""The serial protocol's messages (docs/protocol.md, version 2), without any I/O.

Framing (the `@` marker, one JSON object per line), the answer shape, and the three
domain-separated MACs the host computes: prove, time set and drift set after lock.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = 3  # the newest this host speaks; a token's info names its own
HANDSHAKE_VERSION = 1  # info is asked in version 1, which every token's firmware answers
LABEL_BITMAP_VERSION = 2  # the first version with any-script labels and profile.label
DEVICE_PIN_VERSION = 3  # pin.set (docs/protocol.md)
MARKER = b"@"
MAX_LINE_BYTES = 512  # a request line, marker included, newline excluded
PROVE_PREFIX = b"baoling-prove-v1\x00"
TIME_PREFIX = b"baoling-time-v1\x00"
DRIFT_PREFIX = b"baoling-drift-v1\x00"
CHALLENGE_BYTES = 32  # the device takes 16..64
NONCE_BYTES = 16
ADMIN_KEY_BYTES = 32
MAX_ID = 2_147_483_647


@dataclass(frozen=True)
class Answer:
    """One answer line: `result` when ok, else the device's `error` code and `message`."""

    id: int | None
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    message: str = ""


def encode_request(
    request_id: int, op: str, args: dict[str, Any], version: int = PROTOCOL_VERSION
) -> bytes:
    """The request line for `op`, newline included; ValueError when it would be too long."""
    body = json.dumps(
        {"v": version, "id": request_id, "op": op, "args": args},
        separators=(",", ":"),
        ensure_ascii=False,  # a label in UTF-8 takes half the bytes of its \u escapes
    ).encode("utf-8")
    if len(MARKER) + len(body) > MAX_LINE_BYTES:
        raise ValueError(f"request {op} is longer than {MAX_LINE_BYTES} bytes")
    return MARKER + body + b"\n"


def decode_answer(line: bytes) -> Answer | None:
    """The answer on `line`, or None for anything else: banners, prompts, the REPL's echo of a
    request (an `@` line without `ok`), or a protocol line that is not well formed."""
    line = line.rstrip(b"\r\n")
    if not line.startswith(MARKER):
        return None
    try:
        message = json.loads(line[len(MARKER) :].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("ok"), bool):
        return None
    answer_id = message.get("id")
    if answer_id is not None and (isinstance(answer_id, bool) or not isinstance(answer_id, int)):
        return None
    if message["ok"]:
        result = message.get("result")
        return Answer(answer_id, True, result if isinstance(result, dict) else {})
    error, text = message.get("error", ""), message.get("message", "")
    return Answer(answer_id, False, error=str(error), message=str(text))


def prove_mac(algorithm: str, secret: bytes, challenge: bytes) -> bytes:
    """What a token holding `secret` answers to profile.prove with `challenge`."""
    return hmac.new(secret, PROVE_PREFIX + challenge, getattr(hashlib, algorithm)).digest()


def time_mac(admin_key: bytes, nonce: bytes, time_ms: int) -> bytes:
    """The MAC a locked token needs on time.set."""
    message = TIME_PREFIX + nonce + time_ms.to_bytes(8, "big")
    return hmac.new(admin_key, message, hashlib.sha256).digest()


def drift_ppb(drift_ppm: float) -> int:
    """The integer the device keeps; hosts send ppb / 1000 so rounding cannot differ."""
    return round(drift_ppm * 1000)


def drift_mac(admin_key: bytes, nonce: bytes, ppb: int) -> bytes:
    """The MAC a locked token needs on drift.set."""
    message = DRIFT_PREFIX + nonce + ppb.to_bytes(8, "big", signed=True)
    return hmac.new(admin_key, message, hashlib.sha256).digest()
