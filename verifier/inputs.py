"""The rules for the names and text callers give the verifier (token ids, labels, issuers, API
key names), checked here once for every front end; the HTTP schema declares the same rules
(verifier/http/schemas.py)."""

import math
import re
from email.errors import HeaderParseError
from email.headerregistry import Address

from baoling.core import identity
from baoling.core.errors import CoreError
from baoling.core.urls import check_http_url
from baoling.verifier.constants import MAX_AUDIT_LIMIT
from baoling.verifier.errors import InvalidRequest

MAX_TEXT_CHARS = 256
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def check_token_id(token_id: str) -> str:
    """The id itself, or InvalidRequest saying what a token id may contain (core/identity.py)."""
    try:
        return identity.check_token_id(token_id)
    except CoreError as exc:
        raise InvalidRequest(str(exc)) from None


def check_code(code: str) -> str:
    """The code itself, or InvalidRequest unless it is a str: an int (which pyotp's verify
    takes, and which loses a leading zero) was refused as malformed and counted as a wrong
    code towards the token's lock. The message never holds the code."""
    if not isinstance(code, str):
        raise InvalidRequest(f"a code must be a str of digits, not {type(code).__name__}")
    return code


def check_time(now: float | None, name: str = "now") -> float | None:
    """`now` itself (None: the clock's), or InvalidRequest naming `name` unless it is a finite
    Unix time in seconds: a str reached the database, which raised its own error with the SQL,
    and a bool passed as 0 or 1, the first second of 1970."""
    if now is not None and (
        isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now)
    ):
        raise InvalidRequest(f"{name} must be a Unix time in seconds, not {type(now).__name__}")
    return now


def check_limit(limit: int) -> int:
    """`limit` itself, or InvalidRequest unless it is a whole number of rows from 1 to
    MAX_AUDIT_LIMIT, as the HTTP API and the command line take it: SQLite raised a bare
    OverflowError for a huge one and took a str."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_AUDIT_LIMIT:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_AUDIT_LIMIT}")
    return limit


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


def mail_address(text: str) -> str:
    """`text` if it is one e-mail address, else ValueError: a comma or a second address would
    add recipients to a message, a line break headers. Non-ASCII is kept (RFC 6531, as in
    张三@例子.中国: the mail server must then take SMTPUTF8) and checked as letters are."""
    try:
        Address(addr_spec=_NON_ASCII.sub("a", text))
    except (ValueError, IndexError, HeaderParseError):  # IndexError: an empty part
        raise ValueError(f"{text!r} is not one e-mail address") from None
    return text
