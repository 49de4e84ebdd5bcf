"""PSKC files as vendors and other servers write them: keys without an Id, every spelling of the
hash Suite, the draft-era TOTP URN, TimeDrift; and files that are malformed, which are one line
on the CLI and a 4xx JSON error over HTTP, importing nothing. pyotp and RFC 6238's test vectors
are the reference for codes."""

import base64
import hashlib
import io
import re
import subprocess
import sys

import pyotp
import pytest
from fastapi.testclient import TestClient
from pskc import PSKC

from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier
from tests.test_pskc_import import (
    HOTP_URN,
    KEYS,
    PASSWORD,
    PSK,
    TOTP_URN,
    assert_refused,
    pskc_file,
)

NOW = 1_800_000_045
SECRET = bytes(range(64))


def reference(secret: bytes, algorithm: str = "sha1", digits: int = 6, period: int = 30) -> str:
    """The code at NOW, by pyotp."""
    b32 = base64.b32encode(secret).decode()
    return pyotp.TOTP(b32, digits=digits, digest=getattr(hashlib, algorithm), interval=period).at(
        NOW
    )


def build(*keys: dict, protect: str = "plain") -> bytes:
    """A PSKC file by python-pskc; each dict gives one key's attributes over 6-digit, 30 s TOTP
    defaults (no Id and no serial unless given)."""
    pskc = PSKC()
    if protect == "key":
        pskc.mac.setup(algorithm="hmac-sha256")
        pskc.encryption.setup_preshared_key(key=PSK, algorithm="aes128-cbc")
    elif protect == "password":
        pskc.encryption.setup_pbkdf2(PASSWORD, algorithm="aes256-cbc", iterations=1000)
    for key in keys:
        defaults = {"secret": SECRET, "algorithm": TOTP_URN, "response_length": 6}
        pskc.add_key(**defaults | {"time_interval": 30} | key)
    out = io.BytesIO()
    pskc.write(out)
    return out.getvalue()


# ------------------------------------------------------------------ keys without an Id


@pytest.mark.parametrize(
    "protection", [{}, {"key": PSK}, {"password": PASSWORD}], ids=["plain", "key", "password"]
)
def test_python_pskc_files_without_key_id_take_their_ids_from_the_serial(make_verifier, protection):
    protect = {"key": "key", "password": "password"}.get(next(iter(protection), ""), "plain")
    data = pskc_file(protect=protect, id=None)
    assert not re.search(rb"<pskc:Key [^>]*Id=", data)
    v = make_verifier()
    ids = v.import_pskc(data, **protection)
    # SN100 has two keys, numbered in file order as Baoling numbers slots; SN101 has one.
    assert ids == ["SN100-0", "SN100-1", "SN101"]
    for token_id, (_, secret, _, algorithm, digits, period) in zip(ids, KEYS, strict=True):
        code = reference(secret, algorithm, digits, period)
        assert v.validate(token_id, code, now=NOW), token_id


def test_a_key_without_id_counts_among_every_key_of_its_serial(make_verifier):
    v = make_verifier()
    data = build({"id": "SN7-0", "serial": "SN7"}, {"serial": "SN7"})
    assert v.import_pskc(data) == ["SN7-0", "SN7-1"]


@pytest.mark.parametrize(
    "keys, message",
    [
        (
            ({"serial": "SN7"}, {}),
            "key #2 of the PSKC file has neither an Id nor a DeviceInfo SerialNo",
        ),
        (
            ({"serial": "SN 7"},),
            "key #1 of the PSKC file has no Id and its SerialNo 'SN 7' cannot name a token: "
            "a token id is 1 to 128 characters: letters, digits and . _ : @ + -, "
            "starting with a letter or digit",
        ),
        (
            ({"id": "SN7-1", "serial": "SN7"}, {"serial": "SN7"}),
            "two keys of the PSKC file have the token id 'SN7-1'",
        ),
        (({"id": "alice"}, {"id": "alice"}), "two keys of the PSKC file have the token id 'alice'"),
    ],
    ids=["no id nor serial", "serial not an id", "derived id taken", "same id twice"],
)
def test_keys_that_cannot_be_named_are_refused(make_verifier, keys, message):
    assert_refused(make_verifier(), build(*keys), message)


# ------------------------------------------------------------------ the hash Suite


@pytest.mark.parametrize(
    "suite, algorithm",
    [
        ("<pskc:Suite>HMAC-SHA1</pskc:Suite>", "sha1"),
        ("<pskc:Suite>hmac-sha256</pskc:Suite>", "sha256"),
        ("<pskc:Suite>SHA256</pskc:Suite>", "sha256"),
        ("<pskc:Suite>SHA-512</pskc:Suite>", "sha512"),
        ("<pskc:Suite>HMAC-SHA-256</pskc:Suite>", "sha256"),
        ("<pskc:Suite> sha1 </pskc:Suite>", "sha1"),
        ("<pskc:Suite>http://www.w3.org/2001/04/xmldsig-more#hmac-sha512</pskc:Suite>", "sha512"),
        ('<pskc:Suite hashalgo="sha256"/>', "sha256"),
        ('<pskc:Suite hashalgo="SHA512">HMAC-SHA512</pskc:Suite>', "sha512"),
        ("<pskc:Suite/>", "sha1"),
    ],
)
def test_every_suite_spelling_selects_its_hash(make_verifier, suite, algorithm):
    data = build({"id": "T-1"}).replace(
        b"<pskc:AlgorithmParameters>", f"<pskc:AlgorithmParameters>{suite}".encode()
    )
    v = make_verifier()
    v.import_pskc(data)
    assert v.show("T-1")["algorithm"] == algorithm
    if algorithm != "sha1":
        assert not v.validate("T-1", reference(SECRET, "sha1"), now=NOW)
    assert v.validate("T-1", reference(SECRET, algorithm), now=NOW)


@pytest.mark.parametrize(
    "suite, message",
    [
        (
            "<pskc:Suite>HMAC-MD5</pskc:Suite>",
            "key 'SN101-0' has hash suite 'HMAC-MD5'; "
            "expected HMAC-SHA1, HMAC-SHA256 or HMAC-SHA512",
        ),
        (
            "<pskc:Suite>HMAC-SHA384</pskc:Suite>",
            "key 'SN101-0' has hash suite 'HMAC-SHA384'; "
            "expected HMAC-SHA1, HMAC-SHA256 or HMAC-SHA512",
        ),
        (
            '<pskc:Suite hashalgo="md5"/>',
            "key 'SN101-0' has hash suite 'md5'; expected HMAC-SHA1, HMAC-SHA256 or HMAC-SHA512",
        ),
        (
            '<pskc:Suite hashalgo="sha256">HMAC-SHA512</pskc:Suite>',
            "key 'SN101-0' names two hashes in its Suite: HMAC-SHA512 and sha256",
        ),
    ],
)
def test_a_hash_that_cannot_be_read_is_refused_and_nothing_imported(make_verifier, suite, message):
    data = pskc_file().replace(b"<pskc:Suite>HMAC-SHA512</pskc:Suite>", suite.encode())
    assert_refused(make_verifier(), data, message)


# ------------------------------------------------------------------ draft-era TOTP, TimeDrift

# The TOTP example of draft-hoyer-keyprov-pskc-algorithm-profiles, with RFC 6238's SHA-1
# secret and 8 digits so that its test vectors apply.
DRAFT_TOTP = """<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
  <KeyPackage>
    <DeviceInfo>
      <Manufacturer>TokenVendorAcme</Manufacturer>
      <SerialNo>987654323</SerialNo>
    </DeviceInfo>
    <Key Algorithm="urn:ietf:params:xml:ns:keyprov:pskc#totp">
      <AlgorithmParameters><ResponseFormat Length="8" Encoding="DECIMAL"/></AlgorithmParameters>
      <Data>
        <Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret>
        <Time><PlainValue>0</PlainValue></Time>
        <TimeInterval><PlainValue>30</PlainValue></TimeInterval>
        <TimeDrift><PlainValue>{drift}</PlainValue></TimeDrift>
      </Data>
      <Policy><KeyUsage>OTP</KeyUsage></Policy>
    </Key>
  </KeyPackage>
</KeyContainer>
"""
RFC6238_T, RFC6238_CODE = 1234567890, "89005924"


@pytest.mark.parametrize("drift", [4, -4])
def test_draft_era_totp_imports_and_its_time_drift_counts_intervals(make_verifier, drift):
    v = make_verifier()
    assert v.import_pskc(DRAFT_TOTP.format(drift=drift).encode()) == ["987654323"]
    assert v.show("987654323")["drift"]["offset_s"] == drift * 30
    # The token's clock is `drift` intervals ahead: at verifier time `now` it shows the code
    # of now + drift * 30, and the code of `now` itself is outside the +-1 step window.
    now = RFC6238_T - drift * 30
    b32 = base64.b32encode(b"12345678901234567890").decode()
    assert not v.validate("987654323", pyotp.TOTP(b32, digits=8).at(now), now=now)
    assert v.validate("987654323", RFC6238_CODE, now=now)


def test_time_drift_up_to_a_day_imports(make_verifier):
    v = make_verifier()
    v.import_pskc(DRAFT_TOTP.format(drift=-2880).encode())
    assert v.show("987654323")["drift"]["offset_s"] == -86400


@pytest.mark.parametrize("drift", [2881, -2881])
def test_time_drift_beyond_a_day_is_refused(make_verifier, drift):
    assert_refused(
        make_verifier(),
        DRAFT_TOTP.format(drift=drift).encode(),
        f"key '987654323' has a TimeDrift of {drift} intervals of 30 s, more than a day; "
        "remove it and resync the token after import",
    )


# ------------------------------------------------------------------ algorithms refused


@pytest.mark.parametrize(
    "algorithm",
    [HOTP_URN, "urn:ietf:params:xml:ns:keyprov:pskc#hotp", "http://www.ietf.org/keyprov/pskc#hotp"],
    ids=["rfc", "draft", "old draft"],
)
def test_hotp_keys_import_in_every_urn_spelling_with_their_counter(make_verifier, algorithm):
    data = build(
        {"id": "V-0"},
        {"id": "V-1", "algorithm": algorithm, "counter": 42, "time_interval": None},
    )
    v = make_verifier()
    assert v.import_pskc(data) == ["V-0", "V-1"]
    assert (v.show("V-1")["kind"], v.show("V-1")["counter"]) == ("hotp", 42)
    hotp = pyotp.HOTP(base64.b32encode(SECRET).decode())
    assert not v.validate("V-1", hotp.at(41), now=NOW)
    assert v.validate("V-1", hotp.at(42), now=NOW)
    assert v.validate("V-0", reference(SECRET), now=NOW)


NOT_CHECKED = "which this verifier does not check: only TOTP and HOTP keys are imported"


@pytest.mark.parametrize(
    "algorithm, message",
    [
        (
            "urn:ietf:params:xml:ns:keyprov:pskc:OCRA-1:HOTP-SHA512-8:C-QN08",
            "key 'V-1' has algorithm "
            "'urn:ietf:params:xml:ns:keyprov:pskc:OCRA-1:HOTP-SHA512-8:C-QN08' "
            f"(OCRA), {NOT_CHECKED}",
        ),
        (
            "http://www.rsa.com/names/2008/04/algorithms/SecurID/SecurID-AES128-Counter",
            "key 'V-1' has algorithm "
            "'http://www.rsa.com/names/2008/04/algorithms/SecurID/SecurID-AES128-Counter' "
            f"(RSA SecurID), {NOT_CHECKED}",
        ),
        (
            "http://www.actividentity.com/2008/04/algorithms/algorithms#ActivIdentity-3DES",
            "key 'V-1' has algorithm "
            "'http://www.actividentity.com/2008/04/algorithms/algorithms#ActivIdentity-3DES' "
            f"(ActivIdentity), {NOT_CHECKED}",
        ),
        (
            "http://www.yubico.com/#yubikey-aes",
            f"key 'V-1' has algorithm 'http://www.yubico.com/#yubikey-aes' (Yubico OTP), "
            f"{NOT_CHECKED}",
        ),
        ("urn:example:chronos", "key 'V-1' has algorithm 'urn:example:chronos', not TOTP or HOTP"),
        (None, "key 'V-1' names no algorithm"),
    ],
    ids=["ocra", "securid", "actividentity", "yubico", "unknown", "none"],
)
def test_other_algorithms_are_refused_naming_key_and_algorithm(make_verifier, algorithm, message):
    data = build({"id": "V-0"}, {"id": "V-1", "algorithm": algorithm})
    assert_refused(make_verifier(), data, message)


@pytest.mark.parametrize(
    "policy, message",
    [
        (
            "<pskc:KeyUsage>Encrypt</pskc:KeyUsage>",
            "key 'V-0' has a Policy whose KeyUsage does not include OTP",
        ),
        ("<pskc:Colour>red</pskc:Colour>", "key 'V-0' has a Policy this verifier cannot read"),
    ],
)
def test_a_policy_that_forbids_otp_or_cannot_be_read_is_refused(make_verifier, policy, message):
    data = build({"id": "V-0"}).replace(
        b"</pskc:Data>", f"</pskc:Data><pskc:Policy>{policy}</pskc:Policy>".encode()
    )
    assert_refused(make_verifier(), data, message)


# ------------------------------------------------------------------ protection


@pytest.mark.parametrize(
    "protect, protection, message",
    [
        (
            "key",
            {"password": PASSWORD},
            "the PSKC file is not protected by a password: give its pre-shared key instead",
        ),
        (
            "password",
            {"key": PSK},
            "the PSKC file is protected by a password: give its password instead",
        ),
        (
            "plain",
            {"password": PASSWORD},
            "the PSKC file is not encrypted: import it without a password",
        ),
        (
            "plain",
            {"key": PSK},
            "the PSKC file is not encrypted: import it without a pre-shared key",
        ),
    ],
)
def test_the_wrong_kind_of_protection_says_which_is_needed(
    make_verifier, protect, protection, message
):
    assert_refused(make_verifier(), build({"id": "V-0"}, protect=protect), message, **protection)


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "IterationCount",
            10_000_001,
            "the PSKC file asks for 10000001 PBKDF2 iterations; at most 10000000 are accepted",
        ),
        (
            "KeyLength",
            33,
            "the PSKC file asks for a 33-byte PBKDF2 key; at most 32 bytes are accepted",
        ),
    ],
)
def test_pbkdf2_work_beyond_the_limit_is_refused_before_deriving(
    make_verifier, field, value, message
):
    data = re.sub(
        rf"<{field}>\d+</{field}>".encode(),
        f"<{field}>{value}</{field}>".encode(),
        build({"id": "V-0"}, protect="password"),
    )
    assert_refused(make_verifier(), data, message, password=PASSWORD)


# ------------------------------------------------------------------ malformed files


def _plain() -> str:
    return pskc_file().decode()


def _keyed(last_cipher_value: str | None = None) -> str:
    """A file protected by PSK; `last_cipher_value` replaces its last key's ciphertext."""
    text = pskc_file(protect="key").decode()
    if last_cipher_value is None:
        return text
    value = re.findall(r"<xenc:CipherValue>([^<]+)</xenc:CipherValue>", text)[-1]
    return text.replace(value, last_cipher_value)


def _with_entities(entities: str, serial: str) -> str:
    """The draft TOTP file with a DTD declaring `entities`, its serial number `serial`."""
    text = DRAFT_TOTP.format(drift=0).replace("987654323", serial)
    return text.replace("<KeyContainer", f"<!DOCTYPE KeyContainer [{entities}]>\n<KeyContainer")


POLICY = "</pskc:Data><pskc:Policy>{}</pskc:Policy>"
# (file, needs the pre-shared key, message)
MALFORMED = {
    "policy count not an integer": (
        _plain().replace(
            "</pskc:Data>",
            POLICY.format("<pskc:NumberOfTransactions>TWELVE</pskc:NumberOfTransactions>"),
            1,
        ),
        False,
        "cannot read the PSKC file: a value has the wrong type ('TWELVE' is not a whole number)",
    ),
    "not a boolean": (
        _plain().replace('Encoding="DECIMAL"', 'Encoding="DECIMAL" CheckDigits="maybe"', 1),
        False,
        "cannot read the PSKC file: a value has the wrong type (invalid boolean value: 'maybe')",
    ),
    "length not an integer": (
        _plain().replace('Length="6"', 'Length="six"', 1),
        False,
        "cannot read the PSKC file: a value has the wrong type ('six' is not a whole number)",
    ),
    "interval not an integer": (
        _plain().replace(
            "<pskc:PlainValue>30</pskc:PlainValue>",
            "<pskc:PlainValue>TWELVE12</pskc:PlainValue>",
            1,
        ),
        False,
        "key 'SN100-0' has a TimeInterval that is not a whole number",
    ),
    "not a date": (
        _plain().replace(
            "</pskc:Data>", POLICY.format("<pskc:StartDate>yesterday</pskc:StartDate>"), 1
        ),
        False,
        "cannot read the PSKC file: a value has the wrong type (unknown string format: yesterday)",
    ),
    "date out of range": (
        _plain().replace(
            "</pskc:Data>", POLICY.format(f"<pskc:ExpiryDate>{'9' * 23}</pskc:ExpiryDate>"), 1
        ),
        False,
        "cannot read the PSKC file: a date is out of range",
    ),
    "unknown encoding": (
        _plain().replace('encoding="UTF-8"', 'encoding="TWELVE"', 1),
        False,
        "cannot read the PSKC file: unknown encoding: TWELVE",
    ),
    "secret not base64": (
        re.sub(r"(<pskc:Secret>\s*<pskc:PlainValue>)[^<]+", r"\1QUJD*", _plain(), count=1),
        False,
        "key 'SN100-0' has a plain Secret that is not base64",
    ),
    "unknown draft-era data": (
        DRAFT_TOTP.format(drift=0).replace(
            "<Data>", '<Data Name="Colour"><Value>cmVk</Value></Data><Data>'
        ),
        False,
        "key #1 of the PSKC file has a <Data Name='Colour'> that is not known",
    ),
    "unknown encryption": (
        _keyed().replace(
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc", "http://example.com/#rot13"
        ),
        True,
        "cannot read the PSKC file: unsupported algorithm: 'http://example.com/#rot13'",
    ),
    "ciphertext missing": (
        _keyed(last_cipher_value=""),
        True,
        "the PSKC file has no CipherValue inside <EncryptedValue>",
    ),
    "ciphertext not base64": (
        _keyed(last_cipher_value="!!!!"),
        True,
        "the PSKC file has a CipherValue that is not base64",
    ),
    "truncated": (_plain()[:-40], False, "cannot read the PSKC file: error parsing XML"),
    "not xml": (
        "serial,secret\nSN1,JBSWY3DP\n",
        False,
        "cannot read the PSKC file: error parsing XML",
    ),
    "xml, not pskc": ("<html/>", False, "cannot read the PSKC file: missing KeyContainer"),
    "entity expansion bomb": (
        _with_entities(
            '<!ENTITY a0 "lol">'
            + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)),
            "&a9;",
        ),
        False,
        "cannot read the PSKC file: error parsing XML",
    ),
    "external entity": (
        _with_entities('<!ENTITY a9 SYSTEM "file:///etc/hostname">', "&a9;"),
        False,
        "cannot read the PSKC file: error parsing XML",
    ),
}


def _protection(keyed: bool) -> dict[str, bytes]:
    return {"key": PSK} if keyed else {}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_file_is_refused_by_the_library(make_verifier, case):
    text, keyed, message = MALFORMED[case]
    assert_refused(make_verifier(), text.encode(), message, **_protection(keyed))


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_file_is_one_line_on_the_cli(tmp_path, case):
    text, keyed, message = MALFORMED[case]
    path = tmp_path / "tokens.pskc"
    path.write_text(text)
    data_dir = tmp_path / "data"
    args = ["verifier", "--data-dir", str(data_dir), "import-pskc", str(path)]
    proc = subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", *args, *(["--key"] if keyed else [])],
        input=PSK.hex() + "\n" if keyed else "",
        capture_output=True,
        text=True,
        timeout=180,  # a loaded CI machine (two workers, other jobs) starts Python slowly
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"Error: {message}\n")
    verifier = Verifier(data_dir=data_dir)
    try:
        assert verifier.list_tokens() == []
    finally:
        verifier.close()


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_file_is_a_422_json_error_over_http(tmp_path, case):
    text, keyed, message = MALFORMED[case]
    verifier = Verifier(data_dir=tmp_path)
    try:
        client = TestClient(create_app(verifier))
        auth = {"Authorization": f"Bearer {verifier.create_api_key('ops', ['admin'])}"}
        body = {"pskc": text} | ({"key": PSK.hex()} if keyed else {})
        response = client.post("/v1/pskc", json=body, headers=auth)
        assert (response.status_code, response.json()) == (
            422,
            {"error": "invalid_pskc", "message": message},
        )
        assert client.get("/v1/tokens", headers=auth).json() == {"tokens": []}
    finally:
        verifier.close()
