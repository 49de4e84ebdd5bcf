"""HOTP (RFC 4226) and TOTP (RFC 6238) for the verifier: the hot path of every check.

The key is decoded once and an HMAC keyed with it is made with the object; each code then
costs a copy of that HMAC, an update and a finalize. cryptography's HMAC is used rather than
hashlib's inner and outer hash states: with OpenSSL 3 its three calls per code cost less than
hashlib's six (docs/performance.md, "The engine against pyotp"). Codes are compared in
constant time, as integers (see `HOTP.find`). This module does no I/O and knows no clock:
callers pass the time.
"""

import math
import struct
from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes, hmac

from baoling.core.limits import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD_S,
    MAX_COUNTER,
    MAX_DIGITS,
    MAX_PERIOD_S,
    MIN_DIGITS,
    MIN_PERIOD_S,
)

# Bound once: the hot path then calls them without attribute look-ups.
_unpack_word = struct.Struct(">I").unpack_from
_floor = math.floor


class OTPError(ValueError):
    """Bad OTP input (secret, algorithm, digits, period, counter); the message says what."""


class HOTP:
    """Counter-based codes (RFC 4226) under one key, with its HMAC keyed once."""

    __slots__ = ("algorithm", "digits", "_modulus", "_format", "_mac")

    def __init__(
        self,
        secret: bytes,
        *,
        algorithm: str = DEFAULT_ALGORITHM,
        digits: int = DEFAULT_DIGITS,
    ) -> None:
        if not isinstance(secret, bytes | bytearray):
            raise OTPError("secret must be bytes (decode base32 text with baoling.core.base32)")
        if not secret:
            raise OTPError("secret is empty")
        if algorithm not in ALGORITHMS:
            raise OTPError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")
        if (
            not isinstance(digits, int)
            or isinstance(digits, bool)
            or not (MIN_DIGITS <= digits <= MAX_DIGITS)
        ):
            raise OTPError(f"digits must be from {MIN_DIGITS} to {MAX_DIGITS}, not {digits!r}")
        self.algorithm = algorithm
        self.digits = digits
        self._modulus = 10**digits
        self._format = f"%0{digits}d"
        # Each code starts from a copy of this HMAC; it is never updated itself, and copy()
        # only reads it, so the validate threads share one TOTP per token. cryptography
        # names each hash of ALGORITHMS in capitals (hashes.SHA1, ...).
        self._mac = hmac.HMAC(bytes(secret), getattr(hashes, algorithm.upper())())

    def parse(self, code: str) -> int | None:
        """The number a code stands for, or None unless it is exactly `digits` ASCII digits:
        `int` alone would also take spaces, signs, underscores and non-ASCII digits."""
        if type(code) is str and len(code) == self.digits and code.isascii() and code.isdigit():
            return int(code)
        return None

    def find(self, value: int, counters: Iterable[int]) -> int | None:
        """The first counter whose code is `value` (from `parse`), or None.

        The one place codes are computed: HMAC from a copy of the keyed one, then
        dynamic truncation (RFC 4226 section 5.3). It is one loop with no call per candidate
        because it is the verifier's hot path (bench/otp_core.py). Codes are compared as
        integers, not as zero-padded strings: a code below 10**8 is one 30-bit CPython digit,
        so `==` costs the same whichever digits differ (as constant-time as
        `hmac.compare_digest`), and no string is formatted per candidate.
        """
        # `keyed.copy()`, not a bound `copy` kept aside: CPython 3.11 calls a method
        # looked up on its object faster (bench/otp_core.py measured it).
        keyed = self._mac
        modulus = self._modulus
        for counter in counters:
            try:
                message = counter.to_bytes(8)  # big-endian, RFC 4226 section 5.2
            except OverflowError as exc:
                raise OTPError(f"counter must be from 0 to {MAX_COUNTER}") from exc
            mac_state = keyed.copy()
            mac_state.update(message)
            mac = mac_state.finalize()
            if (_unpack_word(mac, mac[-1] & 0x0F)[0] & 0x7FFFFFFF) % modulus == value:
                return counter
        return None

    def code(self, counter: int) -> str:
        """The code for `counter`, left-padded with zeros to `digits`."""
        reader = _ValueReader()
        self.find(reader, (counter,))  # type: ignore[arg-type]
        return self._format % reader.value


class _ValueReader:
    """A `find` value equal to every code, keeping the one it is compared with: how `code`
    reads a counter's code through `find`, so that codes are computed in one place only."""

    __slots__ = ("value",)

    def __eq__(self, code_value: object) -> bool:
        self.value = code_value
        return True

    __hash__ = None  # type: ignore[assignment]


class TOTP(HOTP):
    """Time-based codes (RFC 6238): the HOTP counter is the number of whole periods since
    1970-01-01 UTC (T0 = 0)."""

    __slots__ = ("period_s",)

    def __init__(
        self,
        secret: bytes,
        *,
        algorithm: str = DEFAULT_ALGORITHM,
        digits: int = DEFAULT_DIGITS,
        period_s: int = DEFAULT_PERIOD_S,
    ) -> None:
        if (
            not isinstance(period_s, int)
            or isinstance(period_s, bool)
            or not (MIN_PERIOD_S <= period_s <= MAX_PERIOD_S)
        ):
            raise OTPError(
                f"period_s must be from {MIN_PERIOD_S} to {MAX_PERIOD_S} seconds, not {period_s!r}"
            )
        super().__init__(secret, algorithm=algorithm, digits=digits)
        self.period_s = period_s

    def step_at(self, unix_time: float) -> int:
        """The time step (RFC 6238's T) that contains `unix_time`."""
        # floor(floor(t) / p) == floor(t / p) for a whole p; math.floor of a float is a fast
        # C path, and the step is taken on every check.
        return _floor(unix_time) // self.period_s

    def code_at_step(self, step: int) -> str:
        """The code shown during time step `step`."""
        return self.code(step)
