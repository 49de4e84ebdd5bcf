"""PSKC (RFC 6030) files of what was written into tokens, for import into another server.

python-pskc does the XML and the cryptography; this module maps a profile onto RFC 6030's nouns
(the TOTP algorithm URN, `Suite` for the hash, `ResponseFormat` for digits, `TimeInterval` for
the period) in one of two flavours, because the servers that import PSKC read it differently
(docs/provisioning.md has the table):

- `privacyidea` (the default, the widest import: privacyIDEA, LinOTP, python-pskc, Baoling):
  the hash as bare `sha1`/`sha256`/`sha512` (privacyIDEA takes the lower-cased Suite text as
  its hash name; LinOTP reads `HMAC-SHA512` as SHA-1), each slot its own `SerialNo` (both
  key their tokens by it), AES-128-CBC and an HMAC-SHA1 MAC (the only ones both decrypt and
  check);
- `rfc6030`: the RFC's own model: `HMAC-SHA256`-style Suites, the device's serial number in
  every slot's `SerialNo` (slots told apart by `Key/@Id`), AES-128/192/256 by key length, a
  password deriving an AES-256 key and an HMAC-SHA256 MAC.

Three protections, one per file (RFC 6030 sections 6.1 and 6.2): none (plain), a pre-shared
AES key (named in `EncryptionKey/KeyName`), or a password (PBKDF2 with HMAC-SHA1 derives the key;
salt, iteration count, key length and PRF are in the file, as XML Encryption 1.1 spells them).
"""

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement

from pskc import PSKC
from pskc.exceptions import DecryptionError, PSKCError
from pskc.key import Key
from pskc.serialiser import PSKCSerialiser
from pskc.xml import namespaces, tostring

from baoling.core.errors import CoreError
from baoling.core.identity import split_token_id
from baoling.provisioning.entry import Entry
from baoling.provisioning.errors import BadProfile, BadSecret, ExportError
from baoling.provisioning.files import why_unwritable, write_private
from baoling.provisioning.profile import Profile

TOTP_URN = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
MANUFACTURER = "Baoling"
PBKDF2_ITERATIONS = 200_000  # about 0.2 s on a small machine; RFC 8018 asks for "at least 1,000"
MIN_PASSWORD_CHARS = 8
KEY_NAME = "Pre-shared-key"  # RFC 6030 section 6.1's example name, when the caller gives none
_XENC11 = "{" + namespaces["xenc11"] + "}"
_PBKDF2_PRF = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha1"


@dataclass(frozen=True)
class Flavour:
    """How one family of importers wants a PSKC file written (see the module docstring)."""

    name: str
    suites: dict[str, str]  # profile algorithm -> <Suite> text
    serial_per_slot: bool  # SerialNo is the token id (serial-slot), not the device's serial
    key_bytes: tuple[int, ...]  # pre-shared AES key lengths accepted
    password_key_bytes: int  # the AES key length PBKDF2 derives
    mac: str  # MACMethod, for pre-shared key and password alike
    key_rule: str  # said when a pre-shared key has another length


FLAVOURS = {
    flavour.name: flavour
    for flavour in (
        Flavour(
            "privacyidea",
            {"sha1": "sha1", "sha256": "sha256", "sha512": "sha512"},
            serial_per_slot=True,
            key_bytes=(16,),
            password_key_bytes=16,
            mac="hmac-sha1",
            key_rule=(
                "The PSKC key must be 16 bytes: privacyIDEA and LinOTP decrypt AES-128 only "
                "(the rfc6030 flavour also takes 24 or 32)."
            ),
        ),
        Flavour(
            "rfc6030",
            {"sha1": "HMAC-SHA1", "sha256": "HMAC-SHA256", "sha512": "HMAC-SHA512"},
            serial_per_slot=False,
            key_bytes=(16, 24, 32),
            password_key_bytes=32,
            mac="hmac-sha256",
            key_rule="The PSKC key must be 16, 24 or 32 bytes (AES-128, -192 or -256).",
        ),
    )
}
DEFAULT_FLAVOUR = "privacyidea"


_HASHES = {suite: name for rules in FLAVOURS.values() for name, suite in rules.suites.items()}


def check_protection(
    key: bytes | None, password: str | None, flavour: str = DEFAULT_FLAVOUR
) -> Flavour:
    """The flavour's rules, once the key or password is one they can write a file with: checked
    before anything is written into a token, and again by every export."""
    if flavour not in FLAVOURS:
        raise ExportError(f"Unknown PSKC flavour {flavour!r}: use {' or '.join(FLAVOURS)}.")
    rules = FLAVOURS[flavour]
    if key is not None and password is not None:
        raise ExportError("Give a PSKC key or a PSKC password, not both: one file has one.")
    if key is not None and len(key) not in rules.key_bytes:
        raise ExportError(rules.key_rule)
    if password is not None and len(password) < MIN_PASSWORD_CHARS:
        raise ExportError(f"The PSKC password must have at least {MIN_PASSWORD_CHARS} characters.")
    return rules


def export_pskc(
    entries: list[Entry],
    *,
    key: bytes | None = None,
    password: str | None = None,
    flavour: str = DEFAULT_FLAVOUR,
    key_name: str = KEY_NAME,
) -> bytes:
    """The PSKC document holding `entries`, plain or protected by a pre-shared key (named
    `key_name` in the file) or a password, written for `flavour`'s importers."""
    rules = check_protection(key, password, flavour)
    pskc = PSKC()
    if key is not None or password is not None:
        pskc.mac.setup(algorithm=rules.mac)
    if key is not None:
        pskc.encryption.setup_preshared_key(
            key=key, algorithm=f"aes{len(key) * 8}-cbc", key_name=key_name
        )
    elif password is not None:
        pskc.encryption.setup_pbkdf2(
            password,
            algorithm=f"aes{rules.password_key_bytes * 8}-cbc",
            key_length=rules.password_key_bytes,
            iterations=PBKDF2_ITERATIONS,
        )
    for entry in entries:
        profile = entry.profile
        pskc.add_key(
            id=entry.key_id,
            serial=entry.key_id if rules.serial_per_slot else entry.serial,
            manufacturer=MANUFACTURER,
            algorithm=TOTP_URN,
            algorithm_suite=rules.suites[profile.algorithm],
            secret=profile.secret,
            time_interval=profile.period_s,
            time_offset=0,
            response_encoding="DECIMAL",
            response_length=profile.digits,
            friendly_name=profile.label or None,
            issuer=profile.issuer or None,
        )
    document = PSKCSerialiser.serialise_document(pskc)
    _spell_pbkdf2_as_xmlenc11(document)
    return bytes(tostring(document))


def _spell_pbkdf2_as_xmlenc11(document: Element) -> None:
    """python-pskc writes the children of `PBKDF2-params` without a namespace and no PRF, as RFC
    6030's figure 7 does; XML Encryption 1.1, whose schema defines the element, has them in its
    namespace and requires the PRF. Every importer this module writes for reads either."""
    for params in document.iter(f"{_XENC11}PBKDF2-params"):
        for element in params.iter():
            if not element.tag.startswith("{"):
                element.tag = _XENC11 + element.tag
        if params.find(f"{_XENC11}PRF") is None:
            SubElement(params, f"{_XENC11}PRF", Algorithm=_PBKDF2_PRF)


_UNREADABLE = (PSKCError, CoreError, BadProfile, BadSecret, ValueError, KeyError)


def _open(pskc: PSKC, key: bytes | None, password: str | None) -> list[Entry]:
    if key is not None:
        pskc.encryption.key = key
    if password is not None:
        pskc.encryption.derive_key(password)
    return [_entry(found) for found in pskc.keys]


def _other_protection(pskc: PSKC, key: bytes | None, password: str | None) -> str | None:
    """What an existing file's protection asks for when it is not the one given (None: it is):
    a file keeps the protection it was written with, never silently gains or loses one."""
    encryption = pskc.encryption
    if not encryption.is_encrypted:
        if key is None and password is None:
            return None
        return "is not encrypted: add to it without --pskc-key-file and --pskc-password"
    if encryption.derivation.algorithm:
        if password is not None:
            return None
        return "is protected by a password: give it with --pskc-password"
    if key is not None:
        return None
    name = encryption.key_name or "(unnamed)"
    return f"is protected by the pre-shared key {name}: give its key file with --pskc-key-file"


def read_pskc(path: Path, *, key: bytes | None = None, password: str | None = None) -> list[Entry]:
    """The entries of a PSKC file this module wrote (to add to it), opened with the protection
    it was written with; anything else is refused, naming what the file needs."""
    try:
        pskc = PSKC(io.BytesIO(path.read_bytes()))
    except OSError as exc:
        raise ExportError(
            f"The existing PSKC file {path} cannot be read ({exc.strerror})."
        ) from None
    except (PSKCError, ValueError):
        raise ExportError(
            f"The existing file {path} is not a PSKC file: give a new file."
        ) from None
    needed = _other_protection(pskc, key, password)
    if needed:
        raise ExportError(f"The existing PSKC file {path} {needed}.")
    try:
        return _open(pskc, key, password)
    except DecryptionError:
        raise ExportError(
            f"The existing PSKC file {path} does not open with this "
            f"{'password' if password is not None else 'key'}: give the one it was written with."
        ) from None
    except _UNREADABLE as exc:
        raise ExportError(f"The existing PSKC file {path} cannot be added to ({exc}).") from None


def read_keys_file(
    path: Path, *, key: bytes | None = None, password: Callable[[], str] | None = None
) -> list[Entry]:
    """The entries of the PSKC file a batch or `token provision --pskc` kept: the host's only
    copy of the secrets, since a token never gives one back. A missing file, or an encrypted one
    given without its key or password (locked), is refused in one sentence; `password` is asked
    for only when the file is locked with one."""
    try:
        pskc = PSKC(io.BytesIO(path.read_bytes()))
    except FileNotFoundError:
        raise ExportError(
            f"The keys file {path} does not exist: give the PSKC file the batch or `token "
            "provision --pskc` wrote (a token never gives its secrets back)."
        ) from None
    except OSError as exc:
        raise ExportError(f"The keys file {path} cannot be read ({exc.strerror}).") from None
    except PSKCError:
        raise ExportError(
            f"The keys file {path} is not a PSKC file: give the PSKC file the batch or `token "
            "provision --pskc` wrote (an admin key file holds no OTP secrets)."
        ) from None
    encryption = pskc.encryption
    by_password = bool(encryption.derivation.algorithm)
    given = password is not None if by_password else key is not None
    if encryption.is_encrypted and not given:
        if by_password:
            raise ExportError(
                f"The keys file {path} is locked with a password: give --keys-password "
                "(the password from $BAOLING_KEYS_PASSWORD or a prompt)."
            )
        raise ExportError(
            f"The keys file {path} is locked with the pre-shared key "
            f"{encryption.key_name or '(unnamed)'}: give its key file with --keys-key-file."
        )
    if not encryption.is_encrypted:
        key = password = None
    try:
        return _open(pskc, key, password() if password is not None else None)
    except DecryptionError:
        raise ExportError(
            f"The keys file {path} does not open with this {'password' if by_password else 'key'}"
            ": give the one it was written with."
        ) from None
    except _UNREADABLE as exc:
        raise ExportError(f"The keys file {path} cannot be opened ({exc}).") from None


def _entry(key: Key) -> Entry:
    serial, slot = split_token_id(str(key.id))
    secret, suite = key.secret, key.algorithm_suite
    digits, period_s = key.response_length, key.time_interval
    if secret is None or suite is None or digits is None or period_s is None:
        raise ValueError(f"key {key.id} has no secret, suite, digits or period")
    profile = Profile(
        secret,
        _HASHES[suite],
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
    the previous complete file and a plain export is never readable by other users. The
    protection is checked when the target is made, before any token is written. An existing file
    is refused unless `append` says to add to it (keeping its protection): a typo in a file name
    must not mix a new secret into another batch's file.
    """

    path: Path
    key: bytes | None = None
    password: str | None = None
    flavour: str = DEFAULT_FLAVOUR
    key_name: str = KEY_NAME
    append: bool = False

    def __post_init__(self) -> None:
        check_protection(self.key, self.password, self.flavour)

    def entries(self) -> list[Entry]:
        if not self.path.exists():
            return []
        return read_pskc(self.path, key=self.key, password=self.password)

    @property
    def where(self) -> str:
        return f"the PSKC file {self.path}"

    def check_ready(self) -> list[Entry]:
        """The entries so far, once the file's place takes a file and an existing file is one
        to add to (`append`) that opens with this protection; asked before a token is touched."""
        reason = why_unwritable(self.path)
        if reason:
            raise ExportError(f"The PSKC file {self.path} cannot be written: {reason}.")
        if not self.append and self.path.exists():
            raise ExportError(
                f"{self.path} exists: give --pskc-append to add to it, or a new --pskc name."
            )
        return self.entries()

    def check(self, token_id: str) -> None:
        """Fail now if `token_id` could not be added (see check_ready), or is in the file."""
        if any(entry.key_id == token_id for entry in self.check_ready()):
            raise ExportError(f"{self.path} already holds {token_id}: use another PSKC file.")

    def register(self, entry: Entry) -> None:
        data = export_pskc(
            [*self.entries(), entry],
            key=self.key,
            password=self.password,
            flavour=self.flavour,
            key_name=self.key_name,
        )
        write_private(self.path, data)
