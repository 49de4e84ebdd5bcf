"""Base32 secrets (RFC 4648 section 6) as authenticator apps and people write them: one rule set.

Read:
- letters A-Z in either case and digits 2-7 (ASCII only);
- spaces and hyphens anywhere are ignored (secrets are shown in groups: "JBSW Y3DP",
  "jbsw-y3dp");
- `=` padding is optional, of any length, and only at the end (Key-URI secrets have none,
  RFC 4648 text has it);
- the number of base32 characters must end on a whole byte (not 1, 3 or 6 more than a multiple
  of 8); leftover bits of the last character are ignored, as RFC 4648 decoders do;
- no base32 character at all is "empty".
Written: upper case, without padding (Key-URI format).

The token follows the same rules in MicroPython (firmware/otp.py `b32decode`, same messages);
tests/test_core_firmware_agreement.py runs both on the same inputs.
"""

import base64

from baoling.core.errors import CoreError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SEPARATORS = " -"
PAD = "="
# Characters in the last group of 8 that cannot end on a whole byte (5 bits each).
_PARTIAL_GROUPS = (1, 3, 6)
_ACCEPTED = frozenset(ALPHABET + ALPHABET.lower())


def decode(text: str) -> bytes:
    """The bytes of a base32 secret, or CoreError naming the rule it breaks (by position: the
    characters of a secret never reach a message)."""
    if not isinstance(text, str):
        raise CoreError("secret must be base32 text")
    chars: list[str] = []
    padded = False
    for position, char in enumerate(text, start=1):
        if char in SEPARATORS:
            continue
        if char == PAD:
            padded = True
        elif padded:
            raise CoreError("secret is not base32: '=' padding is only allowed at the end")
        elif char not in _ACCEPTED:
            raise CoreError(f"secret is not base32: character {position} is not A-Z or 2-7")
        else:
            chars.append(char)
    if not chars:
        raise CoreError("secret is empty")
    if len(chars) % 8 in _PARTIAL_GROUPS:
        raise CoreError(f"secret is not base32: {len(chars)} characters cannot be whole bytes")
    clean = "".join(chars).upper()
    return base64.b32decode(clean + PAD * (-len(clean) % 8))


def encode(secret: bytes) -> str:
    """Upper-case base32 without padding, as the Key-URI format writes a secret."""
    return base64.b32encode(secret).decode("ascii").rstrip(PAD)
