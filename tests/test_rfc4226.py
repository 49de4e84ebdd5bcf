"""verifier.otp against RFC 4226 (HOTP), Appendix D, and its input checks."""

import pytest

from baoling.verifier.otp import HOTP, OTPError

# RFC 4226 Appendix D: Secret = 0x3132333435363738393031323334353637383930 (ASCII digits).
RFC4226_SECRET = b"12345678901234567890"
# Appendix D, "Truncated" table: count -> decimal value of the 31-bit dynamic truncation.
RFC4226_TRUNCATED = [
    1284755224,
    1094287082,
    137359152,
    1726969429,
    1640338314,
    868254676,
    1918287922,
    82162583,
    673399871,
    645520489,
]
# Appendix D, "HOTP" column: the 6-digit codes for counts 0..9.
RFC4226_HOTP = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]


@pytest.mark.parametrize("count", range(10))
def test_rfc4226_appendix_d_codes(count: int) -> None:
    assert HOTP(RFC4226_SECRET).code(count) == RFC4226_HOTP[count]


@pytest.mark.parametrize("count", range(10))
def test_rfc4226_appendix_d_truncation_gives_8_digit_codes(count: int) -> None:
    expected = f"{RFC4226_TRUNCATED[count] % 10**8:08d}"
    assert HOTP(RFC4226_SECRET, digits=8).code(count) == expected


def test_rfc4226_seven_digits_is_the_truncated_value_mod_10_7() -> None:
    assert HOTP(RFC4226_SECRET, digits=7).code(0) == f"{RFC4226_TRUNCATED[0] % 10**7:07d}"


def test_find_returns_the_matching_counter() -> None:
    hotp = HOTP(RFC4226_SECRET)
    assert hotp.find(hotp.parse(RFC4226_HOTP[5]), range(3, 8)) == 5  # type: ignore[arg-type]


def test_find_returns_none_outside_the_counters_given() -> None:
    hotp = HOTP(RFC4226_SECRET)
    assert hotp.find(hotp.parse(RFC4226_HOTP[9]), range(0, 9)) is None  # type: ignore[arg-type]


def test_parse_keeps_leading_zeros_meaningful() -> None:
    hotp = HOTP(RFC4226_SECRET, digits=8)
    assert hotp.parse("00012345") == 12345
    assert hotp.parse("12345") is None


def test_find_never_matches_an_unparsed_code() -> None:
    """A code passed as text, not through `parse`, is not a number: it equals no code."""
    hotp = HOTP(RFC4226_SECRET)
    assert hotp.find(RFC4226_HOTP[5], range(10)) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code",
    ["75522", "7552240", "75522a", " 755224", "７５５２２４", "٧٥٥٢٢٤", None, 755224],
    ids=["short", "long", "letter", "space", "fullwidth", "arabic-indic", "none", "int"],
)
def test_parse_refuses_a_malformed_code(code: object) -> None:
    assert HOTP(RFC4226_SECRET).parse(code) is None  # type: ignore[arg-type]


def test_counter_out_of_range_is_refused() -> None:
    hotp = HOTP(RFC4226_SECRET)
    with pytest.raises(OTPError) as caught:
        hotp.code(-1)
    assert str(caught.value) == "counter must be from 0 to 18446744073709551615"
    with pytest.raises(OTPError):
        hotp.code(2**64)


def test_largest_counter_is_accepted() -> None:
    assert len(HOTP(RFC4226_SECRET).code(2**64 - 1)) == 6
