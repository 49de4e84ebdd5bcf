"""baoling.core.base32: the one rule set for base32 secrets, against CPython's base64
(RFC 4648) as the reference for the bytes, with the exact messages users see."""

import base64
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baoling.core import base32
from baoling.core.errors import CoreError

SEED = b"12345678901234567890"
SEED_B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


@pytest.mark.parametrize(
    "text",
    [
        SEED_B32,
        SEED_B32.lower(),
        "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
        "GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ",
        " GEZDgnbv GY3T-qojq GEZDGNBVGY3TQOJQ ",
    ],
)
def test_a_secret_is_read_in_any_case_with_spaces_and_hyphens(text):
    assert base32.decode(text) == SEED


@pytest.mark.parametrize("text", ["MZXW6", "MZXW6===", "MZXW6=", "MZXW6 = = =", "mzxw6==========="])
def test_padding_is_optional_and_of_any_length_at_the_end(text):
    assert base32.decode(text) == b"foo"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "secret is empty"),
        ("  - ", "secret is empty"),
        ("====", "secret is empty"),
        (" ==== ", "secret is empty"),
        ("GEZDGNBV1", "secret is not base32: character 9 is not A-Z or 2-7"),
        ("GEZD GNB0", "secret is not base32: character 9 is not A-Z or 2-7"),
        ("GEZD\tGNBV", "secret is not base32: character 5 is not A-Z or 2-7"),
        ("GEZDGNBß", "secret is not base32: character 8 is not A-Z or 2-7"),
        ("ＧEZDGNBV", "secret is not base32: character 1 is not A-Z or 2-7"),
        ("MZ=XW6", "secret is not base32: '=' padding is only allowed at the end"),
        ("MZXW6=!", "secret is not base32: '=' padding is only allowed at the end"),
        ("M", "secret is not base32: 1 characters cannot be whole bytes"),
        ("MZX", "secret is not base32: 3 characters cannot be whole bytes"),
        ("MZXW6Y", "secret is not base32: 6 characters cannot be whole bytes"),
        ("GEZDGNBVG", "secret is not base32: 9 characters cannot be whole bytes"),
        (b"GEZDGNBV", "secret must be base32 text"),
        (None, "secret must be base32 text"),
    ],
)
def test_bad_text_is_refused_by_position_never_by_character(text, message):
    with pytest.raises(CoreError) as caught:
        base32.decode(text)
    assert str(caught.value) == message


def test_core_error_is_a_value_error():
    assert issubclass(CoreError, ValueError)


def test_encode_is_upper_case_without_padding():
    assert base32.encode(b"foo") == "MZXW6"
    assert base32.encode(SEED) == SEED_B32


@given(st.binary(min_size=1, max_size=80))
def test_every_rfc4648_form_reads_back_the_bytes(secret):
    padded = base64.b32encode(secret).decode()
    bare = padded.rstrip("=")
    grouped = " ".join(bare[i : i + 4] for i in range(0, len(bare), 4)).lower()
    for text in (padded, bare, grouped, bare.replace("", "-")[1:-1], base32.encode(secret)):
        assert base32.decode(text) == secret


def test_lengths_accepted_are_exactly_those_rfc4648_can_write():
    """Every count of base32 characters from 1 to 40: CPython's decoder as the reference."""
    rng = random.Random(6)
    for count in range(1, 41):
        text = "".join(rng.choice(base32.ALPHABET) for _ in range(count))
        try:
            expected = base64.b32decode(text + "=" * (-count % 8))
        except ValueError:
            expected = None
        try:
            got = base32.decode(text)
        except CoreError:
            got = None
        assert got == expected, count
