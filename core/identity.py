"""Token identity: one name for a token's slot, `serial-slot`, across provisioning (batch
results, PSKC key ids) and the verifier (enrolment, HTTP paths, RADIUS User-Name)."""

import re

from baoling.core.errors import CoreError

# Letters, digits and . _ : @ + - ; what fits a URL path segment and a RADIUS User-Name.
TOKEN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}")
TOKEN_ID_RULE = (
    "1 to 128 characters: letters, digits and . _ : @ + -, starting with a letter or digit"
)


def check_token_id(token_id: str) -> str:
    """The id itself, or CoreError saying what a token id may contain."""
    if not isinstance(token_id, str) or not TOKEN_ID.fullmatch(token_id):
        raise CoreError(f"a token id is {TOKEN_ID_RULE}")
    return token_id


def token_id(serial: str, slot: int) -> str:
    """The id of slot `slot` of the token with serial number `serial`."""
    return check_token_id(f"{serial}-{slot}")


def split_token_id(token_id: str) -> tuple[str, int]:
    """(serial, slot) of a `serial-slot` id; CoreError if it is not one."""
    serial, dash, slot = token_id.rpartition("-")
    if not (dash and serial and slot.isascii() and slot.isdigit()):
        raise CoreError(f"{token_id!r} is not a serial-slot token id")
    return serial, int(slot)
