"""Request and answer bodies of the HTTP API, and the field rules they declare.

Every rule is declared once, as a pydantic constraint: FastAPI publishes it in the OpenAPI
schema and pydantic enforces it on the request, so a client that follows the schema is never
refused for its form. Rules the verifier itself applies are derived from the service's own (its
token id expression, str.isprintable, MAX_TEXT_CHARS), not restated.
"""

import sys
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from baoling.core import base32
from baoling.core.identity import TOKEN_ID
from baoling.core.limits import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD_S,
    MAX_DIGITS,
    MAX_PERIOD_S,
    MAX_SECRET_BYTES,
    MIN_DIGITS,
    MIN_PERIOD_S,
    MIN_SECRET_BYTES,
)
from baoling.verifier.backup_codes import BACKUP_CODE_DIGITS, MAX_BACKUP_CODES
from baoling.verifier.inputs import MAX_TEXT_CHARS
from baoling.verifier.logins import LoginRounds
from baoling.verifier.user_names import LDAP_SPECIAL, MAX_USER_BYTES, REALM_SEPARATOR
from baoling.verifier.user_pins import MAX_PIN_CHARS, MIN_PIN_CHARS

# The secret's text, separators and padding included: room for any spacing of 103 characters.
MAX_SECRET_CHARS = 1024

# The sentence a client gets when a value misses a pattern: a regular expression is no message.
PATTERN_RULES: dict[str, str] = {}


def _pattern(regex: str, rule: str) -> str:
    """`regex` as a whole-value JSON Schema pattern (a schema pattern is a search, and `$` means
    end of text in the validators that apply it), remembering `rule` to explain a miss."""
    anchored = f"^(?:{regex})$"
    PATTERN_RULES[anchored] = rule
    return anchored


def _printable_ranges() -> list[tuple[int, int]]:
    """The code points `str.isprintable` accepts (the service's rule for text), as ranges."""
    ranges: list[list[int]] = []
    for point in range(sys.maxunicode + 1):
        if not chr(point).isprintable():
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return [(a, b) for a, b in ranges]


_PRINTABLE_RANGES = _printable_ranges()


def _printable_class(exclude: str = "") -> str:
    """A character class of exactly the printable characters but `exclude` (ASCII), as ranges
    of the characters themselves, so that Python, pydantic's regex engine and any JSON Schema
    validator read it alike, whatever their Unicode tables. The class's own metacharacters are
    escaped where they end a range."""
    ranges = _PRINTABLE_RANGES
    for char in exclude:
        point = ord(char)
        split = [
            [(a, point - 1), (point + 1, b)] if a <= point <= b else [(a, b)] for a, b in ranges
        ]
        ranges = [(a, b) for pieces in split for a, b in pieces if a <= b]

    def end(point: int) -> str:
        return f"\\{chr(point)}" if chr(point) in "\\]^-[" else chr(point)

    return "".join(end(a) if a == b else f"{end(a)}-{end(b)}" for a, b in ranges)


def _user_name() -> str:
    """Exactly the names verifier/user_names.py takes (but for their length in bytes): printable
    without LDAP_SPECIAL, split at the last @ into a name and an optional realm, neither empty
    nor beginning or ending with a space; the realm holds no @."""

    def part(allowed: str) -> str:
        inner, end = _printable_class(allowed), _printable_class(allowed + " ")
        return f"[{end}](?:[{inner}]*[{end}])?"

    name, realm = part(LDAP_SPECIAL), part(LDAP_SPECIAL + REALM_SEPARATOR)
    return f"{realm}|{name}{REALM_SEPARATOR}{realm}"


# How many base32 characters (separators and padding left out) a secret of the allowed length
# is written with: 16 to 103, but never 1, 3 or 6 past a multiple of 8.
_SECRET_CHAR_COUNTS = [
    n
    for n in range(1, 2 * MAX_SECRET_BYTES)
    if n % 8 not in (1, 3, 6) and MIN_SECRET_BYTES <= n * 5 // 8 <= MAX_SECRET_BYTES
]


def _base32_secret() -> str:
    """Exactly what the service takes as a secret: what baoling.core.base32 reads (base32
    characters in any case with separators, space and hyphen, anywhere, `=` padding at the end,
    a count of characters that ends on a whole byte) and decodes to MIN_SECRET_BYTES to
    MAX_SECRET_BYTES (core/limits.py). The count is written as whole groups of 8 characters
    plus the characters of a last, partial group. The hyphen goes last in the class, where it
    stands for itself."""
    sep = f"[{base32.SEPARATORS.replace('-', '')}-]"
    char = f"(?:[A-Za-z2-7]{sep}*)"
    counts = _SECRET_CHAR_COUNTS
    low, high = counts[0] // 8, counts[-1] // 8

    def groups(whole: str, rests: list[int]) -> str:
        parts = "|".join(f"{char}{{{rest}}}" for rest in rests if rest)
        return f"(?:{char}{{8}}){{{whole}}}(?:{parts}){'?' if 0 in rests else ''}"

    alternatives = [
        groups(str(whole), [n % 8 for n in counts if n // 8 == whole]) for whole in (low, high)
    ]
    if high - low > 1:
        alternatives.append(groups(f"{low + 1},{high - 1}", [0, 2, 4, 5, 7]))
    return f"{sep}*(?:{'|'.join(alternatives)})(?:={sep}*)*"


TOKEN_ID_PATTERN = _pattern(
    TOKEN_ID.pattern,
    "must be 1 to 128 letters, digits and . _ : @ + -, starting with a letter or digit",
)
CODE_PATTERN = _pattern(
    f"[0-9]{{{MIN_DIGITS},{MAX_DIGITS}}}", f"must be {MIN_DIGITS} to {MAX_DIGITS} digits"
)
SECRET_PATTERN = _pattern(
    _base32_secret(),
    "must be base32 (A-Z and 2-7, any case, spaces and hyphens allowed, = padding only at "
    f"the end) of {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes: {_SECRET_CHAR_COUNTS[0]} to "
    f"{_SECRET_CHAR_COUNTS[-1]} characters that end on a whole byte",
)
# A code given with a user name may also be a backup code (verifier/backup_codes.py).
VALIDATE_CODE_PATTERN = _pattern(
    f"[0-9]{{{MIN_DIGITS},{MAX_DIGITS}}}|[0-9]{{{BACKUP_CODE_DIGITS}}}",
    f"must be {MIN_DIGITS} to {MAX_DIGITS} digits, or a {BACKUP_CODE_DIGITS}-digit backup code",
)
HEX_PATTERN = _pattern("(?:[0-9A-Fa-f]{2})+", "must be hex, two digits per byte")
PRINTABLE_PATTERN = _pattern(f"[{_printable_class()}]*", "must be printable text")
USER_PATTERN = _pattern(
    _user_name(),
    "must be name@realm or name: printable text without * ( ) \\ or NUL, split at the last @ "
    "into a name and a realm (no @), neither empty nor with a space at either end",
)

Code = Annotated[str, Field(pattern=CODE_PATTERN)]
TokenId = Annotated[str, Field(pattern=TOKEN_ID_PATTERN)]
TokenPath = Annotated[str, Path(pattern=TOKEN_ID_PATTERN)]
Text = Annotated[str, Field(pattern=PRINTABLE_PATTERN, max_length=MAX_TEXT_CHARS)]
Secret = Annotated[str, Field(pattern=SECRET_PATTERN, max_length=MAX_SECRET_CHARS)]
# A user name travels in a body or a query, never in a path: it may hold / and be . or ..
UserQuery = Annotated[
    str,
    Query(
        pattern=USER_PATTERN,
        max_length=MAX_USER_BYTES,
        description="name@realm, or name in the default realm",
    ),
]
# At most MAX_USER_BYTES characters here; JSON Schema cannot count UTF-8 bytes, so a longer
# name in bytes is refused by the service (422, "user must be at most 256 bytes in UTF-8").
User = Annotated[
    str,
    Field(
        pattern=USER_PATTERN,
        max_length=MAX_USER_BYTES,
        description=f"name@realm, or name in the default realm; at most {MAX_USER_BYTES} bytes "
        "in UTF-8",
    ),
]


def _json_integer(value: Any) -> Any:
    """JSON Schema's integer: a number with no fraction (17.0 is one), never true, false or
    text, which pydantic would otherwise read as 1, 0 or the number written."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)  # then a bound is checked as for an integer, at any size
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
# The largest integer every JSON parser keeps exact (RFC 7493 section 2.2: a double's 53 bits).
# Beyond it a client may send a neighbour of the number it meant: 2**63 - 1 arrives as 2**63.
MAX_JSON_INTEGER = 2**53 - 1


class Strict(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ValidateRequest(Strict):
    """A code with exactly one of `token` (check it against that token) and `user` (against
    each active token of that user, docs/users.md)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["token"]}, {"required": ["user"]}]},
    )

    # None when absent. Not `TokenId | None`: the schema would then allow null, which is
    # refused below (a value given is always a string).
    token: TokenId = None  # type: ignore[assignment]
    user: User = None  # type: ignore[assignment]
    code: Annotated[str, Field(pattern=VALIDATE_CODE_PATTERN)]

    @model_validator(mode="before")
    @classmethod
    def _token_or_user(cls, data: Any) -> Any:
        """Exactly one of the two, given as a string (null is not an absent field)."""
        if isinstance(data, dict):
            given = [name for name in ("token", "user") if name in data]
            if len(given) != 1 or data[given[0]] is None:
                raise PydanticCustomError("token_or_user", "give exactly one of token and user")
        return data


class UserRequest(Strict):
    user: User
    display_name: Text = ""
    email: Text = ""
    phone: Text = ""


class UserNameRequest(Strict):
    user: User


class NotifyRequest(Strict):
    user: User
    on: bool = Field(strict=True, description="tell the user of every accepted code, or stop")


class LoginRoundsRequest(Strict):
    user: User
    rounds: LoginRounds = Field(
        description="at RADIUS: as the client entry says, PIN or password and code in one "
        "password, or always challenged for the code (docs/verifier.md, Password, then code)"
    )


class PinRequest(Strict):
    user: User
    pin: Annotated[
        str,
        Field(
            pattern=PRINTABLE_PATTERN,
            min_length=MIN_PIN_CHARS,
            max_length=MAX_PIN_CHARS,
            description="the user's static PIN; stored as a slow hash, never shown again",
        ),
    ]


class PinCleared(BaseModel):
    cleared: bool = Field(description="false when the user had no PIN")


class AssignRequest(Strict):
    user: User
    role: Literal["primary", "spare"] = "primary"
    code: Code | None = Field(
        default=None, description="a code the token shows now: proof of possession"
    )
    override: bool = Field(
        default=False, strict=True, description="assign without a code (admin keys only; audited)"
    )


class ReactivateRequest(Strict):
    user: User
    keep_tokens: bool = Field(
        default=False, strict=True, description="keep the tokens it had; else they are unassigned"
    )


class ReactivateResult(BaseModel):
    user: str
    tokens_kept: list[str]
    tokens_unassigned: list[str]


class BackupCodesRequest(Strict):
    user: User
    expires: date = Field(description="the last day the codes work (YYYY-MM-DD), lockout_tz")
    count: JsonInt = Field(default=MAX_BACKUP_CODES, ge=1, le=MAX_BACKUP_CODES)


class BackupCodesResult(BaseModel):
    user: str
    codes: list[str] = Field(description="shown once; only slow hashes are stored")
    expires: float = Field(description="Unix time the codes stop working")


class BackupCodesRevoked(BaseModel):
    revoked: int = Field(description="how many were still usable")


class UserToken(BaseModel):
    token: str
    role: Literal["primary", "spare"]


class UserInfo(BaseModel):
    user: str = Field(description="name@realm")
    name: str
    realm: str
    resolver: str
    display_name: str
    email: str
    phone: str
    active: bool
    created: float
    deactivated: float | None
    notify_accepted: bool = Field(description="told of every accepted code (docs/events.md)")
    login_rounds: LoginRounds = Field(
        description="rounds at RADIUS: as the client says, one, or two"
    )
    tokens: list[UserToken]


class UserList(BaseModel):
    users: list[UserInfo]


class ValidateResult(BaseModel):
    result: Literal["accept", "reject"]
    amr: list[str] | None = Field(
        default=None,
        description="accept only: RFC 8176 methods, hwk and otp, and pin for a token with a "
        "device PIN (docs/verifier.md)",
    )


class EnrolRequest(Strict):
    token: TokenId
    secret: Secret | None = Field(default=None, description="base32; omit to have one generated")
    algorithm: Literal[ALGORITHMS] = DEFAULT_ALGORITHM  # type: ignore[valid-type]
    digits: JsonInt = Field(default=DEFAULT_DIGITS, ge=MIN_DIGITS, le=MAX_DIGITS)
    period: JsonInt = Field(default=DEFAULT_PERIOD_S, ge=MIN_PERIOD_S, le=MAX_PERIOD_S)
    issuer: Text = ""
    label: Text = ""
    kind: Literal["totp", "hotp"] = Field(default="totp", description="hotp: a counter token")
    counter: JsonInt = Field(
        default=0,
        ge=0,
        le=MAX_JSON_INTEGER,  # the CLI and the Python API take up to 2**63 - 1 (a BIGINT)
        description="hotp: the counter of the next code",
    )
    device_pin: bool = Field(
        default=False,
        strict=True,  # true or false, never "yes" or 1
        description="the token asks for a PIN on the device before a code",
    )


class EnrolResult(BaseModel):
    token: str
    uri: str | None = Field(
        default=None, description="otpauth URI, only when the secret was generated; shown once"
    )


class PSKCRequest(Strict):
    pskc: str = Field(min_length=1, description="the PSKC XML document")
    key: str | None = Field(default=None, pattern=HEX_PATTERN, description="pre-shared key, hex")
    password: str | None = None


class PSKCResult(BaseModel):
    tokens: list[str]


class ImportRequest(Strict):
    """A bulk import file (docs/users.md, "Bulk import"); its text travels as a JSON string."""

    format: Literal["csv", "uris", "pskc"]
    data: str = Field(min_length=1, description="the file: token CSV, URI CSV or PSKC XML")
    user_map: str | None = Field(default=None, description="PSKC: CSV of serial, user, role")
    key: str | None = Field(default=None, pattern=HEX_PATTERN, description="pre-shared key, hex")
    password: str | None = None
    dry_run: bool = Field(default=False, strict=True)


class RefreshRequest(Strict):
    user: User | None = Field(default=None, description="one user; default: every one")


class RefreshList(BaseModel):
    users: list[dict[str, Any]]


class ImportedToken(BaseModel):
    token: str
    user: str | None
    role: Literal["primary", "spare"] | None


class ImportResult(BaseModel):
    dry_run: bool
    tokens: list[ImportedToken]
    users_added: list[str]


class ResyncRequest(Strict):
    code1: Code
    code2: Code


class ResyncResult(BaseModel):
    resynced: bool


class TokenList(BaseModel):
    tokens: list[dict[str, Any]]


class AuditList(BaseModel):
    entries: list[dict[str, Any]]


class Health(BaseModel):
    status: Literal["ok"]


class ErrorBody(BaseModel):
    error: str
    message: str
