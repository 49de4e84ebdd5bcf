"""The tamper-evident audit trail: every row's hash covers the previous row's hash and its own
content, and the database keeps the newest (seq, hash) as the chain's head.

An edited row no longer matches its hash; a deleted row leaves a gap in `seq` and a broken
link; a deleted last row leaves the head pointing past the end. Someone who can write the
database and recompute every later hash and the head is not stopped by this alone: record the
head that `verify` reports somewhere else from time to time (docs/operations.md).

Rows hold what happened and why, never a secret or a code.
"""

import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from verifier.store import AUDIT_HEAD, GENESIS_HASH, audit, get_meta, set_meta


@dataclass(frozen=True)
class AuditReport:
    """The result of checking the chain: `ok`, the rows checked, the head (`seq:hash`), and
    for a broken chain the first problem found."""

    ok: bool
    rows: int
    head: str
    problem: str | None = None


_INSERT = audit.insert()


def row_hash(
    seq: int, ts: float, action: str, token_id: str | None, detail: str, prev_hash: str
) -> str:
    """SHA-256 over the row's content and the previous hash, as canonical JSON."""
    content = json.dumps([seq, ts, action, token_id, detail, prev_hash], separators=(",", ":"))
    return hashlib.sha256(content.encode()).hexdigest()


def _parse_head(value: str | None) -> tuple[int, str]:
    seq, _, digest = (value or f"0:{GENESIS_HASH}").partition(":")
    return int(seq), digest


def append(
    conn: Connection, action: str, token_id: str | None, now: float, **detail: object
) -> None:
    """Add one row inside the caller's write transaction (which holds the head)."""
    now = float(now)  # hashed as the database returns it
    prev_seq, prev_hash = _parse_head(get_meta(conn, AUDIT_HEAD))
    seq = prev_seq + 1
    detail_text = json.dumps(detail, sort_keys=True, separators=(",", ":"))
    digest = row_hash(seq, now, action, token_id, detail_text, prev_hash)
    conn.execute(
        _INSERT,
        {"seq": seq, "ts": now, "action": action, "token_id": token_id, "detail": detail_text,
         "prev_hash": prev_hash, "hash": digest},
    )
    set_meta(conn, AUDIT_HEAD, f"{seq}:{digest}")


def recent(conn: Connection, limit: int) -> list[dict]:
    """The newest `limit` rows, newest first, as JSON-ready dicts."""
    rows = conn.execute(sa.select(audit).order_by(audit.c.seq.desc()).limit(limit))
    return [
        {
            "seq": row.seq,
            "ts": row.ts,
            "action": row.action,
            "token": row.token_id,
            "detail": json.loads(row.detail),
        }
        for row in rows
    ]


def verify(conn: Connection) -> AuditReport:
    """Walk the whole chain from the first row and compare its end with the stored head."""
    expected_seq, prev_hash = 1, GENESIS_HASH
    count = 0
    for row in conn.execute(sa.select(audit).order_by(audit.c.seq)).yield_per(1000):
        if row.seq != expected_seq:
            return AuditReport(
                False, count, f"{expected_seq - 1}:{prev_hash}",
                f"row {expected_seq} is missing (next row is {row.seq})",
            )
        if row.prev_hash != prev_hash:
            return AuditReport(
                False, count, f"{expected_seq - 1}:{prev_hash}",
                f"row {row.seq} does not link to row {row.seq - 1}",
            )
        digest = row_hash(row.seq, row.ts, row.action, row.token_id, row.detail, row.prev_hash)
        if digest != row.hash:
            return AuditReport(
                False, count, f"{expected_seq - 1}:{prev_hash}",
                f"row {row.seq} was altered (its content does not match its hash)",
            )
        count += 1
        expected_seq, prev_hash = row.seq + 1, row.hash
    head_seq, head_hash = _parse_head(get_meta(conn, AUDIT_HEAD))
    last = f"{expected_seq - 1}:{prev_hash}"
    if (head_seq, head_hash) != (expected_seq - 1, prev_hash):
        return AuditReport(
            False, count, last,
            f"the chain ends at row {expected_seq - 1} but its recorded head is row {head_seq}"
            " (rows were deleted from the end, or the head was altered)",
        )
    return AuditReport(True, count, last)
