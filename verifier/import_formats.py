"""Reading the files of a bulk import (docs/users.md, "Bulk import"): a CSV of tokens, a CSV of
otpauth URIs, or a PSKC file with a CSV user map. Pure: text in, `ImportLine`s out, each saying
where in the file it came from, so the rules applied later (verifier/bulk_import.py) can name
the line they refuse.

Every file is UTF-8 CSV with a header line naming its columns, in any order. A refusal names
the line and the rule, never a secret: base32 errors give positions (core/base32.py), and no
field of a line is repeated in a message unless it is a name (serial, slot, user, role).
"""

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from baoling.core import base32, identity, otpauth
from baoling.core.errors import CoreError
from baoling.core.limits import DEFAULT_ALGORITHM, DEFAULT_DIGITS, DEFAULT_PERIOD_S
from baoling.verifier.errors import BulkImportError
from baoling.verifier.pskc_import import MAX_TIME_DRIFT_S, PSKCKey, read_pskc
from baoling.verifier.store import HOTP, TOTP
from baoling.verifier.users import PRIMARY, ROLES

# Lines a file may hold (a header and this many data lines): far above a migration's size,
# low enough that one import stays one transaction of bounded size.
MAX_IMPORT_LINES = 100_000

TOKEN_COLUMNS = (
    "serial",
    "slot",
    "user",
    "role",
    "secret",
    "secret_hex",
    "kind",
    "algorithm",
    "digits",
    "period",
    "counter",
    "drift",
    "issuer",
    "label",
)
URI_COLUMNS = ("uri", "token", "user", "role")
USER_MAP_COLUMNS = ("serial", "user", "role")


@dataclass(frozen=True)
class ImportLine:
    """One token to enrol, and the user to give it to ("" for none). `repr` leaves the secret
    out, so it never reaches a log."""

    where: str  # "line 12", "user map line 3" or "key 'BL0001-1'"
    token_id: str
    secret: bytes = field(repr=False)
    algorithm: str
    digits: int
    period_s: int
    issuer: str
    label: str
    clock_offset_s: float
    user: str
    role: str
    kind: str = TOTP
    counter: int = 0  # an HOTP token's next counter


@dataclass(frozen=True)
class _Row:
    """A data line of a CSV file: how refusals name it, and its fields by column."""

    where: str  # "line 12", "user map line 3"
    fields: dict[str, str]

    def get(self, column: str) -> str:
        return self.fields.get(column, "").strip()

    def refuse(self, message: str) -> BulkImportError:
        return BulkImportError(f"{self.where}: {message}")


def _rows(
    data: bytes, columns: tuple[str, ...], required: tuple[str, ...], *, user_map: bool = False
) -> Iterator[_Row]:
    """The data lines of a CSV file whose header names some of `columns` (all of `required`);
    blank lines are skipped. Line numbers count the file's lines, the header being line 1."""
    what, prefix = ("the user map", "user map line") if user_map else ("the file", "line")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BulkImportError(f"{what} is not UTF-8 text (byte {exc.start + 1})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise BulkImportError(f"{what} is empty: it needs a header line naming its columns")
        names = [name.strip().lower() for name in header]
        for position, name in enumerate(names, start=1):
            if name not in columns:
                # By its position, never its text: a file without its header line has a token's
                # secret there.
                raise BulkImportError(
                    f"{prefix} 1: column {position} is not a column name; the first line names "
                    "the columns, from " + ", ".join(columns)
                )
            if names.count(name) > 1:
                raise BulkImportError(f"{prefix} 1: the column {name!r} is named twice")
        missing = [name for name in required if name not in names]
        if missing:
            raise BulkImportError(f"{prefix} 1: the column {missing[0]!r} is missing")
        count = 0
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            count += 1
            if count > MAX_IMPORT_LINES:
                raise BulkImportError(f"{what} has more than {MAX_IMPORT_LINES} lines")
            where = f"{prefix} {reader.line_num}"
            if len(values) != len(names):
                raise BulkImportError(
                    f"{where}: {len(values)} fields, but the header names {len(names)} columns"
                )
            yield _Row(where, dict(zip(names, values, strict=True)))
    except csv.Error as exc:
        raise BulkImportError(f"{prefix} {reader.line_num}: not CSV ({exc})") from None


def _number(row: _Row, column: str, default: int) -> int:
    text = row.get(column)
    if not text:
        return default
    if not (text.isascii() and text.isdigit()):
        raise row.refuse(f"{column} must be a whole number")
    return int(text)


def _role(row: _Row) -> str:
    role = row.get("role").lower() or PRIMARY
    if role not in ROLES:
        # Not the text given: in a file whose columns are out of order it can be a secret.
        raise row.refuse(f"role must be {' or '.join(ROLES)}")
    return role


def _secret(row: _Row) -> bytes:
    """The line's secret: base32 in `secret` or hex in `secret_hex`, exactly one of them."""
    b32, hexadecimal = row.get("secret"), row.get("secret_hex")
    if bool(b32) == bool(hexadecimal):
        raise row.refuse("give the secret in exactly one of the columns secret and secret_hex")
    if b32:
        try:
            return base32.decode(b32)
        except CoreError as exc:
            raise row.refuse(str(exc)) from None
    try:
        return bytes.fromhex(hexadecimal)
    except ValueError:
        raise row.refuse("secret_hex is not hex (two digits 0-9, a-f per byte)") from None


def _drift(row: _Row) -> float:
    """How far the token's clock is ahead, in seconds (negative: behind)."""
    text = row.get("drift")
    if not text:
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        raise row.refuse("drift must be a number of seconds") from None
    if not math.isfinite(seconds) or abs(seconds) > MAX_TIME_DRIFT_S:
        raise row.refuse(f"drift must be at most {MAX_TIME_DRIFT_S} seconds either way")
    return seconds


def read_token_csv(data: bytes) -> list[ImportLine]:
    """The tokens of a CSV with the columns serial, slot and secret (base32) or secret_hex,
    and optionally user, role, kind (totp or hotp), algorithm, digits, period (TOTP), counter
    (HOTP), drift (TOTP), issuer and label."""
    lines = []
    for row in _rows(data, TOKEN_COLUMNS, ("serial", "slot")):
        slot = row.get("slot")
        if not (slot.isascii() and slot.isdigit()):
            raise row.refuse("slot must be a whole number")
        try:
            token_id = identity.token_id(row.get("serial"), int(slot))
        except CoreError as exc:
            raise row.refuse(f"serial and slot do not name a token: {exc}") from None
        lines.append(
            ImportLine(
                where=row.where,
                token_id=token_id,
                secret=_secret(row),
                algorithm=row.get("algorithm").lower() or DEFAULT_ALGORITHM,
                digits=_number(row, "digits", DEFAULT_DIGITS),
                period_s=_number(row, "period", DEFAULT_PERIOD_S),
                issuer=row.get("issuer"),
                label=row.get("label"),
                clock_offset_s=_drift(row),
                user=row.get("user"),
                role=_role(row),
                kind=row.get("kind").lower() or TOTP,
                counter=_number(row, "counter", 0),
            )
        )
    return lines


def read_uri_csv(data: bytes) -> list[ImportLine]:
    """The tokens of a CSV with the column uri (an otpauth://totp/ or otpauth://hotp/ URI)
    and optionally token (its id; default: the URI's account name), user and role."""
    lines = []
    for row in _rows(data, URI_COLUMNS, ("uri",)):
        try:
            key = otpauth.parse(row.get("uri"), hotp=True)
        except CoreError as exc:
            raise row.refuse(str(exc)) from None
        token_id = row.get("token") or key.account
        try:
            identity.check_token_id(token_id)
        except CoreError as exc:
            what = "token" if row.get("token") else "the URI's account name, the token id,"
            raise row.refuse(f"{what} is not a token id: {exc}") from None
        lines.append(
            ImportLine(
                where=row.where,
                token_id=token_id,
                secret=key.secret,
                algorithm=key.algorithm,
                digits=key.digits,
                period_s=key.period_s,
                issuer=key.issuer,
                label=key.account,
                clock_offset_s=0.0,
                user=row.get("user"),
                role=_role(row),
                kind=TOTP if key.counter is None else HOTP,
                counter=key.counter or 0,
            )
        )
    return lines


def with_user_map(keys: list[PSKCKey], user_map: bytes | None) -> list[ImportLine]:
    """The keys of a PSKC file (verifier/pskc_import.py), each given to the user its serial
    has in the user map (a CSV with the columns serial, user and optionally role): a serial
    names every key of that device, or a key's token id when it has no serial. A map line
    that names no key is refused, as a typo would otherwise go unnoticed."""
    owners: dict[str, tuple[str, str]] = {}
    if user_map is not None:
        for row in _rows(user_map, USER_MAP_COLUMNS, ("serial", "user"), user_map=True):
            serial = row.get("serial")
            if not any(serial in (key.serial, key.token_id) for key in keys):
                raise row.refuse(f"no key of the PSKC file has the serial {serial!r}")
            if serial in owners:
                raise row.refuse(f"the serial {serial!r} is given a user twice")
            owners[serial] = (row.get("user"), _role(row))
    lines = []
    for key in keys:
        user, role = owners.get(key.serial) or owners.get(key.token_id) or ("", PRIMARY)
        lines.append(
            ImportLine(
                where=f"key {key.token_id!r}",
                token_id=key.token_id,
                secret=key.secret,
                algorithm=key.algorithm,
                digits=key.digits,
                period_s=key.period_s,
                issuer=key.issuer,
                label=key.label,
                clock_offset_s=float(key.clock_offset_s),
                user=user,
                role=role,
                kind=key.kind,
                counter=key.counter,
            )
        )
    return lines


FORMATS = ("csv", "uris", "pskc")


def read_import(
    data: bytes,
    file_format: str,
    *,
    user_map: bytes | None = None,
    key: bytes | None = None,
    password: str | None = None,
) -> list[ImportLine]:
    """The lines of an import file of `file_format` (one of FORMATS). A user map, a key and a
    password belong to PSKC files only; a PSKC file that cannot be read is a PSKCImportError
    (verifier/pskc_import.py)."""
    if file_format not in FORMATS:
        raise BulkImportError(f"the format must be {', '.join(FORMATS)}, not {file_format!r}")
    if file_format != "pskc" and (user_map is not None or key is not None or password):
        raise BulkImportError("a user map, key or password is for PSKC files only")
    if file_format == "csv":
        return read_token_csv(data)
    if file_format == "uris":
        return read_uri_csv(data)
    return with_user_map(read_pskc(data, key=key, password=password), user_map)
