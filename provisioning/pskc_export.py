"""PSKC (RFC 6030) files of what was written into tokens, for import into another server.

python-pskc does the XML and the cryptography; this module only maps a profile onto RFC 6030's
nouns: the TOTP algorithm URN, `Suite` for the hash (read from there, so an importer never has
to fall back to SHA-1), `response_length` for digits and `time_interval` for the period.

Three protections, one per file (RFC 6030 sections 6.1 and 6.2): none (plain), a pre-shared
AES key (AES-CBC for the secret plus an HMAC-SHA256 MAC over it), or a password (PBKDF2 derives
the AES key; salt and iteration count are in the file).
"""

import io
from dataclasses import dataclass

from pskc import PSKC

from provisioning.errors import ExportError
from provisioning.profile import Profile

TOTP_URN = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
SUITES = {"sha1": "HMAC-SHA1", "sha256": "HMAC-SHA256", "sha512": "HMAC-SHA512"}
MANUFACTURER = "Baoling"
AES_KEY_BYTES = (16, 24, 32)
PBKDF2_ITERATIONS = 200_000  # about 0.2 s on a small machine; RFC 8018 asks for "at least 1,000"
MIN_PASSWORD_CHARS = 8


@dataclass(frozen=True)
class Entry:
    """One exported key: the token's serial, the slot it sits in and the profile written there."""

    serial: str
    slot: int
    profile: Profile

    @property
    def key_id(self) -> str:
        """The PSKC key id, also the token id a verifier enrols it under."""
        return token_id(self.serial, self.slot)


def token_id(serial: str, slot: int) -> str:
    """One name for a token's slot across verifier enrolment, PSKC and batch results."""
    return f"{serial}-{slot}"


def export_pskc(
    entries: list[Entry], *, key: bytes | None = None, password: str | None = None
) -> bytes:
    """The PSKC document holding `entries`, plain or protected by a pre-shared key or password."""
    if key is not None and password is not None:
        raise ExportError("Give a PSKC key or a PSKC password, not both: one file has one.")
    pskc = PSKC()
    if key is not None or password is not None:
        pskc.mac.setup(algorithm="hmac-sha256")  # python-pskc's default MAC is HMAC-SHA1
    if key is not None:
        if len(key) not in AES_KEY_BYTES:
            raise ExportError("The PSKC key must be 16, 24 or 32 bytes (AES-128, -192 or -256).")
        pskc.encryption.setup_preshared_key(key=key, algorithm=f"aes{len(key) * 8}-cbc")
    elif password is not None:
        if len(password) < MIN_PASSWORD_CHARS:
            raise ExportError(
                f"The PSKC password must have at least {MIN_PASSWORD_CHARS} characters."
            )
        pskc.encryption.setup_pbkdf2(
            password, algorithm="aes256-cbc", iterations=PBKDF2_ITERATIONS
        )
    for entry in entries:
        profile = entry.profile
        pskc.add_key(
            id=entry.key_id,
            serial=entry.serial,
            manufacturer=MANUFACTURER,
            algorithm=TOTP_URN,
            algorithm_suite=SUITES[profile.algorithm],
            secret=profile.secret,
            time_interval=profile.period_s,
            time_offset=0,
            response_encoding="DECIMAL",
            response_length=profile.digits,
            friendly_name=profile.label or None,
            issuer=profile.issuer or None,
        )
    out = io.BytesIO()
    pskc.write(out)
    return out.getvalue()
