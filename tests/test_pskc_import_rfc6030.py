"""RFC 6030's own example files (tests/data/README.md), HOTP tokens as vendors ship them: the
plain, pre-shared-key and password examples and the bulk one import with the secret, digits
and counter they carry, and RFC 4226's codes for that secret then validate in order, each once;
the examples that carry no digits, no secret, a PIN key, or secrets sealed for a private key
(RSA) are refused, nothing imported. Imported through the CLI and over HTTP, an HOTP example
validates and resyncs with two consecutive codes 50 presses ahead."""

import base64
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from baoling.host_tools.cli import cli
from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier
from tests.test_pskc_import import assert_refused

FIGURES = Path(__file__).parent / "data" / "pskc" / "rfc6030"
RFC4226_SECRET = b"12345678901234567890"
NOW = 1_800_000_000


def figure(number: int) -> bytes:
    return (FIGURES / f"figure{number}.pskcxml").read_bytes()


@pytest.mark.parametrize(
    ("number", "protection", "ids"),
    [
        (3, {}, ["12345678"]),
        (6, {"key": bytes.fromhex("12345678901234567890123456789012")}, ["12345678"]),
        (7, {"password": "qwerty"}, ["123456"]),
        (10, {}, ["1", "2", "3", "4"]),
    ],
    ids=["figure 3 plain", "figure 6 pre-shared key", "figure 7 password", "figure 10 bulk"],
)
def test_rfc6030_examples_import_as_hotp_tokens_whose_codes_validate(
    make_verifier, number, protection, ids
):
    v = make_verifier()
    assert v.import_pskc(figure(number), **protection) == ids
    hotp = pyotp.HOTP(base64.b32encode(RFC4226_SECRET).decode(), digits=8)
    for token_id in ids:
        assert (v.show(token_id)["digits"], v.show(token_id)["counter"]) == (8, 0)
        for counter in range(3):
            code = hotp.at(counter)
            assert v.validate(token_id, code, now=NOW), (token_id, counter)
            assert not v.validate(token_id, code, now=NOW)
        assert v.show(token_id)["counter"] == 3


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (2, "key '12345678' has no ResponseFormat Length (digits)"),
        (4, "key '12345678' has no secret"),
        (
            5,
            "key '123456781' has algorithm 'urn:ietf:params:xml:ns:keyprov:pskc:pin', "
            "not TOTP or HOTP",
        ),
        (
            8,
            "the PSKC file's secrets are encrypted with a public key "
            "(http://www.w3.org/2001/04/xmlenc#rsa_1_5); only plain files and files protected "
            "by a pre-shared key or a password are imported",
        ),
    ],
    ids=[
        "figure 2 no digits",
        "figure 4 derivation values only",
        "figure 5 a PIN key",
        "figure 8 public key",
    ],
)
def test_rfc6030_examples_a_verifier_cannot_use_are_refused(make_verifier, number, message):
    assert_refused(make_verifier(), figure(number), message)


def test_the_cli_imports_the_password_example_then_validates_and_resyncs_it(tmp_path):
    """`baoling verifier import-pskc --password`, then `resync` with two consecutive codes 50
    presses ahead; the codes are checked by the verifier on the same data folder."""
    data = ["verifier", "--data-dir", str(tmp_path / "data")]
    path = tmp_path / "figure7.pskc"
    path.write_bytes(figure(7))
    runner = CliRunner()
    imported = runner.invoke(cli, [*data, "import-pskc", str(path), "--password"], input="qwerty\n")
    assert (imported.exit_code, imported.output) == (0, "Imported 123456.\n")
    hotp = pyotp.HOTP(base64.b32encode(RFC4226_SECRET).decode(), digits=8)

    def validate(counter: int) -> bool:
        v = Verifier(data_dir=tmp_path / "data")
        try:
            return v.validate("123456", hotp.at(counter), now=NOW)
        finally:
            v.close()

    assert validate(0) and not validate(50)
    resynced = runner.invoke(cli, [*data, "resync", "123456", hotp.at(50), hotp.at(51)])
    assert resynced.exit_code == 0, resynced.output
    assert (validate(51), validate(52)) == (False, True)


def test_http_imports_the_pre_shared_key_example_then_validates_and_resyncs_it(tmp_path):
    v = Verifier(data_dir=tmp_path)
    try:
        client = TestClient(create_app(v))
        admin = {"Authorization": f"Bearer {v.create_api_key('ops', ['admin'])}"}
        gate = {"Authorization": f"Bearer {v.create_api_key('vpn', ['validate'])}"}
        body = {"pskc": figure(6).decode(), "key": "12345678901234567890123456789012"}
        imported = client.post("/v1/pskc", json=body, headers=admin)
        assert (imported.status_code, imported.json()) == (201, {"tokens": ["12345678"]})
        hotp = pyotp.HOTP(base64.b32encode(RFC4226_SECRET).decode(), digits=8)

        def validate(counter: int) -> str:
            check = {"token": "12345678", "code": hotp.at(counter)}
            return client.post("/v1/validate", json=check, headers=gate).json()["result"]

        assert validate(0) == "accept"
        assert validate(50) == "reject"  # beyond the look-ahead window of 10
        codes = {"code1": hotp.at(50), "code2": hotp.at(51)}
        resynced = client.post("/v1/tokens/12345678/resync", json=codes, headers=admin)
        assert (resynced.status_code, resynced.json()) == (200, {"resynced": True})
        assert (validate(51), validate(52)) == ("reject", "accept")
    finally:
        v.close()
