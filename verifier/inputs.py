"""The rules for the names and text callers give the verifier (labels, issuers, API key names),
checked here once for every front end; the HTTP schema declares the same rule
(verifier/http/schemas.py)."""

from baoling.verifier.errors import InvalidRequest

MAX_TEXT_CHARS = 256


def check_text(name: str, value: str) -> str:
    """`value` itself, or InvalidRequest naming `name`: printable, at most MAX_TEXT_CHARS."""
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS or not value.isprintable():
        raise InvalidRequest(
            f"{name} must be printable text of at most {MAX_TEXT_CHARS} characters"
        )
    return value
