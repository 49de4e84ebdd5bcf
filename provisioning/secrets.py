"""New TOTP secrets from the operating system's CSPRNG.

Sizes follow RFC 4226 section 4 and RFC 6238 section 5.1: a key as long as the HMAC's output
(20 bytes for SHA-1, 32 for SHA-256, 64 for SHA-512), so the key is never the weak part.
"""

import secrets

from baoling.provisioning.errors import BadProfile

SECRET_BYTES = {"sha1": 20, "sha256": 32, "sha512": 64}


def new_secret(algorithm: str) -> bytes:
    """A fresh random secret of the right length for `algorithm`."""
    if algorithm not in SECRET_BYTES:
        raise BadProfile(f"Algorithm {algorithm!r} is not supported: use sha1, sha256 or sha512.")
    return secrets.token_bytes(SECRET_BYTES[algorithm])
