"""What the RADIUS front end checks before the verifier (verifier/radius.py): a locked
token's static PIN is not hashed, since RADIUS answers on one thread; and a NAS address that a
trusted proxy names badly drops the request as malformed."""

import base64
import os
import struct
import tomllib
from ipaddress import ip_network
from pathlib import Path

import pyotp
import pytest
from pyrad import packet
from pyrad.dictionary import Dictionary

from baoling.verifier import radius
from baoling.verifier.engine import Policy
from baoling.verifier.radius import (
    DICTIONARY_PATH,
    Dropped,
    authenticate,
    hash_pin,
    nas_address,
    parse_config,
)
from baoling.verifier.service import Verifier

SECRET = b"12345678901234567890"
PIN = "4321"


def test_a_locked_tokens_static_pin_is_not_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = Verifier(data_dir=tmp_path / "data", policy=Policy(lockout_after_fails=2))
    v.enrol("tok", SECRET)
    config = parse_config(
        tomllib.loads(
            '[clients."127.0.0.1"]\nsecret = "s"\n'
            f'[users.dave]\ntoken = "tok"\npin_hash = "{hash_pin(PIN)}"\n'
        ),
        "radius.toml",
    )
    hashed: list[str] = []
    check = radius.check_secret
    monkeypatch.setattr(radius, "check_secret", lambda pin, h: hashed.append(pin) or check(pin, h))
    code = pyotp.TOTP(base64.b32encode(SECRET).decode()).now()
    try:
        for _ in range(2):  # two wrong PINs: the lock
            assert not authenticate(v, config, "dave", "9999" + code)
        assert len(hashed) == 2 and v.show("tok")["locked_until"] is not None
        for pin in ("9999", PIN, "1111"):
            assert not authenticate(v, config, "dave", pin + code)
        assert len(hashed) == 2  # none since the lock
        reasons = [row["detail"].get("reason") for row in v.search_audit(token="tok")]
        assert reasons[:3] == ["locked"] * 3  # still audited, newest first
    finally:
        v.close()


def test_a_bad_nas_address_from_a_trusted_proxy_is_a_malformed_drop() -> None:
    body = bytes([4, 5]) + b"abc"  # NAS-IP-Address, 3 octets instead of 4
    raw = struct.pack("!BBH", packet.AccessRequest, 7, 20 + len(body)) + os.urandom(16) + body
    pkt = packet.AuthPacket(secret=b"s", dict=Dictionary(str(DICTIONARY_PATH)), packet=raw)
    pkt.source = ("127.0.0.1", 1812)
    with pytest.raises(Dropped) as dropped:
        nas_address(pkt, [ip_network("127.0.0.0/8")])
    assert (dropped.value.reason, str(dropped.value)) == (
        "malformed",
        "NAS-IP-Address is not an address",
    )
    assert nas_address(pkt, []) == "127.0.0.1"  # from anyone else the attribute is ignored
