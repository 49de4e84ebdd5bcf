"""Reading TOTP keys out of PSKC (RFC 6030) files, with python-pskc doing the XML and the
cryptography.

Everything a key says is either mapped exactly or refused: the algorithm must be the TOTP
profile, the hash comes from `AlgorithmParameters/Suite` (absent means the profile's
HMAC-SHA1), digits from `ResponseFormat Length`, the period from `TimeInterval` (absent means
the profile's 30 s). A non-zero `Time` (T0) or `TimeDrift` is refused: producers disagree on
whether drift counts intervals or seconds (field-notes.md), and guessing would shift every code.
Encrypted secrets must carry a `ValueMAC`, so a wrong key cannot pass as a garbled secret.
"""

import io
import re
from dataclasses import dataclass

from pskc import PSKC
from pskc.exceptions import PSKCError
from pskc.key import EncryptedValue, Key

from baoling.verifier.constants import DEFAULT_PERIOD_S
from baoling.verifier.errors import PSKCImportError

TOTP_URN_SUFFIX = ":pskc:totp"
HOTP_URN_SUFFIX = ":pskc:hotp"
_SUITE = re.compile(r"(?:HMAC-)?SHA-?(1|256|512)", re.IGNORECASE)


@dataclass(frozen=True)
class PSKCKey:
    """One TOTP key from a PSKC file, in the verifier's terms."""

    token_id: str
    secret: bytes
    algorithm: str
    digits: int
    period_s: int
    issuer: str
    label: str


def _algorithm(key: Key) -> str:
    uri = (key.algorithm or "").lower()
    if uri.endswith(HOTP_URN_SUFFIX):
        raise PSKCImportError(
            f"key {key.id!r} is an HOTP (counter) key; this verifier checks TOTP codes only"
        )
    if not uri.endswith(TOTP_URN_SUFFIX):
        raise PSKCImportError(f"key {key.id!r} has algorithm {key.algorithm!r}, not TOTP")
    if key.algorithm_suite is None:
        return "sha1"
    match = _SUITE.fullmatch(key.algorithm_suite.strip())
    if match is None:
        raise PSKCImportError(
            f"key {key.id!r} has hash suite {key.algorithm_suite!r}; "
            "expected HMAC-SHA1, HMAC-SHA256 or HMAC-SHA512"
        )
    return f"sha{match.group(1)}"


def _read_key(key: Key) -> PSKCKey:
    if not key.id:
        raise PSKCImportError("a key in the PSKC file has no Id")
    algorithm = _algorithm(key)
    # python-pskc keeps the encrypted form in `_secret`; its MAC is checked only if present.
    sealed = getattr(key, "_secret", None)
    if isinstance(sealed, EncryptedValue) and not sealed.mac_value:
        raise PSKCImportError(
            f"the encrypted secret of key {key.id!r} has no ValueMAC, so a wrong key "
            "could not be told from a right one"
        )
    secret = key.secret
    if not secret:
        raise PSKCImportError(f"key {key.id!r} has no secret")
    if key.response_length is None:
        raise PSKCImportError(f"key {key.id!r} has no ResponseFormat Length (digits)")
    if key.response_encoding not in (None, "DECIMAL"):
        raise PSKCImportError(
            f"key {key.id!r} has response encoding {key.response_encoding!r}, not DECIMAL"
        )
    if key.time_offset:
        raise PSKCImportError(
            f"key {key.id!r} has a Time (T0) of {key.time_offset}; only T0 = 0 is supported"
        )
    if key.time_drift:
        raise PSKCImportError(
            f"key {key.id!r} has a TimeDrift of {key.time_drift}, whose unit producers "
            "disagree on; remove it and resync the token after import"
        )
    return PSKCKey(
        token_id=key.id,
        secret=bytes(secret),
        algorithm=algorithm,
        digits=key.response_length,
        period_s=key.time_interval if key.time_interval is not None else DEFAULT_PERIOD_S,
        issuer=key.issuer or "",
        label=key.friendly_name or "",
    )


def read_pskc(
    data: bytes, *, key: bytes | None = None, password: str | None = None
) -> list[PSKCKey]:
    """Every key of the file, or PSKCImportError for the first thing that cannot be read."""
    if key is not None and password is not None:
        raise PSKCImportError("give the PSKC file's pre-shared key or its password, not both")
    try:
        pskc = PSKC(io.BytesIO(data))
        if key is not None:
            pskc.encryption.key = key
        elif password is not None:
            pskc.encryption.derive_key(password)
        keys = [_read_key(k) for k in pskc.keys]
    except PSKCImportError:
        raise
    except PSKCError as exc:
        if pskc_is_encrypted(data) and key is None and password is None:
            raise PSKCImportError(
                "the PSKC file is encrypted: give its pre-shared key or its password"
            ) from None
        raise PSKCImportError(f"cannot read the PSKC file: {_reason(exc)}") from None
    if not keys:
        raise PSKCImportError("the PSKC file holds no keys")
    return keys


def _reason(exc: PSKCError) -> str:
    """python-pskc's message, made a sentence a person can act on."""
    text = str(exc)
    if text in ("MAC value does not match", "Invalid padding") or "decrypt" in text.lower():
        return "wrong pre-shared key or password, or the file was altered"
    return text[:1].lower() + text[1:] if text else exc.__class__.__name__


def pskc_is_encrypted(data: bytes) -> bool:
    try:
        return PSKC(io.BytesIO(data)).encryption.is_encrypted
    except PSKCError:
        return False
