"""baoling.core.otpauth: the Key-URI format built and read in one place. pyotp is the
independent reference for what authenticator apps read out of a URI and write into one."""

import base64
import dataclasses

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from baoling.core import otpauth
from baoling.core.errors import CoreError
from baoling.core.otpauth import KeyUri
from baoling.provisioning.otpauth import build_uri
from baoling.provisioning.profile import Profile
from baoling.verifier.service import Verifier

SECRET = bytes(range(1, 21))

TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=":"), min_size=1, max_size=20
)
KEYS = st.builds(
    KeyUri,
    secret=st.binary(min_size=10, max_size=64),
    account=TEXT.filter(lambda text: text.lstrip(" ") == text),
    issuer=st.one_of(st.just(""), TEXT),
    algorithm=st.sampled_from(["sha1", "sha256", "sha512"]),
    digits=st.sampled_from([6, 7, 8]),
    period_s=st.integers(10, 300),
)


@given(KEYS)
def test_build_then_parse_gives_the_same_key(key):
    assert otpauth.parse(otpauth.build(key)) == key


@given(KEYS.filter(lambda key: len(key.secret) >= 14 and key.period_s <= 120))
def test_pyotp_reads_what_build_writes(key):
    """pyotp's own limits: secrets of 112 bits and more, periods of 120 s and less."""
    reference = pyotp.parse_uri(otpauth.build(key))
    assert reference.name == key.account
    assert (reference.issuer or "") == key.issuer
    assert reference.digits == key.digits
    assert reference.interval == key.period_s
    assert reference.digest().name == key.algorithm
    assert reference.byte_secret() == key.secret


@given(
    st.binary(min_size=14, max_size=64),
    st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=20),
    st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=20),
)
def test_parse_reads_what_pyotp_writes(secret, account, issuer):
    text = base64.b32encode(secret).decode()
    uri = pyotp.TOTP(text, digits=8, interval=60).provisioning_uri(name=account, issuer_name=issuer)
    key = otpauth.parse(uri)
    assert (key.secret, key.account, key.issuer) == (secret, account, issuer)
    assert (key.algorithm, key.digits, key.period_s) == ("sha1", 8, 60)


def test_every_parameter_is_written_even_the_defaults():
    uri = otpauth.build(KeyUri(SECRET, "alice@example.org", "ACME Co"))
    assert uri == (
        "otpauth://totp/ACME%20Co:alice@example.org?secret=AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU"
        "&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
    )


def test_a_colon_inside_the_issuer_or_account_is_encoded_only_the_separator_is_literal():
    key = KeyUri(SECRET, "a:b", "x:y")
    uri = otpauth.build(key)
    assert uri.startswith("otpauth://totp/x%3Ay:a%3Ab?")
    assert otpauth.parse(uri).issuer == "x:y"


def test_verifier_and_provisioning_write_the_same_uri():
    """Once two builders quoted differently; now both are core/otpauth.py."""
    profile = Profile(SECRET, "sha256", 8, 60, "alice", "ACME Co")
    verifier = Verifier(store_url="sqlite://")
    try:
        uri = verifier.enrol(
            "t-0",
            SECRET,
            algorithm="sha256",
            digits=8,
            period_s=60,
            issuer="ACME Co",
            label="alice",
        )
    finally:
        verifier.close()
    assert uri == build_uri(profile)


def test_repr_leaves_the_secret_out():
    assert "secret" not in repr(KeyUri(b"k" * 20, "alice"))
    assert str(b"k" * 20) not in repr(KeyUri(b"k" * 20, "alice"))


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "otpauth://hotp/a?secret=GEZDGNBVGY3TQOJQ&counter=1",
            "The otpauth URI is for HOTP (counter-based codes); a Baoling token shows TOTP only.",
        ),
        (
            "http://totp/a?secret=GEZDGNBVGY3TQOJQ",
            "Not an otpauth URI: it must start with otpauth://totp/.",
        ),
        (
            "otpauth://totp/?secret=GEZDGNBVGY3TQOJQ",
            "The otpauth URI has no account name in its label.",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&secret=GEZDGNBVGY3TQOJQ",
            "The otpauth URI gives the secret parameter more than once.",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJ1",
            "The otpauth URI's secret is not valid base32.",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOI",
            "The otpauth URI is not usable: secret must "
            "be 10 to 64 bytes (16 to 103 base32 characters), not 9",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&digits=7&period=301",
            "The otpauth URI is not usable: period must be 10 to 300 seconds, not 301",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&digits=-6",
            "The otpauth URI's digits must be a whole number, not '-6'.",
        ),
    ],
)
def test_what_a_totp_token_cannot_do_is_refused_with_the_reason(uri, message):
    with pytest.raises(CoreError) as caught:
        otpauth.parse(uri)
    assert str(caught.value) == message


def test_seven_digits_and_hyphenated_secrets_are_read():
    key = otpauth.parse("otpauth://totp/a?secret=gezd-gnbv-gy3t-qojq&digits=7")
    assert (key.secret, key.digits) == (b"1234567890", 7)


# ------------------------------------------------------------------ HOTP (the verifier's)


@given(KEYS, st.integers(0, 2**64 - 1))
def test_an_hotp_key_is_built_as_hotp_and_read_back_when_asked_for(key, counter):
    hotp = dataclasses.replace(key, counter=counter)
    uri = otpauth.build(hotp)
    assert uri.startswith("otpauth://hotp/") and "period=" not in uri
    parsed = otpauth.parse(uri, hotp=True)
    assert (parsed.counter, parsed.secret, parsed.account) == (counter, key.secret, key.account)
    assert otpauth.parse(otpauth.build(key), hotp=True) == key  # a TOTP URI stays TOTP


@given(st.binary(min_size=14, max_size=64), st.integers(0, 10**6))
def test_pyotp_reads_an_hotp_uri_with_its_counter(secret, counter):
    reference = pyotp.parse_uri(otpauth.build(KeyUri(secret, "fob", counter=counter)))
    assert isinstance(reference, pyotp.HOTP)
    assert (reference.initial_count, reference.byte_secret()) == (counter, secret)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "otpauth://hotp/a?secret=GEZDGNBVGY3TQOJQ",
            "The otpauth URI is for HOTP and has no counter parameter.",
        ),
        (
            "otpauth://hotp/a?secret=GEZDGNBVGY3TQOJQ&counter=18446744073709551616",
            "The otpauth URI's counter must be at most 18446744073709551615.",
        ),
        (
            "otpauth://hotp/a?secret=GEZDGNBVGY3TQOJQ&counter=-1",
            "The otpauth URI's counter must be a whole number, not '-1'.",
        ),
    ],
)
def test_an_hotp_uri_without_a_usable_counter_is_refused(uri, message):
    with pytest.raises(CoreError) as caught:
        otpauth.parse(uri, hotp=True)
    assert str(caught.value) == message
