"""A token profile (one slot's secret and parameters) and the checks every input goes through.

Whatever the source (an otpauth URI, --secret, a batch manifest, a generated secret), a profile is
validated here once, so the token and every export see the same values. Names follow the
Key-URI format; `period_s` is RFC 6238's time step X.
"""

import base64
import binascii
import re
from dataclasses import dataclass

from baoling.provisioning.errors import BadProfile, BadSecret

ALGORITHMS = ("sha1", "sha256", "sha512")
DIGITS = (6, 7, 8)
MIN_PERIOD_S = 10
MAX_PERIOD_S = 300
DEFAULT_ALGORITHM = "sha1"
DEFAULT_DIGITS = 6
DEFAULT_PERIOD_S = 30
MAX_TEXT_CHARS = 32  # label and issuer (docs/protocol.md, profile.write)
MIN_SECRET_BYTES = 10  # the 80-bit secrets many websites still issue; RFC 4226 asks for 16
MAX_SECRET_BYTES = 64

_B32_JUNK = re.compile(r"[\s-]")


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
        if not MIN_SECRET_BYTES <= len(self.secret) <= MAX_SECRET_BYTES:
            raise BadSecret(
                f"The secret must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes long "
                f"(16 to 103 base32 characters), not {len(self.secret)}."
            )

    def __repr__(self) -> str:
        return (
            f"Profile(algorithm={self.algorithm!r}, digits={self.digits}, "
            f"period_s={self.period_s}, label={self.label!r}, issuer={self.issuer!r})"
        )

    @property
    def secret_b32(self) -> str:
        """The secret as upper-case base32 without padding, as the Key-URI format writes it."""
        return b32encode(self.secret)


def check_profile(algorithm: str, digits: int, period_s: int, label: str, issuer: str) -> None:
    """Refuse parameters a token cannot show, naming the parameter and what is allowed."""
    if algorithm not in ALGORITHMS:
        raise BadProfile(f"Algorithm {algorithm!r} is not supported: use sha1, sha256 or sha512.")
    if digits not in DIGITS:
        raise BadProfile(f"Digits must be 6, 7 or 8, not {digits}.")
    if not MIN_PERIOD_S <= period_s <= MAX_PERIOD_S:
        raise BadProfile(
            f"Period must be from {MIN_PERIOD_S} to {MAX_PERIOD_S} seconds, not {period_s}."
        )
    for name, text in (("Label", label), ("Issuer", issuer)):
        if len(text) > MAX_TEXT_CHARS:
            raise BadProfile(f"{name} is longer than {MAX_TEXT_CHARS} characters.")
        if any(not " " <= ch <= "~" for ch in text):
            raise BadProfile(
                f"{name} {text!r} has characters a token cannot show: use printable ASCII."
            )


def b32decode(text: str) -> bytes:
    """Decode a user's base32 secret: any case, padding optional, spaces and dashes ignored.

    The message never repeats the text: it is a secret.
    """
    cleaned = _B32_JUNK.sub("", text).upper().rstrip("=")
    if not cleaned:
        raise BadSecret("The secret is empty.")
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise BadSecret(
            "The secret is not valid base32 (letters A-Z and digits 2-7 only)."
        ) from None


def b32encode(secret: bytes) -> str:
    """Upper-case base32 without padding (Key-URI format)."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")
