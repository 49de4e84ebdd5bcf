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
from pathlib import Path

from pskc import PSKC
from pskc.exceptions import PSKCError
from pskc.key import Key

from baoling.core.errors import CoreError
from baoling.core.identity import split_token_id
from baoling.provisioning.entry import Entry
from baoling.provisioning.errors import BadProfile, BadSecret, ExportError
from baoling.provisioning.files import write_private
from baoling.provisioning.profile import Profile

TOTP_URN = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
SUITES = {"sha1": "HMAC-SHA1", "sha256": "HMAC-SHA256", "sha512": "HMAC-SHA512"}
MANUFACTURER = "Baoling"
AES_KEY_BYTES = (16, 24, 32)
PBKDF2_ITERATIONS = 200_000  # about 0.2 s on a small machine; RFC 8018 asks for "at least 1,000"
MIN_PASSWORD_CHARS = 8


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
        pskc.encryption.setup_pbkdf2(password, algorithm="aes256-cbc", iterations=PBKDF2_ITERATIONS)
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


def read_pskc(data: bytes, *, key: bytes | None = None, password: str | None = None) -> list[Entry]:
    """The entries of a PSKC file this module wrote (to add to it); anything else is refused."""
    try:
        pskc = PSKC(io.BytesIO(data))
        if key is not None:
            pskc.encryption.key = key
        if password is not None:
            pskc.encryption.derive_key(password)
        return [_entry(found) for found in pskc.keys]
    except (PSKCError, CoreError, BadProfile, BadSecret, ValueError, KeyError) as exc:
        raise ExportError(
            f"The existing PSKC file cannot be added to ({exc}): is the key or password the "
            "one it was written with?"
        ) from None


def _entry(key: Key) -> Entry:
    suites = {suite: name for name, suite in SUITES.items()}
    serial, slot = split_token_id(str(key.id))
    secret, suite = key.secret, key.algorithm_suite
    digits, period_s = key.response_length, key.time_interval
    if secret is None or suite is None or digits is None or period_s is None:
        raise ValueError(f"key {key.id} has no secret, suite, digits or period")
    profile = Profile(
        secret,
        suites[suite],
        digits,
        period_s,
        key.friendly_name or "",
        key.issuer or "",
    )
    return Entry(serial, slot, profile)


@dataclass(frozen=True)
class PskcFile:
    """A PSKC file as a registration target: each proved profile is added to it.

    The file is rewritten whole (new file, then rename) with mode 0600, so an interruption leaves
    the previous complete file and a plain export is never readable by other users.
    """

    path: Path
    key: bytes | None = None
    password: str | None = None

    def entries(self) -> list[Entry]:
        if not self.path.exists():
            return []
        return read_pskc(self.path.read_bytes(), key=self.key, password=self.password)

    def check(self, token_id: str) -> None:
        if any(entry.key_id == token_id for entry in self.entries()):
            raise ExportError(f"{self.path} already holds {token_id}: use another PSKC file.")

    def register(self, entry: Entry) -> None:
        data = export_pskc([*self.entries(), entry], key=self.key, password=self.password)
        write_private(self.path, data)
