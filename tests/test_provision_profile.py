"""Profile checks: the core's OTP rules as provisioning errors, and the token's screen."""

import pytest

from baoling.provisioning.errors import BadProfile, BadSecret
from baoling.provisioning.profile import Profile, read_secret


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("GEZDGNBV1", "secret is not base32: character 9 is not A-Z or 2-7"),
        ("GEZDGNBVG", "secret is not base32: 9 characters cannot be whole bytes"),
        ("  ", "secret is empty"),
    ],
)
def test_bad_base32_is_refused_without_repeating_it(text, message):
    """The rules are the core's (tests/test_core_base32.py); provisioning says BadSecret."""
    with pytest.raises(BadSecret) as caught:
        read_secret(text)
    assert str(caught.value) == message


def test_a_typed_secret_is_read_by_the_core_rules():
    assert read_secret("gezd-gnbv gy3t qojq==") == b"1234567890"


def test_secret_b32_is_upper_case_without_padding():
    assert Profile(b"1234567890foo").secret_b32 == "GEZDGNBVGY3TQOJQMZXW6"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "md5"}, "algorithm must be sha1, sha256 or sha512, not 'md5'"),
        ({"digits": 5}, "digits must be 6, 7 or 8, not 5"),
        ({"period_s": 301}, "period must be 10 to 300 seconds, not 301"),
        ({"label": "x" * 33}, "Label is longer than 32 characters."),
        (
            {"issuer": "a\nb"},
            "Issuer 'a\\nb' has a control character, which a token cannot show.",
        ),
        (
            {"label": "a\x85b"},
            "Label 'a\\x85b' has a control character, which a token cannot show.",
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
        f"secret must be 10 to 64 bytes (16 to 103 base32 characters), not {length}"
    )


def test_repr_leaves_the_secret_out():
    assert "k" * 20 not in repr(Profile(b"k" * 20, label="x"))


@pytest.mark.parametrize("label", ["张三", "Ωμέγα", "Жук", "Müller"])
def test_labels_in_any_script_are_accepted(label):
    assert Profile(b"k" * 20, label=label, issuer="银行").label == label
