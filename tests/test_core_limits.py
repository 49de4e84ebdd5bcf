"""baoling.core.limits: the OTP parameter limits, each check with its exact message."""

import hashlib

import pytest

from baoling.core import limits
from baoling.core.errors import CoreError


def test_the_limits_are_the_documented_ones():
    """docs/protocol.md and docs/verifier.md state these; the token has the same numbers."""
    assert limits.ALGORITHMS == ("sha1", "sha256", "sha512")
    assert limits.DIGITS == (6, 7, 8)
    assert (limits.MIN_PERIOD_S, limits.MAX_PERIOD_S) == (10, 300)
    assert (limits.MIN_SECRET_BYTES, limits.MAX_SECRET_BYTES) == (10, 64)
    assert (limits.DEFAULT_ALGORITHM, limits.DEFAULT_DIGITS, limits.DEFAULT_PERIOD_S) == (
        "sha1",
        6,
        30,
    )


def test_generated_secrets_are_as_long_as_the_hash_output():
    for algorithm in limits.ALGORITHMS:
        size = limits.GENERATED_SECRET_BYTES[algorithm]
        assert size == hashlib.new(algorithm).digest_size
        limits.check_secret(bytes(size))


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (limits.check_algorithm, "md5", "algorithm must be sha1, sha256 or sha512, not 'md5'"),
        (limits.check_algorithm, "SHA1", "algorithm must be sha1, sha256 or sha512, not 'SHA1'"),
        (limits.check_digits, 5, "digits must be 6, 7 or 8, not 5"),
        (limits.check_digits, 9, "digits must be 6, 7 or 8, not 9"),
        (limits.check_digits, "6", "digits must be 6, 7 or 8, not '6'"),
        (limits.check_digits, True, "digits must be 6, 7 or 8, not True"),
        (limits.check_period, 9, "period must be 10 to 300 seconds, not 9"),
        (limits.check_period, 301, "period must be 10 to 300 seconds, not 301"),
        (limits.check_period, 30.0, "period must be 10 to 300 seconds, not 30.0"),
        (
            limits.check_secret,
            bytes(9),
            "secret must be 10 to 64 bytes (16 to 103 base32 characters), not 9",
        ),
        (
            limits.check_secret,
            bytes(65),
            "secret must be 10 to 64 bytes (16 to 103 base32 characters), not 65",
        ),
        (limits.check_secret, "GEZDGNBVGY3TQOJQ", "secret must be bytes"),
        (limits.check_secret, None, "secret must be bytes"),
    ],
)
def test_out_of_range_values_are_refused_with_the_rule(check, value, message):
    with pytest.raises(CoreError) as caught:
        check(value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("check", "values"),
    [
        (limits.check_algorithm, ["sha1", "sha256", "sha512"]),
        (limits.check_digits, [6, 7, 8]),
        (limits.check_period, [10, 30, 60, 300]),
        (limits.check_secret, [bytes(10), bytearray(20), bytes(64)]),
    ],
)
def test_values_in_range_pass_through(check, values):
    for value in values:
        assert check(value) == value


def test_check_parameters_reports_the_first_broken_rule():
    with pytest.raises(CoreError, match="^algorithm must be"):
        limits.check_parameters(None, "md5", 9, 5)  # type: ignore[arg-type]
    with pytest.raises(CoreError, match="^period must be"):
        limits.check_parameters(bytes(1), "sha1", 6, 5)
    with pytest.raises(CoreError, match="^secret must be 10 to 64 bytes"):
        limits.check_parameters(bytes(1), "sha1", 6, 30)
    limits.check_parameters(bytes(10), "sha512", 7, 300)
