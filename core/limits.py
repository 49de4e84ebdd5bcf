"""Every OTP parameter limit and default, once, with its unit in its name.

The token (firmware/otp.py, firmware/device.py) keeps its own MicroPython copy of these numbers;
tests/test_core_firmware_agreement.py runs both and checks they accept and refuse alike.
"""

from baoling.core.errors import CoreError

# HMAC hashes (RFC 6238 section 1.2), as lower-case names; otpauth URIs write them upper-case.
ALGORITHMS = ("sha1", "sha256", "sha512")
DEFAULT_ALGORITHM = "sha1"
# Code lengths (RFC 4226 section 5.3 asks for at least 6); 7 is allowed, as the token shows it.
MIN_DIGITS = 6
MAX_DIGITS = 8
DIGITS = tuple(range(MIN_DIGITS, MAX_DIGITS + 1))
DEFAULT_DIGITS = 6
# The time step X of RFC 6238, in seconds.
MIN_PERIOD_S = 10
MAX_PERIOD_S = 300
DEFAULT_PERIOD_S = 30
# RFC 4226 counters are 8-byte unsigned integers.
MAX_COUNTER = 2**64 - 1
# Secret (HMAC key) lengths in bytes: 10 bytes are the 80-bit secrets many websites still issue
# (RFC 4226 asks for 16); 64 bytes are SHA-512's output and block size, past which HMAC
# hashes the key down anyway.
MIN_SECRET_BYTES = 10
MAX_SECRET_BYTES = 64
# A secret made here is as long as the HMAC's output (RFC 4226 section 4, RFC 6238 section 5.1),
# so the key is never the weak part.
GENERATED_SECRET_BYTES = {"sha1": 20, "sha256": 32, "sha512": 64}


def _b32_chars(size_bytes: int) -> int:
    """How many base32 characters (padding left out) write `size_bytes` bytes."""
    return -(-size_bytes * 8 // 5)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_algorithm(algorithm: str) -> str:
    """The algorithm itself, or CoreError naming the ones allowed."""
    if algorithm not in ALGORITHMS:
        raise CoreError(f"algorithm must be sha1, sha256 or sha512, not {algorithm!r}")
    return algorithm


def check_digits(digits: int) -> int:
    """The code length itself, or CoreError naming the lengths allowed."""
    if not _whole(digits) or digits not in DIGITS:
        raise CoreError(f"digits must be 6, 7 or 8, not {digits!r}")
    return digits


def check_period(period_s: int) -> int:
    """The time step itself, or CoreError naming the range allowed."""
    if not _whole(period_s) or not MIN_PERIOD_S <= period_s <= MAX_PERIOD_S:
        raise CoreError(
            f"period must be {MIN_PERIOD_S} to {MAX_PERIOD_S} seconds, not {period_s!r}"
        )
    return period_s


def check_secret(secret: bytes) -> bytes:
    """The secret itself, or CoreError giving its length (never its bytes)."""
    if not isinstance(secret, bytes | bytearray):
        raise CoreError("secret must be bytes")
    if not MIN_SECRET_BYTES <= len(secret) <= MAX_SECRET_BYTES:
        raise CoreError(
            f"secret must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes "
            f"({_b32_chars(MIN_SECRET_BYTES)} to {_b32_chars(MAX_SECRET_BYTES)} base32 "
            f"characters), not {len(secret)}"
        )
    return bytes(secret)


def check_parameters(secret: bytes, algorithm: str, digits: int, period_s: int) -> None:
    """All four checks; the first broken rule is the one reported."""
    check_algorithm(algorithm)
    check_digits(digits)
    check_period(period_s)
    check_secret(secret)
