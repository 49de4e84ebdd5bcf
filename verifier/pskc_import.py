"""Reading TOTP and HOTP keys out of PSKC (RFC 6030) files, with python-pskc doing the XML and
the cryptography.

Everything a key says is either mapped exactly or refused, naming the key: the algorithm must
be the TOTP profile (its RFC URN or the draft-era `pskc#totp`) or HOTP (RFC 6030's URN, also as
drafts write it), whose `Counter` (absent: 0) is the next counter the token will show; OCRA and
vendors' own algorithms (RSA SecurID, ActivIdentity, Yubico OTP) are refused by name;
the hash comes from `AlgorithmParameters/Suite`, its text or a `hashalgo` attribute, in any
spelling of SHA-1, SHA-256 or SHA-512 (absent means the profile's HMAC-SHA1);
digits from `ResponseFormat Length`; the period from
`TimeInterval` (absent means the profile's DEFAULT_PERIOD_S); `TimeDrift` counts
the intervals the token's clock is ahead (RFC 6030). A non-zero `Time` (T0) is refused.
A key without an `Id` is named after its `DeviceInfo/SerialNo` (core/identity.py). Encrypted
secrets must carry a `ValueMAC`, so a wrong key cannot pass as a garbled secret. A file
python-pskc cannot read, or whose values have the wrong type, is refused as a whole.
"""

import binascii
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.etree.ElementTree import Element

from pskc import PSKC
from pskc.exceptions import PSKCError
from pskc.key import EncryptedValue, Key
from pskc.xml import find, findall, findtext, remove_namespaces

from baoling.core import identity
from baoling.core.errors import CoreError
from baoling.core.limits import DEFAULT_ALGORITHM, DEFAULT_PERIOD_S
from baoling.verifier.constants import MAX_HOTP_COUNTER
from baoling.verifier.errors import PSKCImportError
from baoling.verifier.store import HOTP, TOTP

_PROFILE = "urn:ietf:params:xml:ns:keyprov:pskc"
# The RFC 6030 URNs and the draft-era ones (`pskc#totp`), compared lower-cased; HOTP also
# as older drafts and ActivIdentity's files write it.
TOTP_ALGORITHMS = frozenset({f"{_PROFILE}:totp", f"{_PROFILE}#totp"})
HOTP_ALGORITHMS = frozenset(
    {f"{_PROFILE}:hotp", f"{_PROFILE}#hotp", "http://www.ietf.org/keyprov/pskc#hotp", "hotp"}
)
# Algorithm families this verifier does not compute, by a word of their URIs (OCRA's suites
# contain HOTP, so these are looked for first): a refusal names the family.
_OTHER_FAMILIES = (
    ("ocra", "OCRA"),
    ("securid", "RSA SecurID"),
    ("actividentity", "ActivIdentity"),
    ("yubi", "Yubico OTP"),
)
# HMAC-SHA1, hmac-sha256, SHA256, SHA-512, sha1 and xmldsig URIs ending in #hmac-sha256.
_SUITE = re.compile(r"(?:.*#)?(?:HMAC-?)?SHA-?(1|256|512)", re.IGNORECASE)
# Data fields of RFC 6030's intDataType: their PlainValue is an xs:int.
_INT_FIELDS = ("Counter", "Time", "TimeInterval", "TimeDrift")
# The names draft-era files give their <Data Name="..."> elements (python-pskc reads these).
_LEGACY_DATA_NAMES = ("secret", "counter", "time", "time_interval")
_XS_INT = re.compile(r"[+-]?[0-9]+")
# A crystal off by MAX_DRIFT_RATE_PPM (verifier/constants.py) drifts under 9 hours in five
# years; a TimeDrift beyond a day is a clock set wrong or a drift written in seconds.
MAX_TIME_DRIFT_S = 24 * 3600
# PBKDF2 work a file may ask for: a few seconds of CPU, and a key as long as AES-256's.
MAX_PBKDF2_ITERATIONS = 10_000_000
MAX_PBKDF2_KEY_BYTES = 32
# How much of a parser's message a refusal quotes.
_MAX_REASON_CHARS = 160


@dataclass(frozen=True)
class PSKCKey:
    """One TOTP or HOTP key from a PSKC file, in the verifier's terms."""

    token_id: str
    secret: bytes
    algorithm: str
    digits: int
    period_s: int
    issuer: str
    label: str
    # How far the token's clock is ahead, in seconds: TimeDrift intervals times the period.
    clock_offset_s: int
    kind: str = TOTP
    # An HOTP key's next counter (its Counter); 0 for a TOTP key.
    counter: int = 0
    # The key's DeviceInfo SerialNo ("" when it has none): a bulk import's user map names it.
    serial: str = ""


def read_pskc(
    data: bytes, *, key: bytes | None = None, password: str | None = None
) -> list[PSKCKey]:
    """Every key of the file, or PSKCImportError for the first thing that cannot be read."""
    if key is not None and password is not None:
        raise PSKCImportError("give the PSKC file's pre-shared key or its password, not both")
    try:
        elements = _key_elements(data)
        pskc = PSKC(io.BytesIO(data))
        _unlock(pskc, key, password)
        ids = _token_ids(pskc.keys)
        keys = [
            _read_key(k, token_id, element)
            for k, token_id, element in zip(pskc.keys, ids, elements, strict=True)
        ]
    except PSKCImportError:
        raise
    except PSKCError as exc:
        if _is_encrypted(data) and key is None and password is None:
            raise PSKCImportError(
                "the PSKC file is encrypted: give its pre-shared key or its password"
            ) from None
        raise PSKCImportError(f"cannot read the PSKC file: {_reason(exc)}") from None
    except (ValueError, TypeError) as exc:
        # python-pskc turns text into numbers, booleans and dates as it parses, and lets the
        # error of a value of the wrong type through.
        raise PSKCImportError(
            f"cannot read the PSKC file: a value has the wrong type ({_wrong_type(exc)})"
        ) from None
    except OverflowError:
        # A date such as StartDate given as a 23-digit number: the date parser overflows.
        raise PSKCImportError("cannot read the PSKC file: a date is out of range") from None
    if not keys:
        raise PSKCImportError("the PSKC file holds no keys")
    return keys


def _key_elements(data: bytes) -> list[Element]:
    """The file's <Key> elements in python-pskc's order (PSKC.keys), for what python-pskc does
    not keep (the Suite's attributes), after the checks python-pskc does not make on values
    it would misread (_check_values, _is_base64)."""
    try:
        root = ElementTree.parse(io.BytesIO(data)).getroot()
    except ElementTree.ParseError:
        raise PSKCImportError("cannot read the PSKC file: error parsing XML") from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise PSKCImportError(f"cannot read the PSKC file: {_reason(exc)}") from None
    remove_namespaces(root)
    for method in root.iter("EncryptionMethod"):
        algorithm = method.get("Algorithm") or ""
        if "rsa" in algorithm.lower():  # RFC 6030 section 6.3: sealed for a private key
            raise PSKCImportError(
                f"the PSKC file's secrets are encrypted with a public key ({algorithm}); "
                "only plain files and files protected by a pre-shared key or a password "
                "are imported"
            )
    for sealed in (*root.iter("EncryptedValue"), *root.iter("MACKey")):
        cipher = findtext(sealed, "CipherData/CipherValue")
        if cipher is None:
            raise PSKCImportError(f"the PSKC file has no CipherValue inside <{sealed.tag}>")
        if not _is_base64(cipher):
            raise PSKCImportError("the PSKC file has a CipherValue that is not base64")
    elements = [
        key
        for package in findall(root, "KeyPackage", "Device")
        for key in findall(package, "Key", "Secret")
    ]
    for position, element in enumerate(elements, start=1):
        _check_values(element, position)
    return elements


def _check_values(element: Element, position: int) -> None:
    """RFC 6030's integer fields must be integers and a plain secret base64: python-pskc
    would read a non-integer as base64 (a draft-era encoding), turning `TWELVE12` into a large
    number, and drop the characters of a secret that are not base64. A draft-era <Data> must
    have a name python-pskc knows (it fails on others)."""
    key_id = element.get("Id") or element.get("KeyId") or element.get("SecretId")
    name = repr(key_id) if key_id else f"#{position} of the PSKC file"
    for field in _INT_FIELDS:
        text = findtext(element, f"Data/{field}/PlainValue")
        if text is not None and not _XS_INT.fullmatch(text):
            raise PSKCImportError(f"key {name} has a {field} that is not a whole number")
    for data in findall(element, "Data"):
        legacy = data.get("Name")
        if legacy and legacy.lower() not in _LEGACY_DATA_NAMES:
            raise PSKCImportError(f"key {name} has a <Data Name={legacy!r}> that is not known")
    secret = findtext(element, "Data/Secret/PlainValue")
    if secret is not None and not _is_base64(secret):
        raise PSKCImportError(f"key {name} has a plain Secret that is not base64")


def _is_base64(text: str) -> bool:
    """Strict base64 (line breaks allowed): python-pskc's decoder drops other characters."""
    try:
        binascii.a2b_base64("".join(text.split()), strict_mode=True)
    except binascii.Error:
        return False
    return True


def _unlock(pskc: PSKC, key: bytes | None, password: str | None) -> None:
    """Give python-pskc the file's key, refusing a protection the file does not use and PBKDF2
    work beyond MAX_PBKDF2_ITERATIONS."""
    derivation = pskc.encryption.derivation
    if password is not None:
        if derivation.algorithm is None:
            raise PSKCImportError(
                "the PSKC file is not protected by a password: give its pre-shared key instead"
                if pskc.encryption.is_encrypted
                else "the PSKC file is not encrypted: import it without a password"
            )
        if (derivation.pbkdf2_iterations or 0) > MAX_PBKDF2_ITERATIONS:
            raise PSKCImportError(
                f"the PSKC file asks for {derivation.pbkdf2_iterations} PBKDF2 iterations; "
                f"at most {MAX_PBKDF2_ITERATIONS} are accepted"
            )
        if (derivation.pbkdf2_key_length or 0) > MAX_PBKDF2_KEY_BYTES:
            raise PSKCImportError(
                f"the PSKC file asks for a {derivation.pbkdf2_key_length}-byte PBKDF2 key; "
                f"at most {MAX_PBKDF2_KEY_BYTES} bytes are accepted"
            )
        pskc.encryption.derive_key(password)
    elif key is not None:
        if derivation.algorithm is not None:
            raise PSKCImportError(
                "the PSKC file is protected by a password: give its password instead"
            )
        if not pskc.encryption.is_encrypted:
            raise PSKCImportError(
                "the PSKC file is not encrypted: import it without a pre-shared key"
            )
        pskc.encryption.key = key


def _token_ids(keys: Sequence[Key]) -> list[str]:
    """Each key's token id: its Id, else its SerialNo, as `serial-N` (core/identity.py) when
    the file holds several keys of that serial, N counting them from 0 in file order."""
    per_serial = Counter(k.serial for k in keys if k.serial)
    seen: Counter[str] = Counter()
    ids = []
    for position, key in enumerate(keys, start=1):
        serial = key.serial
        if serial:
            seen[serial] += 1
        if key.id:
            ids.append(key.id)
            continue
        if not serial:
            raise PSKCImportError(
                f"key #{position} of the PSKC file has neither an Id nor a DeviceInfo SerialNo"
            )
        try:
            if per_serial[serial] == 1:
                ids.append(identity.check_token_id(serial))
            else:
                ids.append(identity.token_id(serial, seen[serial] - 1))
        except CoreError as exc:
            raise PSKCImportError(
                f"key #{position} of the PSKC file has no Id and its SerialNo {serial!r} "
                f"cannot name a token: {exc}"
            ) from None
    twice = [token_id for token_id, n in Counter(ids).items() if n > 1]
    if twice:
        raise PSKCImportError(f"two keys of the PSKC file have the token id {twice[0]!r}")
    return ids


def _kind(name: str, key: Key) -> str:
    """TOTP or HOTP, by the key's algorithm; anything else is refused, naming it."""
    uri = (key.algorithm or "").strip().lower()
    if uri in TOTP_ALGORITHMS:
        return TOTP
    if uri in HOTP_ALGORITHMS:
        return HOTP
    if not key.algorithm:
        raise PSKCImportError(f"key {name!r} names no algorithm")
    for word, family in _OTHER_FAMILIES:
        if word in uri:
            raise PSKCImportError(
                f"key {name!r} has algorithm {key.algorithm!r} ({family}), which this verifier "
                "does not check: only TOTP and HOTP keys are imported"
            )
    raise PSKCImportError(f"key {name!r} has algorithm {key.algorithm!r}, not TOTP or HOTP")


def _hash(name: str, element: Element) -> str:
    """The hash the key's Suite names, in its text or a `hashalgo` attribute (privacyIDEA's
    exports); the profile's HMAC-SHA1 when it names none."""
    suite = find(element, "AlgorithmParameters/Suite")
    if suite is None:
        return DEFAULT_ALGORITHM
    given = [suite.text or ""]
    given += [v for k, v in suite.attrib.items() if _local(k).lower() == "hashalgo"]
    given = [text.strip() for text in given if text.strip()]
    found = set()
    for spelling in given:
        match = _SUITE.fullmatch(spelling)
        if match is None:
            raise PSKCImportError(
                f"key {name!r} has hash suite {spelling!r}; "
                "expected HMAC-SHA1, HMAC-SHA256 or HMAC-SHA512"
            )
        found.add(f"sha{match.group(1)}")
    if len(found) > 1:
        raise PSKCImportError(f"key {name!r} names two hashes in its Suite: {' and '.join(given)}")
    return found.pop() if found else DEFAULT_ALGORITHM


def _local(name: str) -> str:
    """An XML name without its namespace."""
    return name.rpartition("}")[2]


def _check_policy(name: str, key: Key) -> None:
    """RFC 6030: a Policy the recipient does not understand forbids the key's use; so does a
    KeyUsage without OTP. Dates, NumberOfTransactions and PIN rules are not enforced
    (docs/verifier.md)."""
    policy = key.policy
    if policy.unknown_policy_elements:
        raise PSKCImportError(f"key {name!r} has a Policy this verifier cannot read")
    if policy.key_usage and "OTP" not in policy.key_usage:
        raise PSKCImportError(f"key {name!r} has a Policy whose KeyUsage does not include OTP")


def _read_key(key: Key, name: str, element: Element) -> PSKCKey:
    kind = _kind(name, key)
    algorithm = _hash(name, element)
    _check_policy(name, key)
    # python-pskc keeps the encrypted form in `_secret`; its MAC is checked only if present.
    sealed = getattr(key, "_secret", None)
    if isinstance(sealed, EncryptedValue) and not sealed.mac_value:
        raise PSKCImportError(
            f"the encrypted secret of key {name!r} has no ValueMAC, so a wrong key "
            "could not be told from a right one"
        )
    secret = key.secret
    if not secret:
        raise PSKCImportError(f"key {name!r} has no secret")
    if key.response_length is None:
        raise PSKCImportError(f"key {name!r} has no ResponseFormat Length (digits)")
    if key.response_encoding not in (None, "DECIMAL"):
        raise PSKCImportError(
            f"key {name!r} has response encoding {key.response_encoding!r}, not DECIMAL"
        )
    if key.time_offset:
        raise PSKCImportError(
            f"key {name!r} has a Time (T0) of {key.time_offset}; only T0 = 0 is supported"
        )
    period_s = key.time_interval if key.time_interval is not None else DEFAULT_PERIOD_S
    drift = key.time_drift or 0
    if abs(drift * period_s) > MAX_TIME_DRIFT_S:
        raise PSKCImportError(
            f"key {name!r} has a TimeDrift of {drift} intervals of {period_s} s, more than a "
            "day; remove it and resync the token after import"
        )
    return PSKCKey(
        token_id=name,
        secret=bytes(secret),
        algorithm=algorithm,
        digits=key.response_length,
        period_s=period_s,
        issuer=key.issuer or "",
        label=key.friendly_name or "",
        clock_offset_s=drift * period_s,
        kind=kind,
        counter=_counter(name, key) if kind == HOTP else 0,
        serial=key.serial or "",
    )


def _counter(name: str, key: Key) -> int:
    """An HOTP key's Counter: where the token's next code is (RFC 6030 section 4.3.4)."""
    counter = key.counter or 0
    if not 0 <= counter <= MAX_HOTP_COUNTER:
        raise PSKCImportError(
            f"key {name!r} has a Counter of {counter}, not 0 to {MAX_HOTP_COUNTER}"
        )
    return counter


def _wrong_type(exc: ValueError | TypeError) -> str:
    """What was wrong, in words: int()'s message names Python, not the problem."""
    text = _reason(exc)
    match = re.fullmatch(r"invalid literal for int\(\) with base \d+: (.*)", text)
    return f"{match.group(1)} is not a whole number" if match else text


def _reason(exc: Exception) -> str:
    """python-pskc's message, made one short sentence a person can act on."""
    text = " ".join(str(exc).split())[:_MAX_REASON_CHARS]
    if text in ("MAC value does not match", "Invalid padding") or "decrypt" in text.lower():
        return "wrong pre-shared key or password, or the file was altered"
    return text[:1].lower() + text[1:] if text else exc.__class__.__name__


def _is_encrypted(data: bytes) -> bool:
    try:
        return PSKC(io.BytesIO(data)).encryption.is_encrypted
    except (PSKCError, ValueError):
        return False
