"""Slow salted hashes for what a person types: PINs, backup codes, console passwords.

One format everywhere, `scrypt$N$r$p$salt$hash` (salt and hash in base64), so a stored value
says its own cost and old values keep checking after the cost is raised. scrypt is in the
standard library (hashlib, through OpenSSL), so this needs no extra dependency; its memory cost
is what makes guessing a short PIN from a stolen store slow.
"""

import base64
import hashlib
import hmac
import os

# scrypt cost: 16 MiB and about 50 ms per check on these machines.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
_MAXMEM = 2**26


def hash_secret(value: str) -> str:
    """The `scrypt$N$r$p$salt$hash` string of `value` with a fresh salt."""
    if not value:
        raise ValueError("nothing to hash: the value is empty")
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(value, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    fields = ["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P)]
    return "$".join([*fields, _b64(salt), _b64(digest)])


def check_secret(value: str, stored: str) -> bool:
    """Whether `value` matches a `hash_secret` string, compared in constant time."""
    _kind, n, r, p, salt, digest = stored.split("$")
    actual = _scrypt(value, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(actual, base64.b64decode(digest))


def is_slow_hash(stored: str) -> bool:
    """Whether `stored` has the shape `hash_secret` writes (for checking configuration)."""
    parts = stored.split("$")
    return len(parts) == 6 and parts[0] == "scrypt" and all(p.isdigit() for p in parts[1:4])


def _scrypt(value: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(value.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
