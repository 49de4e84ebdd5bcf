"""New TOTP secrets from the operating system's CSPRNG, as long as core/limits.py's
GENERATED_SECRET_BYTES says for the algorithm (the HMAC's output length)."""

import secrets

from baoling.core.errors import CoreError
from baoling.core.limits import GENERATED_SECRET_BYTES, check_algorithm
from baoling.provisioning.errors import BadProfile


def new_secret(algorithm: str) -> bytes:
    """A fresh random secret of the right length for `algorithm`."""
    try:
        check_algorithm(algorithm)
    except CoreError as exc:
        raise BadProfile(str(exc)) from None
    return secrets.token_bytes(GENERATED_SECRET_BYTES[algorithm])
