"""Profile checks and base32 (RFC 4648 section 6) as users type secrets."""

import pytest

from baoling.provisioning.errors import BadProfile, BadSecret
from baoling.provisioning.profile import Profile, b32decode, b32encode


@pytest.mark.parametrize(
    "text", ["GEZDGNBVGY3TQOJQ", "gezdgnbvgy3tqojq", "gezd gnbv gy3t qojq", "GEZD-GNBV-GY3T-QOJQ"]
)
def test_rfc4648_base32_as_people_type_it(text):
    assert b32decode(text) == b"1234567890"


def test_padding_is_optional():
    assert b32decode("MZXW6===") == b32decode("MZXW6") == b"foo"


def test_encode_is_upper_case_without_padding():
    assert b32encode(b"foo") == "MZXW6"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("GEZDGNBV1", "The secret is not valid base32 (letters A-Z and digits 2-7 only)."),
        ("GEZDGNBVG", "The secret is not valid base32 (letters A-Z and digits 2-7 only)."),
        ("  ", "The secret is empty."),
    ],
)
def test_bad_base32_is_refused_without_repeating_it(text, message):
    with pytest.raises(BadSecret) as caught:
        b32decode(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "md5"}, "Algorithm 'md5' is not supported: use sha1, sha256 or sha512."),
        ({"digits": 5}, "Digits must be 6, 7 or 8, not 5."),
        ({"period_s": 301}, "Period must be from 10 to 300 seconds, not 301."),
        ({"label": "x" * 33}, "Label is longer than 32 characters."),
        (
            {"issuer": "a\nb"},
            "Issuer 'a\\nb' has characters a token cannot show: use printable ASCII.",
        ),
        (
            {"label": "Bücher"},
            "Label 'Bücher' has characters a token cannot show: use printable ASCII.",
        ),
    ],
)
def test_out_of_range_parameters_are_refused(kwargs, message):
    with pytest.raises(BadProfile) as caught:
        Profile(b"k" * 20, **kwargs)
    assert str(caught.value) == message


@pytest.mark.parametrize("length", [9, 65])
def test_secret_length_is_what_the_token_stores(length):
    with pytest.raises(BadSecret) as caught:
        Profile(b"k" * length)
    assert str(caught.value) == (
        f"The secret must be 10 to 64 bytes long (16 to 103 base32 characters), not {length}."
    )


def test_repr_leaves_the_secret_out():
    assert "k" * 20 not in repr(Profile(b"k" * 20, label="x"))
