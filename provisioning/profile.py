"""A token profile (one slot's secret and parameters) and the checks every input goes through.

Whatever the source (an otpauth URI, --secret, a batch manifest, a generated secret), a profile is
validated here once, so the token and every export see the same values. The OTP rules (base32,
secret length, algorithm, digits, period) are the shared core's (core/base32.py,
core/limits.py); what is added here is the token's screen: labels and issuers it can show, in
any script (a line its font cannot draw is sent as a bitmap: provisioning/label_bitmap.py).
Names follow the Key-URI format; `period_s` is RFC 6238's time step X.
"""

import unicodedata
from dataclasses import dataclass

from baoling.core import base32
from baoling.core.errors import CoreError
from baoling.core.limits import (
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD_S,
    check_algorithm,
    check_digits,
    check_period,
    check_secret,
)
from baoling.provisioning.errors import BadProfile, BadSecret

MAX_TEXT_CHARS = 32  # label and issuer (docs/protocol.md, profile.write)


@dataclass(frozen=True)
class Profile:
    """What one slot of a token holds. `repr` leaves the secret out so it never reaches a log."""

    secret: bytes
    algorithm: str = DEFAULT_ALGORITHM
    digits: int = DEFAULT_DIGITS
    period_s: int = DEFAULT_PERIOD_S
    label: str = ""
    issuer: str = ""

    def __post_init__(self) -> None:
        check_profile(self.algorithm, self.digits, self.period_s, self.label, self.issuer)
        try:
            check_secret(self.secret)
        except CoreError as exc:
            raise BadSecret(str(exc)) from None

    def __repr__(self) -> str:
        return (
            f"Profile(algorithm={self.algorithm!r}, digits={self.digits}, "
            f"period_s={self.period_s}, label={self.label!r}, issuer={self.issuer!r})"
        )

    @property
    def secret_b32(self) -> str:
        """The secret as upper-case base32 without padding, as the Key-URI format writes it."""
        return base32.encode(self.secret)


def check_profile(algorithm: str, digits: int, period_s: int, label: str, issuer: str) -> None:
    """Refuse parameters a token cannot show, naming the parameter and what is allowed."""
    try:
        check_algorithm(algorithm)
        check_digits(digits)
        check_period(period_s)
    except CoreError as exc:
        raise BadProfile(str(exc)) from None
    for name, text in (("Label", label), ("Issuer", issuer)):
        if len(text) > MAX_TEXT_CHARS:
            raise BadProfile(f"{name} is longer than {MAX_TEXT_CHARS} characters.")
        if any(unicodedata.category(ch) == "Cc" for ch in text):
            raise BadProfile(f"{name} {text!r} has a control character, which a token cannot show.")


def read_secret(text: str) -> bytes:
    """A base32 secret as a user types or pastes it (core/base32.py's rules), or BadSecret.

    The message never repeats the text: it is a secret.
    """
    try:
        return base32.decode(text)
    except CoreError as exc:
        raise BadSecret(str(exc)) from None
