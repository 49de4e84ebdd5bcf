"""Host-side message encoding against docs/protocol.md (version 1): framing, answers, MACs."""

import hashlib
import hmac
import json

import pytest

from baoling.provisioning.protocol import (
    Answer,
    decode_answer,
    drift_mac,
    drift_ppb,
    encode_request,
    prove_mac,
    time_mac,
)


def test_request_is_marker_json_newline():
    line = encode_request(7, "time.get", {})
    assert line.startswith(b"@") and line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line[1:]) == {"v": 3, "id": 7, "op": "time.get", "args": {}}


def test_request_carries_the_version_asked_for_and_utf8_text_unescaped():
    line = encode_request(7, "profile.write", {"label": "张三"}, version=1)
    assert json.loads(line[1:])["v"] == 1
    assert "张三".encode() in line  # 6 bytes, where \u escapes would take 12


def test_request_longer_than_512_bytes_is_not_sent():
    with pytest.raises(ValueError, match="longer than 512 bytes"):
        encode_request(1, "profile.write", {"label": "x" * 500})


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        (b'@{"id": 7, "ok": true, "result": {"nonce": "00"}}\n', Answer(7, True, {"nonce": "00"})),
        (
            b'@{"id": 7, "ok": false, "error": "bad_args", '
            b'"message": "slot must be an integer 0..3"}\r\n',
            Answer(7, False, {}, "bad_args", "slot must be an integer 0..3"),
        ),
        (
            b'@{"id": null, "ok": false, "error": "too_long", '
            b'"message": "line longer than 512 bytes"}',
            Answer(None, False, {}, "too_long", "line longer than 512 bytes"),
        ),
    ],
)
def test_answers_from_the_protocol_page(line, answer):
    assert decode_answer(line) == answer


@pytest.mark.parametrize(
    "line",
    [
        b"MicroPython v1.28.0 on 2026-01-01; linux [GCC 12.2.0] version\r\n",
        b">>> \n",
        b'@{"v":1,"id":7,"op":"info","args":{}}\n',  # the REPL echoing the request
        b"@not json\n",
        b"@\xff\xfe\n",
        b'@{"id": true, "ok": true}\n',
        b"@[1, 2]\n",
    ],
)
def test_lines_that_are_not_answers_are_skipped(line):
    assert decode_answer(line) is None


def test_prove_mac_layout():
    challenge = bytes(range(16))
    message = b"baoling-prove-v1" + b"\x00" + challenge
    assert len(message) == 17 + 16
    for algorithm in ("sha1", "sha256", "sha512"):
        expected = hmac.new(b"k" * 20, message, algorithm).digest()
        assert prove_mac(algorithm, b"k" * 20, challenge) == expected


def test_time_mac_layout():
    nonce = bytes(range(16))
    t = 1795500000123
    message = b"baoling-time-v1\x00" + nonce + bytes.fromhex("000001a20c23c37b")
    assert t == int("000001a20c23c37b", 16)
    assert time_mac(b"a" * 32, nonce, t) == hmac.new(b"a" * 32, message, hashlib.sha256).digest()


def test_drift_mac_layout_is_signed():
    nonce = bytes(16)
    message = b"baoling-drift-v1\x00" + nonce + b"\xff" * 7 + b"\x9c"  # -100 ppb
    expected = hmac.new(b"a" * 32, message, hashlib.sha256).digest()
    assert drift_mac(b"a" * 32, nonce, -100) == expected


@pytest.mark.parametrize(("ppm", "ppb"), [(40.0, 40000), (-12.3456, -12346), (0.0004, 0)])
def test_drift_is_sent_in_whole_ppb(ppm, ppb):
    assert drift_ppb(ppm) == ppb
