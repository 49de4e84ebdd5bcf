"""URLs and API keys the tools are given (a verifier's, a webhook's, a gateway's, a database's):
checked once where they are given, so an HTTP client never meets one it cannot use, and shown
without their secrets, so no error line or log holds a password or a webhook's path."""

import re
from urllib.parse import urlsplit

from baoling.core.errors import CoreError

# Query parameters whose value is a secret (libpq's password and sslpassword, a gateway's token).
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key", re.IGNORECASE)
# The characters of a Baoling API key (bl_<id>_<URL-safe base64>, verifier/api_keys.py): what
# else is given cannot be one, and may not even fit in an HTTP header.
_API_KEY_CHARS = re.compile(r"[A-Za-z0-9_-]+")


def check_http_url(url: str) -> str:
    """`url` if it is an http:// or https:// URL with a host (and a port, if any, from 0 to
    65535), printable and without spaces; else CoreError."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError for a port that is not a number in range
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or not url.isprintable()
        or any(char.isspace() for char in url)
    ):
        raise CoreError("not an http:// or https:// URL")
    return url


def shown_url(url: str, *, path: bool = True) -> str:
    """`url` as it may be printed: a password in its user part or its query as `***`; with
    `path` False only scheme://host[:port], for a URL whose path can be its secret (a
    webhook's). Never fails, however malformed `url` is."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    user, at, host = authority.rpartition("@")
    if not path:
        return f"{scheme}{sep}{host}"
    if ":" in user:
        user = user.split(":", 1)[0] + ":***"
    before, question, query = tail.partition("?")
    query, hash_mark, fragment = query.partition("#")
    params = [
        name + "=***" if eq and _SECRET_PARAM.search(name) else name + eq + value
        for name, eq, value in (item.partition("=") for item in query.split("&"))
    ]
    return f"{scheme}{sep}{user}{at}{host}{before}{question}{'&'.join(params)}{hash_mark}{fragment}"


def check_api_key(key: str) -> str:
    """`key` if it could be a Baoling API key (letters, digits, `_` and `-`), else CoreError;
    the message never repeats the key."""
    if not _API_KEY_CHARS.fullmatch(key):
        raise CoreError(
            "not a Baoling API key (bl_ and letters, digits, _ and -; the one "
            "`baoling verifier api-key` printed)"
        )
    return key
