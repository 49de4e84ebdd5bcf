"""PSKC export (RFC 6030), re-imported with python-pskc: same secret and parameters in each mode;
the rfc6030 flavour's AES-192/256 keys; the protections refused before anything is written.
tests/test_pskc_export_interop.py reads the exports with every importer they are written for."""

import io

import pytest
from pskc import PSKC
from pskc.exceptions import DecryptionError

from baoling.provisioning.entry import Entry
from baoling.provisioning.errors import ExportError
from baoling.provisioning.profile import Profile
from baoling.provisioning.pskc_export import export_pskc

ENTRIES = [
    Entry("e6614c2a01", 0, Profile(bytes(range(20)), "sha1", 6, 30, "alice", "ACME")),
    Entry("e6614c2a02", 0, Profile(bytes(range(32)), "sha256", 8, 60, "bob", "")),
    Entry("e6614c2a03", 1, Profile(bytes(range(64)), "sha512", 8, 30, "", "Bank")),
]
AES_KEY = bytes.fromhex("12345678901234567890123456789012")
PASSWORD = "correct horse battery"


def reimport(data: bytes, *, key: bytes | None = None, password: str | None = None) -> PSKC:
    pskc = PSKC(io.BytesIO(data))
    if key is not None:
        pskc.encryption.key = key
    if password is not None:
        pskc.encryption.derive_key(password)
    return pskc


@pytest.mark.parametrize(
    "protection",
    [{}, {"key": AES_KEY}, {"key": AES_KEY * 2}, {"password": PASSWORD}],
    ids=["plain", "aes128-key", "aes256-key", "password"],
)
def test_rfc6030_flavour_reimport_gives_the_same_keys(protection):
    pskc = reimport(export_pskc(ENTRIES, flavour="rfc6030", **protection), **protection)
    assert len(pskc.keys) == len(ENTRIES)
    for key, entry in zip(pskc.keys, ENTRIES, strict=True):
        profile = entry.profile
        assert key.algorithm == "urn:ietf:params:xml:ns:keyprov:pskc:totp"
        assert key.secret == profile.secret
        assert key.algorithm_suite == "HMAC-" + profile.algorithm.upper()
        assert key.response_length == profile.digits
        assert key.response_encoding == "DECIMAL"
        assert key.time_interval == profile.period_s
        assert key.serial == entry.serial
        assert key.id == f"{entry.serial}-{entry.slot}"
        assert (key.friendly_name or "", key.issuer or "") == (profile.label, profile.issuer)
        assert key.check()


@pytest.mark.parametrize(
    ("protection", "wrong"),
    [({"key": AES_KEY}, {"key": bytes(16)}), ({"password": PASSWORD}, {"password": "wrong one"})],
    ids=["key", "password"],
)
def test_protected_export_needs_the_right_key(protection, wrong):
    data = export_pskc(ENTRIES, **protection)
    assert bytes(range(20)).hex().encode() not in data
    with pytest.raises(DecryptionError):
        reimport(data, **wrong).keys[0].secret  # noqa: B018


def test_plain_export_is_not_encrypted():
    assert not reimport(export_pskc(ENTRIES)).encryption.is_encrypted


@pytest.mark.parametrize(
    ("protection", "message"),
    [
        (
            {"key": AES_KEY, "password": PASSWORD},
            "Give a PSKC key or a PSKC password, not both: one file has one.",
        ),
        (
            {"key": b"short", "flavour": "rfc6030"},
            "The PSKC key must be 16, 24 or 32 bytes (AES-128, -192 or -256).",
        ),
        *(
            (
                {"key": key},
                "The PSKC key must be 16 bytes: privacyIDEA and LinOTP decrypt AES-128 only "
                "(the rfc6030 flavour also takes 24 or 32).",
            )
            for key in (b"short", AES_KEY * 2)
        ),
        ({"password": "short"}, "The PSKC password must have at least 8 characters."),
        ({"flavour": "linotp"}, "Unknown PSKC flavour 'linotp': use privacyidea or rfc6030."),
    ],
)
def test_bad_protection_is_refused(protection, message):
    with pytest.raises(ExportError) as caught:
        export_pskc(ENTRIES, **protection)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "protection", [{}, {"key": AES_KEY}, {"password": PASSWORD}], ids=["plain", "key", "password"]
)
def test_baoling_verifier_imports_the_export(protection):
    from baoling.verifier.pskc_import import read_pskc

    imported = read_pskc(export_pskc(ENTRIES, **protection), **protection)
    assert [
        (k.token_id, k.secret, k.algorithm, k.digits, k.period_s, k.label, k.issuer)
        for k in imported
    ] == [
        (
            e.key_id,
            e.profile.secret,
            e.profile.algorithm,
            e.profile.digits,
            e.profile.period_s,
            e.profile.label,
            e.profile.issuer,
        )
        for e in ENTRIES
    ]
