"""User names (docs/users.md): `alice@corp` is the user `alice` in the realm `corp`; a name
without a realm is in the default realm. The rules are checked here, once, before a name
reaches any resolver or the store; the HTTP schema declares the same (verifier/http/schemas.py).

A name is taken in Unicode NFC, so two canonically equal spellings are one user; beyond that,
names are compared exactly (case included). The name splits at the LAST `@`, so a login name
that is itself an e-mail address keeps its own `@` (`alice@example.org@corp`). Refused:
control and other unprintable characters, the LDAP filter metacharacters `*`, `(`, `)`, `\\`
and NUL (RFC 4515), more than MAX_USER_BYTES of UTF-8, an empty name or realm, and a name or
realm that begins or ends with a space (the only whitespace that is printable).
"""

import unicodedata
from typing import NamedTuple

from baoling.verifier.errors import InvalidRequest

MAX_USER_BYTES = 256
# RFC 4515's characters that change an LDAP filter (NUL is also unprintable).
LDAP_SPECIAL = "*()\\\0"
REALM_SEPARATOR = "@"
# The realm of a name given without one, unless the default_realm setting names another.
DEFAULT_REALM = "default"


class UserName(NamedTuple):
    """A user's name within its realm."""

    name: str
    realm: str

    def __str__(self) -> str:
        return f"{self.name}{REALM_SEPARATOR}{self.realm}"


def _check_part(what: str, part: str) -> None:
    """Not empty, and no space at either end: `alice@corp ` would be a local user of a realm
    `corp ` (not the directory's `corp`) that reads as alice@corp in every list."""
    if not part:
        raise InvalidRequest(f"{what} must not be empty")
    if part != part.strip(" "):
        raise InvalidRequest(f"{what} must not begin or end with a space")


def _check_text(what: str, text: object) -> str:
    """In Unicode NFC (RFC 5198), so that `José` typed as e + combining acute is the same user
    as with é; then printable, free of LDAP filter metacharacters, at most MAX_USER_BYTES of
    UTF-8."""
    refused = InvalidRequest(f"{what} must be printable text without * ( ) \\ or NUL")
    if not isinstance(text, str):
        raise refused
    text = unicodedata.normalize("NFC", text)
    if not text.isprintable() or any(c in LDAP_SPECIAL for c in text):
        raise refused
    if len(text.encode()) > MAX_USER_BYTES:
        raise InvalidRequest(f"{what} must be at most {MAX_USER_BYTES} bytes in UTF-8")
    return text


def check_realm(realm: object) -> str:
    """`realm` itself, or InvalidRequest: the rules of a user name, and no `@`."""
    text = _check_text("realm", realm)
    if REALM_SEPARATOR in text:
        raise InvalidRequest(f"realm must not contain {REALM_SEPARATOR}")
    _check_part("realm", text)
    return text


def parse_user_name(text: object, default_realm: str) -> UserName:
    """`name@realm` (split at the last @) or `name` in `default_realm`; InvalidRequest saying
    which rule a malformed one breaks."""
    text = _check_text("user", text)
    name, separator, realm = text.rpartition(REALM_SEPARATOR)
    if not separator:
        name, realm = text, default_realm
    _check_part("user name", name)
    _check_part("user realm", realm)
    return UserName(name, realm)
