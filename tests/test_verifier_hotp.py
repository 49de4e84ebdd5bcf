"""HOTP (RFC 4226) counter tokens in the verifier, on both stores: enrolment, the look-ahead
window, one accept per code under concurrency (threads, and two nodes), resync, lockout, users,
and PSKC files with a Counter. Codes come from RFC 4226's own table and pyotp, never from the
code under test."""

import base64
import io
import re

import pyotp
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pskc import PSKC

from baoling.core import otpauth
from baoling.host_tools.cli import cli
from baoling.verifier.engine import Policy
from baoling.verifier.errors import InvalidRequest
from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier
from tests.test_pskc_import import HOTP_URN, PSK
from tests.test_rfc4226 import RFC4226_HOTP, RFC4226_SECRET
from tests.test_verifier_concurrency import ATTEMPTS, at_once, on_two_nodes

NOW = 1_800_000_000.0  # HOTP ignores the time; the verifier still stamps its audit rows with it
SECRET = bytes(range(1, 21))
# An accepted code's answer: RFC 8176 amr of a token without a device PIN (docs/verifier.md).
ACCEPT = {"result": "accept", "amr": ["hwk", "otp"]}
REFERENCE = pyotp.HOTP(base64.b32encode(SECRET).decode())


def hotp_code(counter: int) -> str:
    return REFERENCE.at(counter)


def reasons(v, action: str = "validate") -> list[str]:
    """The reasons of the audit rows of `action`, oldest first."""
    return [row["detail"]["reason"] for row in reversed(v.audit()) if row["action"] == action]


def test_rfc4226_appendix_d_codes_are_accepted_in_order_and_once(make_verifier):
    v = make_verifier()
    v.enrol("rfc", RFC4226_SECRET, kind="hotp")
    for count, code in enumerate(RFC4226_HOTP):
        assert v.validate("rfc", code, now=NOW), count
        assert not v.validate("rfc", code, now=NOW), count
    assert v.show("rfc")["counter"] == len(RFC4226_HOTP)


def test_a_code_5_presses_ahead_is_accepted_then_every_earlier_one_refused(make_verifier):
    v = make_verifier()
    v.enrol("tok", SECRET, kind="hotp")
    assert v.check("tok", hotp_code(5), now=NOW).accepted
    for earlier in range(6):
        decision = v.check("tok", hotp_code(earlier), now=NOW)
        assert (decision.accepted, decision.reason) == (False, "replay"), earlier
    assert v.validate("tok", hotp_code(6), now=NOW)


def test_the_look_ahead_window_is_10_codes_by_default_and_a_setting(make_verifier):
    v = make_verifier()
    v.enrol("tok", SECRET, kind="hotp")
    assert v.check("tok", hotp_code(10), now=NOW).reason == "wrong_code"
    assert v.validate("tok", hotp_code(9), now=NOW)
    wide = make_verifier(Policy(hotp_window=30))
    wide.enrol("wide", SECRET, kind="hotp")
    assert wide.validate("wide", hotp_code(29), now=NOW)


def test_enrolment_gives_an_hotp_uri_and_shows_the_counter(make_verifier):
    v = make_verifier()
    uri = v.enrol("tok", SECRET, kind="hotp", counter=7, issuer="Bank", digits=8)
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.HOTP)
    assert (parsed.initial_count, parsed.digits, parsed.issuer) == (7, 8, "Bank")
    assert base64.b32decode(parsed.secret) == SECRET
    assert otpauth.parse(uri, hotp=True).counter == 7
    info = v.show("tok")
    assert (info["kind"], info["counter"], info["period"]) == ("hotp", 7, None)
    assert not v.validate("tok", pyotp.HOTP(parsed.secret, digits=8).at(6), now=NOW)
    assert v.validate("tok", pyotp.HOTP(parsed.secret, digits=8).at(7), now=NOW)


@pytest.mark.parametrize(
    "kind, counter, message",
    [
        ("event", 0, "kind must be totp or hotp"),
        ("hotp", -1, "counter must be a whole number from 0 to 9223372036854775807"),
        ("hotp", 2**63, "counter must be a whole number from 0 to 9223372036854775807"),
    ],
)
def test_a_bad_kind_or_counter_is_refused_and_nothing_enrolled(
    make_verifier, kind, counter, message
):
    v = make_verifier()
    with pytest.raises(InvalidRequest, match=f"^{message}$"):
        v.enrol("tok", SECRET, kind=kind, counter=counter)
    assert v.list_tokens() == []


def test_the_last_counter_the_store_keeps_is_reached_and_not_passed(make_verifier):
    # The store's counter is a signed 64-bit column: 2**63 - 1 is the last next-counter it keeps.
    v = make_verifier()
    v.enrol("tok", SECRET, kind="hotp", counter=2**63 - 2)
    assert v.validate("tok", hotp_code(2**63 - 2), now=NOW)
    assert v.show("tok")["counter"] == 2**63 - 1
    assert v.check("tok", hotp_code(2**63 - 1), now=NOW).reason == "wrong_code"
    assert not v.resync("tok", hotp_code(2**63 - 1), hotp_code(2**63), now=NOW)


def test_50_threads_one_hotp_code_exactly_one_accept(make_verifier):
    v = make_verifier()
    v.enrol("tok", SECRET, kind="hotp")
    code = hotp_code(3)
    assert at_once(lambda: v.validate("tok", code, now=NOW)) == [False] * (ATTEMPTS - 1) + [True]
    assert v.show("tok")["counter"] == 4
    assert reasons(v).count("accepted") == 1


def test_two_nodes_50_submissions_of_one_hotp_code_exactly_one_accept(
    make_verifier, store_url, data_dir
):
    make_verifier().enrol("tok", SECRET, kind="hotp")
    assert on_two_nodes(store_url, data_dir, "validate", "tok", hotp_code(2), NOW) == 1
    v = make_verifier()
    assert v.show("tok")["counter"] == 3
    assert v.verify_audit().ok


def test_resync_with_two_consecutive_codes_50_ahead(make_verifier):
    v = make_verifier()
    v.enrol("tok", SECRET, kind="hotp")
    assert v.check("tok", hotp_code(50), now=NOW).reason == "wrong_code"
    assert not v.resync("tok", hotp_code(50), hotp_code(52), now=NOW)
    assert v.resync("tok", hotp_code(50), hotp_code(51), now=NOW)
    assert v.show("tok")["counter"] == 52
    assert not v.validate("tok", hotp_code(51), now=NOW)
    assert v.validate("tok", hotp_code(52), now=NOW)
    assert reasons(v, "resync") == ["resync_failed", "resynced"]


def test_resync_beyond_the_wide_window_fails(make_verifier):
    v = make_verifier(Policy(hotp_resync_window=40))
    v.enrol("tok", SECRET, kind="hotp")
    assert not v.resync("tok", hotp_code(50), hotp_code(51), now=NOW)
    assert v.show("tok")["counter"] == 0


def test_wrong_codes_lock_an_hotp_token_as_a_totp_one(make_verifier):
    v = make_verifier(Policy(lockout_after_fails=3, lockout_seconds=60))
    v.enrol("tok", SECRET, kind="hotp")
    right = hotp_code(0)
    wrong = next(c for c in (f"{n:06d}" for n in range(123456, 999999, 7)) if c != right)
    for _ in range(3):
        assert v.check("tok", wrong, now=NOW).reason == "wrong_code"
    assert v.check("tok", right, now=NOW + 1).reason == "locked"
    assert v.validate("tok", right, now=NOW + 61)
    assert v.show("tok")["fail_count"] == 0


def test_a_user_with_a_totp_and_an_hotp_token_signs_in_with_either(make_verifier):
    v = make_verifier()
    v.enrol("phone", bytes(range(30, 50)))
    v.enrol("keyfob", SECRET, kind="hotp")
    v.add_user("alice")
    v.assign("phone", "alice", override=True)
    v.assign("keyfob", "alice", role="spare", override=True)
    assert v.validate_user("alice", hotp_code(1), now=NOW)
    assert not v.validate_user("alice", hotp_code(1), now=NOW)
    assert v.show("keyfob")["counter"] == 2
    totp = pyotp.TOTP(base64.b32encode(bytes(range(30, 50))).decode())
    assert v.validate_user("alice", totp.at(NOW), now=NOW)


def test_a_pre_shared_key_pskc_file_with_a_counter_imports_and_validates(make_verifier):
    pskc = PSKC()
    pskc.mac.setup(algorithm="hmac-sha256")
    pskc.encryption.setup_preshared_key(key=PSK, algorithm="aes128-cbc")
    pskc.add_key(
        id="FOB-1",
        serial="FOB",
        secret=SECRET,
        algorithm=HOTP_URN,
        response_length=6,
        response_encoding="DECIMAL",
        counter=1000,
    )
    out = io.BytesIO()
    pskc.write(out)
    v = make_verifier()
    assert v.import_pskc(out.getvalue(), key=PSK) == ["FOB-1"]
    assert (v.show("FOB-1")["kind"], v.show("FOB-1")["counter"]) == ("hotp", 1000)
    assert not v.validate("FOB-1", hotp_code(999), now=NOW)
    assert v.validate("FOB-1", hotp_code(1004), now=NOW)
    assert v.show("FOB-1")["counter"] == 1005


# ------------------------------------------------------------------- CLI and HTTP


def test_the_cli_enrols_an_hotp_token_and_shows_its_counter(tmp_path):
    data = str(tmp_path / "data")
    b32 = base64.b32encode(SECRET).decode()
    runner = CliRunner()
    enrolled = runner.invoke(
        cli,
        ["verifier", "--data-dir", data, "enrol", "fob", "--secret", "--hotp", "--counter", "3"],
        input=b32 + "\n",
    )
    assert (enrolled.exit_code, enrolled.output) == (0, "Enrolled fob.\n")
    v = Verifier(data_dir=tmp_path / "data")
    try:
        assert v.validate("fob", hotp_code(3), now=NOW)
    finally:
        v.close()
    shown = runner.invoke(cli, ["verifier", "--data-dir", data, "show", "fob"])
    assert shown.exit_code == 0
    assert re.search(r"^Next counter: +4$", shown.output, re.MULTILINE)
    assert "Period" not in shown.output and "Clock" not in shown.output
    listed = runner.invoke(cli, ["verifier", "--data-dir", data, "list"])
    assert "counter 4" in listed.output


def test_the_cli_refuses_a_counter_without_hotp(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["verifier", "--data-dir", str(tmp_path), "enrol", "fob", "--counter", "3"],
    )
    assert result.exit_code == 2
    assert "a counter is for HOTP tokens: add --hotp" in result.output


def test_http_enrols_an_hotp_token_that_then_validates(tmp_path):
    v = Verifier(data_dir=tmp_path)
    try:
        client = TestClient(create_app(v))
        admin = {"Authorization": f"Bearer {v.create_api_key('ops', ['admin'])}"}
        gate = {"Authorization": f"Bearer {v.create_api_key('vpn', ['validate'])}"}
        body = {"token": "fob", "kind": "hotp", "counter": 8}
        enrolled = client.post("/v1/tokens", json=body, headers=admin)
        assert enrolled.status_code == 201
        uri = pyotp.parse_uri(enrolled.json()["uri"])
        assert isinstance(uri, pyotp.HOTP) and uri.initial_count == 8
        code = pyotp.HOTP(uri.secret).at(9)
        check = {"token": "fob", "code": code}
        assert client.post("/v1/validate", json=check, headers=gate).json() == ACCEPT
        assert client.post("/v1/validate", json=check, headers=gate).json() == {"result": "reject"}
        shown = client.get("/v1/tokens/fob", headers=admin).json()
        assert (shown["kind"], shown["counter"], shown["period"]) == ("hotp", 10, None)
        bad = client.post("/v1/tokens", json={**body, "token": "x", "kind": "event"}, headers=admin)
        assert bad.status_code == 422
        negative = client.post("/v1/tokens", json={**body, "counter": -1}, headers=admin)
        assert negative.status_code == 422
    finally:
        v.close()
