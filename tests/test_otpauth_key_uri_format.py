"""otpauth URIs against Google Authenticator's Key-Uri-Format and pyotp's reading of them."""

import pyotp
import pytest

from baoling.provisioning.errors import BadURI
from baoling.provisioning.otpauth import build_uri, parse_uri
from baoling.provisioning.profile import Profile

# The Key-Uri-Format wiki's own example: issuer in the label and as a parameter.
WIKI_EXAMPLE = "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"
SECRET_20 = bytes(range(20))


def test_wiki_example_gives_issuer_account_and_defaults():
    profile = parse_uri(WIKI_EXAMPLE)
    assert profile.secret == b"Hello!\xde\xad\xbe\xef"
    assert (profile.issuer, profile.label) == ("Example", "alice@google.com")
    assert (profile.algorithm, profile.digits, profile.period_s) == ("sha1", 6, 30)


def test_url_encoded_label_with_space_after_colon():
    profile = parse_uri(
        "otpauth://totp/ACME%20Co%3A%20john.doe%40email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ"
        "&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
    )
    assert (profile.issuer, profile.label) == ("ACME Co", "john.doe@email.com")


def test_issuer_only_as_parameter():
    profile = parse_uri("otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP&issuer=Big%20Bank")
    assert (profile.issuer, profile.label) == ("Big Bank", "alice")


def test_issuer_only_in_label():
    profile = parse_uri("otpauth://totp/Big%20Bank:alice?secret=JBSWY3DPEHPK3PXP")
    assert (profile.issuer, profile.label) == ("Big Bank", "alice")


def test_lower_case_base32_without_padding():
    lower = parse_uri("otpauth://totp/a?secret=gezdgnbvgy3tqojq")
    assert lower.secret == b"1234567890"


def test_unknown_parameters_are_ignored():
    profile = parse_uri(
        "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&image=https%3A%2F%2Fx.example%2Fa.png"
        "&color=red&counter=7"
    )
    assert profile.secret == b"1234567890"


@pytest.mark.parametrize(
    ("query", "algorithm", "digits", "period_s"),
    [
        ("algorithm=SHA256&digits=8&period=60", "sha256", 8, 60),
        ("algorithm=sha512&digits=8", "sha512", 8, 30),
        ("period=60", "sha1", 6, 60),
    ],
)
def test_parameters(query, algorithm, digits, period_s):
    profile = parse_uri(f"otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&{query}")
    assert (profile.algorithm, profile.digits, profile.period_s) == (algorithm, digits, period_s)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "https://example.com/?secret=GEZDGNBVGY3TQOJQ",
            "Not an otpauth URI: it must start with otpauth://totp/.",
        ),
        (
            "otpauth://hotp/a?secret=GEZDGNBVGY3TQOJQ&counter=0",
            "The otpauth URI is for HOTP (counter-based codes); a Baoling token shows TOTP only.",
        ),
        (
            "otpauth://steam/a?secret=GEZDGNBVGY3TQOJQ",
            "Not an otpauth URI: it must start with otpauth://totp/.",
        ),
        ("otpauth://totp/a?issuer=x", "The otpauth URI has no secret parameter."),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJ1",
            "The otpauth URI's secret is not valid base32.",
        ),
        ("otpauth://totp/a?secret=", "The otpauth URI's secret is not valid base32."),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOI",
            "The otpauth URI is not usable: secret must be 10 to 64 bytes "
            "(16 to 103 base32 characters), not 9",
        ),
        (
            "otpauth://totp/a%0Ab?secret=GEZDGNBVGY3TQOJQ",
            "The otpauth URI is not usable: Label 'a\\nb' has a control character, which a "
            "token cannot show.",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&algorithm=MD5",
            "The otpauth URI is not usable: algorithm must be sha1, sha256 or sha512, not 'md5'",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&digits=9",
            "The otpauth URI is not usable: digits must be 6, 7 or 8, not 9",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&digits=six",
            "The otpauth URI's digits must be a whole number, not 'six'.",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&period=5",
            "The otpauth URI is not usable: period must be 10 to 300 seconds, not 5",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&period=30.5",
            "The otpauth URI's period must be a whole number, not '30.5'.",
        ),
        (
            "otpauth://totp/Example:alice?secret=GEZDGNBVGY3TQOJQ&issuer=Other",
            "The otpauth URI's issuer 'Example' in the label does not match its issuer "
            "parameter 'Other'.",
        ),
        (
            "otpauth://totp/?secret=GEZDGNBVGY3TQOJQ",
            "The otpauth URI has no account name in its label.",
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ&secret=GEZDGNBVGY3TQOJQ",
            "The otpauth URI gives the secret parameter more than once.",
        ),
    ],
)
def test_invalid_uris_are_refused_with_a_clear_message(uri, message):
    with pytest.raises(BadURI) as caught:
        parse_uri(uri)
    assert str(caught.value) == message


def test_label_and_issuer_can_be_replaced():
    profile = parse_uri(
        "otpauth://totp/M%C3%BCller%3Averylongname%40example.com?secret=GEZDGNBVGY3TQOJQ",
        label="alice",
        issuer="Muller",
    )
    assert (profile.issuer, profile.label) == ("Muller", "alice")


def test_bad_secret_message_does_not_repeat_the_secret():
    with pytest.raises(BadURI) as caught:
        parse_uri("otpauth://totp/a?secret=SECRETSECRET1")
    assert "SECRETSECRET1" not in str(caught.value)


@pytest.mark.parametrize(
    ("algorithm", "digits", "period_s"), [("sha1", 6, 30), ("sha256", 8, 60), ("sha512", 7, 45)]
)
def test_built_uri_gives_pyotp_the_same_codes(algorithm, digits, period_s):
    profile = Profile(SECRET_20, algorithm, digits, period_s, "alice@example.com", "ACME Co")
    uri = build_uri(profile)
    theirs = pyotp.parse_uri(uri)
    assert (theirs.name, theirs.issuer) == ("alice@example.com", "ACME Co")
    assert (theirs.digits, theirs.interval, theirs.digest().name) == (digits, period_s, algorithm)
    assert theirs.byte_secret() == SECRET_20
    assert parse_uri(uri) == profile


def test_built_uri_keeps_default_period_and_digits_explicit():
    uri = build_uri(Profile(SECRET_20, label="a"))
    assert uri.endswith("&algorithm=SHA1&digits=6&period=30")
