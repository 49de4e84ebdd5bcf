"""Signed anchors of the audit chain's head, kept outside the database (docs/threat-model.md,
"Audit tampering"): someone who can write the database can delete its newest rows and move the
recorded head back, or rewrite the whole chain, and the chain alone still verifies. An anchor
line written earlier names a row (`seq:hash`) the chain had then; `audit verify --anchors FILE`
checks that every anchored row is still on the chain and that the chain has not ended before
the newest anchor.

A line is JSON: `{"anchor": "seq:hash", "at": <Unix time>, "key": <master key fingerprint>,
"mac": <hex>}`, the MAC an HMAC-SHA256 under a key derived from the master key
(verifier/crypto.py), which the database never holds: an intruder in the database cannot write
an anchor that checks, only delete lines from a file it can also reach, so keep the file on
another machine or append-only (docs/operations.md, "Audit anchors")."""

import hmac
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ANCHOR_FORMAT = "baoling-audit-anchor-1"


@dataclass(frozen=True)
class Anchor:
    """One checked anchor: the row it names and the line of the file it is on."""

    line: int
    seq: int
    hash: str
    at: float


class AnchorError(ValueError):
    """An anchors file line that is not a checked anchor; the message says which and why."""


def signed_text(point: str, at: float) -> bytes:
    """What an anchor's MAC covers: the format, the time and the head, as canonical JSON."""
    return json.dumps([ANCHOR_FORMAT, at, point], separators=(",", ":")).encode()


def anchor_line(point: str, at: float, fingerprint: str, mac: str) -> str:
    """The anchors file's line for the head `point` at `at`, with its MAC."""
    fields = {"anchor": point, "at": at, "key": fingerprint, "mac": mac}
    return json.dumps(fields, sort_keys=True) + "\n"


def append_line(path: Path, line: str) -> None:
    """Append `line` to the anchors file and flush it to disk before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_anchors(
    lines: Iterable[str], fingerprint: str, mac: Callable[[bytes], str]
) -> list[Anchor]:
    """Every line's anchor, each checked with `mac` (the current master key's anchor MAC);
    AnchorError at the first line that is not one."""
    anchors = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            fields = json.loads(text)
            point, at, key, given = fields["anchor"], fields["at"], fields["key"], fields["mac"]
            seq, _, digest = str(point).partition(":")
            anchor = Anchor(number, int(seq), digest, float(at))
        except (ValueError, TypeError, KeyError, RecursionError):
            raise AnchorError(f"line {number} is not an audit anchor") from None
        if key != fingerprint:
            raise AnchorError(
                f"line {number} was signed with master key {key}, not the current one "
                f"({fingerprint}): a key rotation starts a new anchors file (docs/operations.md)"
            )
        if not isinstance(given, str) or not hmac.compare_digest(
            mac(signed_text(str(point), at)).encode(), given.encode()
        ):
            raise AnchorError(f"line {number} is not signed by this master key (forged or altered)")
        anchors.append(anchor)
    return anchors
