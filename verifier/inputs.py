"""The rules for the names and text callers give the verifier (token ids, labels, issuers, API
key names), checked here once for every front end; the HTTP schema declares the same rules
(verifier/http/schemas.py)."""

from baoling.core import identity
from baoling.core.errors import CoreError
from baoling.core.urls import check_http_url
from baoling.verifier.errors import InvalidRequest

MAX_TEXT_CHARS = 256


def check_token_id(token_id: str) -> str:
    """The id itself, or InvalidRequest saying what a token id may contain (core/identity.py)."""
    try:
        return identity.check_token_id(token_id)
    except CoreError as exc:
        raise InvalidRequest(str(exc)) from None


def check_text(name: str, value: str) -> str:
    """`value` itself, or InvalidRequest naming `name`: printable, at most MAX_TEXT_CHARS."""
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS or not value.isprintable():
        raise InvalidRequest(
            f"{name} must be printable text of at most {MAX_TEXT_CHARS} characters"
        )
    return value


def http_url(url: str) -> str:
    """`url` if it is an http:// or https:// URL an HTTP client can use (a webhook, an SMS
    gateway; core/urls.py), else ValueError, which the settings show as one line naming the
    setting."""
    return check_http_url(url)
