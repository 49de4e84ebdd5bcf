"""verifier.otp against RFC 6238 (TOTP), Appendix B, and the input checks of the OTP core."""

import pytest

from baoling.verifier.otp import TOTP, OTPError

# RFC 6238 Appendix B: one seed per hash, each its hash's output length in ASCII digits.
RFC6238_SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
# Appendix B table: time (s), T (hex), and the 8-digit TOTP for SHA1, SHA256, SHA512.
RFC6238_TABLE = [
    (59, 0x0000000000000001, "94287082", "46119246", "90693936"),
    (1111111109, 0x00000000023523EC, "07081804", "68084774", "25091201"),
    (1111111111, 0x00000000023523ED, "14050471", "67062674", "99943326"),
    (1234567890, 0x000000000273EF07, "89005924", "91819424", "93441116"),
    (2000000000, 0x0000000003F940AA, "69279037", "90698825", "38618901"),
    (20000000000, 0x0000000027BC86AA, "65353130", "77737706", "47863826"),
]
VECTORS = [
    (algorithm, time, step, codes[index])
    for time, step, *codes in RFC6238_TABLE
    for index, algorithm in enumerate(("sha1", "sha256", "sha512"))
]


@pytest.mark.parametrize(("algorithm", "time", "step", "code"), VECTORS)
def test_rfc6238_appendix_b(algorithm: str, time: int, step: int, code: str) -> None:
    totp = TOTP(RFC6238_SEEDS[algorithm], algorithm=algorithm, digits=8)
    assert totp.step_at(time) == step
    assert totp.code_at_step(step) == code


@pytest.mark.parametrize(("algorithm", "time", "step", "code"), VECTORS)
def test_rfc6238_appendix_b_find(algorithm: str, time: int, step: int, code: str) -> None:
    totp = TOTP(RFC6238_SEEDS[algorithm], algorithm=algorithm, digits=8)
    value = totp.parse(code)
    assert value is not None
    assert totp.find(value, range(step - 1, step + 2)) == step
    assert totp.find(value, [step - 1, step + 1]) is None


def test_rfc6238_leading_zero_code() -> None:
    # Appendix B, 1111111109 with SHA1: the code begins with a zero and keeps it.
    assert TOTP(RFC6238_SEEDS["sha1"], digits=8).code_at_step(0x23523EC) == "07081804"


def test_rfc6238_six_digit_code_is_the_last_six_of_eight() -> None:
    assert TOTP(RFC6238_SEEDS["sha256"], algorithm="sha256").code_at_step(1) == "119246"


def test_step_boundaries() -> None:
    totp = TOTP(RFC6238_SEEDS["sha1"], period_s=60)
    assert totp.step_at(59.999) == 0
    assert totp.step_at(60) == 1
    assert totp.step_at(119.5) == 1
    assert totp.step_at(120) == 2


def test_rfc6238_key_longer_than_the_block_is_hashed_first() -> None:
    # RFC 2104: a key longer than the hash's block is replaced by its digest, so both give
    # the same code.
    import hashlib

    long_key = bytes(range(100))
    assert TOTP(long_key).code_at_step(1) == TOTP(hashlib.sha1(long_key).digest()).code_at_step(1)


# --- input checks: exact messages -------------------------------------------------------


def test_otp_error_is_a_value_error() -> None:
    assert issubclass(OTPError, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secret": b""}, "secret is empty"),
        (
            {"secret": "GEZDGNBV"},
            "secret must be bytes (decode base32 text with baoling.core.base32)",
        ),
        ({"digits": 5}, "digits must be from 6 to 8, not 5"),
        ({"digits": 9}, "digits must be from 6 to 8, not 9"),
        ({"digits": "6"}, "digits must be from 6 to 8, not '6'"),
        ({"period_s": 9}, "period_s must be from 10 to 300 seconds, not 9"),
        ({"period_s": 301}, "period_s must be from 10 to 300 seconds, not 301"),
        ({"period_s": 30.5}, "period_s must be from 10 to 300 seconds, not 30.5"),
        ({"algorithm": "md5"}, "algorithm must be one of sha1, sha256, sha512, not 'md5'"),
        ({"algorithm": "SHA1"}, "algorithm must be one of sha1, sha256, sha512, not 'SHA1'"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(kwargs: dict, message: str) -> None:
    arguments = {"secret": b"12345678901234567890", **kwargs}
    with pytest.raises(OTPError) as caught:
        TOTP(**arguments)
    assert str(caught.value) == message


@pytest.mark.parametrize("digits", [6, 7, 8])
@pytest.mark.parametrize("period_s", [10, 30, 60, 300])
def test_every_allowed_digits_and_period_is_accepted(digits: int, period_s: int) -> None:
    totp = TOTP(b"k", digits=digits, period_s=period_s)
    assert len(totp.code_at_step(totp.step_at(1_700_000_000))) == digits
