"""PSKC (RFC 6030) import of files made by python-pskc: plain, pre-shared key and password files
import with the right secret, hash, digits and period; anything corrupt, wrongly keyed or not
interpretable is refused with a clear error and imports nothing."""

import io
import re

import pytest
from pskc import PSKC

from baoling.provisioning.entry import Entry
from baoling.provisioning.profile import Profile
from baoling.provisioning.pskc_export import export_pskc
from baoling.verifier.errors import PSKCImportError, TokenExists
from tests.test_verifier_service import T0, code_at

TOTP_URN = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
HOTP_URN = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
PSK = bytes.fromhex("12345678901234567890123456789012")
PASSWORD = "correct horse battery"
KEYS = [
    # token id, secret, Suite, hash, digits, period
    ("SN100-0", bytes(range(20)), "HMAC-SHA1", "sha1", 6, 30),
    ("SN100-1", bytes(range(40, 72)), "HMAC-SHA256", "sha256", 8, 60),
    ("SN101-0", bytes(range(100, 164)), "HMAC-SHA512", "sha512", 7, 30),
]


def pskc_file(keys=KEYS, *, protect: str = "plain", **extra) -> bytes:
    """A PSKC document written by python-pskc; `extra` adds attributes to every key."""
    pskc = PSKC()
    if protect == "key":
        pskc.mac.setup(algorithm="hmac-sha256")
        pskc.encryption.setup_preshared_key(key=PSK, algorithm="aes128-cbc")
    elif protect == "password":
        pskc.encryption.setup_pbkdf2(PASSWORD, algorithm="aes256-cbc", iterations=1000)
    for token_id, secret, suite, _, digits, period in keys:
        pskc.add_key(
            **{
                "id": token_id,
                "serial": token_id.split("-")[0],
                "secret": secret,
                "algorithm": TOTP_URN,
                "algorithm_suite": suite,
                "response_length": digits,
                "response_encoding": "DECIMAL",
                "time_interval": period,
                "friendly_name": f"label {token_id}",
                "issuer": "Baoling Bank",
            }
            | extra
        )
    out = io.BytesIO()
    pskc.write(out)
    return out.getvalue()


def assert_imported(v, ids: list[str]) -> None:
    assert ids == [k[0] for k in KEYS]
    for token_id, secret, _, algorithm, digits, period in KEYS:
        info = v.show(token_id)
        assert (info["algorithm"], info["digits"], info["period"]) == (algorithm, digits, period)
        assert (info["label"], info["issuer"]) == (f"label {token_id}", "Baoling Bank")
        code = code_at(secret, T0 + 45, period=period, digits=digits, algorithm=algorithm)
        assert v.validate(token_id, code, now=T0 + 45), token_id


def assert_refused(v, data: bytes, message: str, **protection) -> None:
    with pytest.raises(PSKCImportError, match=f"^{re.escape(message)}$"):
        v.import_pskc(data, **protection)
    assert v.list_tokens() == []
    assert [row["action"] for row in v.audit()] == []


def test_plain_file_imports_secret_hash_digits_and_period(make_verifier):
    v = make_verifier()
    assert_imported(v, v.import_pskc(pskc_file()))


def test_pre_shared_key_file_imports(make_verifier):
    v = make_verifier()
    assert_imported(v, v.import_pskc(pskc_file(protect="key"), key=PSK))


def test_password_file_imports(make_verifier):
    v = make_verifier()
    assert_imported(v, v.import_pskc(pskc_file(protect="password"), password=PASSWORD))


def test_import_is_audited_without_secrets(make_verifier):
    v = make_verifier()
    v.import_pskc(pskc_file())
    rows = v.audit()
    assert [(r["action"], r["detail"]["source"]) for r in rows] == [("enrol", "pskc")] * 3
    assert bytes(range(20)).hex() not in repr(rows)


def test_missing_suite_means_the_profiles_sha1(make_verifier):
    v = make_verifier()
    v.import_pskc(pskc_file([("t-0", b"12345678901234567890", None, "sha1", 6, 30)]))
    assert v.show("t-0")["algorithm"] == "sha1"


def test_wrong_pre_shared_key_is_refused(make_verifier):
    assert_refused(
        make_verifier(),
        pskc_file(protect="key"),
        "cannot read the PSKC file: wrong pre-shared key or password, or the file was altered",
        key=bytes(16),
    )


def test_wrong_password_is_refused(make_verifier):
    assert_refused(
        make_verifier(),
        pskc_file(protect="password"),
        "cannot read the PSKC file: wrong pre-shared key or password, or the file was altered",
        password="wrong password",
    )


def test_encrypted_file_without_key_is_refused(make_verifier):
    assert_refused(
        make_verifier(),
        pskc_file(protect="key"),
        "the PSKC file is encrypted: give its pre-shared key or its password",
    )


def test_altered_ciphertext_is_refused(make_verifier):
    data = pskc_file(protect="key").decode()
    value = re.findall(r"<xenc:CipherValue>([^<]+)</xenc:CipherValue>", data)[-1]
    flipped = ("B" if value[0] == "A" else "A") + value[1:]
    assert_refused(
        make_verifier(),
        data.replace(value, flipped).encode(),
        "cannot read the PSKC file: wrong pre-shared key or password, or the file was altered",
        key=PSK,
    )


def test_encrypted_secret_without_value_mac_is_refused(make_verifier):
    data = re.sub(r"<pskc:ValueMAC>[^<]+</pskc:ValueMAC>", "", pskc_file(protect="key").decode())
    assert_refused(
        make_verifier(),
        data.encode(),
        "the encrypted secret of key 'SN100-0' has no ValueMAC, so a wrong key "
        "could not be told from a right one",
        key=PSK,
    )


def test_corrupt_file_is_refused(make_verifier):
    assert_refused(
        make_verifier(), pskc_file()[:-40], "cannot read the PSKC file: error parsing XML"
    )


def test_an_ocra_key_is_refused_and_nothing_of_the_file_imported(make_verifier):
    ocra = "urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1:HOTP-SHA1-6:QN08"
    data = (
        pskc_file()
        .decode()
        .replace(f'Algorithm="{TOTP_URN}" Id="SN101-0"', f'Algorithm="{ocra}" Id="SN101-0"')
    )
    assert_refused(
        make_verifier(),
        data.encode(),
        f"key 'SN101-0' has algorithm '{ocra}' (OCRA), which this verifier does not check: "
        "only TOTP and HOTP keys are imported",
    )


def test_unknown_algorithm_is_refused(make_verifier):
    assert_refused(
        make_verifier(),
        pskc_file(algorithm="urn:example:chronos"),
        "key 'SN100-0' has algorithm 'urn:example:chronos', not TOTP or HOTP",
    )


def test_unknown_hash_suite_is_refused_not_taken_as_sha1(make_verifier):
    assert_refused(
        make_verifier(),
        pskc_file(algorithm_suite="HMAC-MD5"),
        "key 'SN100-0' has hash suite 'HMAC-MD5'; expected HMAC-SHA1, HMAC-SHA256 or HMAC-SHA512",
    )


def test_nonzero_t0_is_refused(make_verifier):
    assert_refused(
        make_verifier(),
        pskc_file(time_offset=5),
        "key 'SN100-0' has a Time (T0) of 5; only T0 = 0 is supported",
    )


def test_missing_digits_are_refused(make_verifier):
    assert_refused(
        make_verifier(),
        pskc_file(response_length=None),
        "key 'SN100-0' has no ResponseFormat Length (digits)",
    )


def test_digits_out_of_range_are_refused(make_verifier):
    assert_refused(
        make_verifier(),
        pskc_file(response_length=10),
        "key 'SN100-0': digits must be 6, 7 or 8, not 10",
    )


def test_a_taken_token_id_imports_nothing(make_verifier):
    v = make_verifier()
    v.enrol("SN101-0", b"an existing secret!!")
    with pytest.raises(TokenExists, match="^token 'SN101-0' is already enrolled$"):
        v.import_pskc(pskc_file())
    assert [t["token"] for t in v.list_tokens()] == ["SN101-0"]


def test_key_and_password_together_are_refused(make_verifier):
    assert_refused(
        make_verifier(),
        pskc_file(protect="key"),
        "give the PSKC file's pre-shared key or its password, not both",
        key=PSK,
        password=PASSWORD,
    )


@pytest.mark.parametrize("protection", [{}, {"key": PSK}, {"password": PASSWORD}])
def test_files_from_baoling_provisioning_import(make_verifier, protection):
    """Interoperability with our own exporter (provisioning/pskc_export.py)."""
    entries = [
        Entry(
            serial,
            slot,
            Profile(
                secret,
                algorithm=algorithm,
                digits=digits,
                period_s=period,
                label=f"label {serial}-{slot}",
                issuer="Baoling Bank",
            ),
        )
        for (serial, slot), (_, secret, _, algorithm, digits, period) in zip(
            [("SN100", 0), ("SN100", 1), ("SN101", 0)], KEYS, strict=True
        )
    ]
    v = make_verifier()
    assert_imported(v, v.import_pskc(export_pskc(entries, **protection), **protection))
