"""The tamper-evident audit trail's store: every row's hash covers the previous row's hash and
its own content, and the database keeps the newest (seq, hash) as the chain's head. This module
is the audit chain's part of the store (its SQL lives here, the rest in verifier/store.py);
verifier/audit_trail.py is what administrators call.

Appending takes no lock, so validations of different tokens never wait for each other: on
PostgreSQL a row is inserted unsealed (no `seq`, no hash) and `seal`, run by one node at a time
under an advisory lock, chains the unsealed rows in `id` order shortly after; on SQLite, which
has one writer at a time, `append` seals the row in its own transaction.

An edited row no longer matches its hash; a deleted row leaves a gap in `seq` and a broken
link; a deleted last row leaves the head pointing past the end. Someone who can write the
database and recompute every later hash and the head is not stopped by this alone: signed
anchors of the head kept outside the database (verifier/audit_anchors.py) catch that.

Old rows can be archived: written to a file (JSON Lines, `archive_lines`) and deleted from the
database, which then records where its part of the chain starts (its base) and appends an
`audit_archive` row that names that point, so the chain stays one chain across the files and
the database and `verify` can walk all of it.

Rows hold what happened and why, never a secret or a code.
"""

import contextlib
import contextvars
import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from baoling.verifier.audit_anchors import Anchor
from baoling.verifier.prepared import Prepared
from baoling.verifier.store import (
    AUDIT_BASE,
    AUDIT_HEAD,
    AUDIT_SEAL_LOCK_ID,
    GENESIS_HASH,
    Change,
    PlannedEvent,
    audit,
    get_meta,
    inserting_events,
    set_meta,
)

ARCHIVE_FORMAT = "baoling-audit-archive"
ARCHIVE_VERSION = 1
ARCHIVE_ACTION = "audit_archive"
START = f"0:{GENESIS_HASH}"  # the head of a chain with no row yet


@dataclass(frozen=True)
class AuditReport:
    """The result of checking the chain: `ok`, the rows checked, the head (`seq:hash`), and
    for a broken chain the first problem found."""

    ok: bool
    rows: int
    head: str
    problem: str | None = None
    # Where the walk started: `0:<genesis>`, or the database's base when no archive was given.
    start: str = START
    # How many anchors (verifier/audit_anchors.py) named a row the walk checked.
    anchors: int = 0


class Row(NamedTuple):
    """One audit row as stored (`detail` is the JSON text that was hashed)."""

    seq: int
    ts: float
    action: str
    token_id: str | None
    detail: str
    prev_hash: str
    hash: str


class ArchiveError(ValueError):
    """An archive file that is not one `archive_lines` wrote; the message says where."""


# The columns an appended row sets; `id` takes the next one.
_INSERT = Prepared(
    audit.insert(), ("ts", "action", "token_id", "detail", "seq", "prev_hash", "hash")
)

# Fields that every row written in this thread or task carries besides its own detail: where
# the request came from, set by a front end around its call (`origin`).
_ORIGIN: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "origin", default=()
)


@contextlib.contextmanager
def origin(**fields: str) -> Iterator[None]:
    """Add `fields` to the detail of every row appended inside the with-block (in this thread
    or task), such as the RADIUS client and User-Name a validation came with; the rows' own
    detail wins a clash. Never pass a secret, a code or a PIN."""
    token = _ORIGIN.set(tuple({**dict(_ORIGIN.get()), **fields}.items()))
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def row_hash(
    seq: int, ts: float, action: str, token_id: str | None, detail: str, prev_hash: str
) -> str:
    """SHA-256 over the row's content and the previous hash, as canonical JSON."""
    content = json.dumps([seq, ts, action, token_id, detail, prev_hash], separators=(",", ":"))
    return hashlib.sha256(content.encode()).hexdigest()


def _parse_point(value: str | None) -> tuple[int, str]:
    """A `seq:hash` point of the chain; None is the start, before row 1."""
    seq, _, digest = (value or START).partition(":")
    return int(seq), digest


def append(
    conn: Connection, action: str, token_id: str | None, now: float, **detail: object
) -> None:
    """Add one row inside the caller's write transaction, taking no lock."""
    append_many(conn, [(action, token_id, detail)], now)


def append_many(
    conn: Connection, rows: Sequence[tuple[str, str | None, dict[str, object]]], now: float
) -> None:
    """Add rows (action, token id, detail) in order with one executemany: a bulk import writes
    thousands at once. Unsealed on PostgreSQL (`seal` chains them); sealed at once on SQLite,
    whose write transaction is the one writer, so its rows are never unsealed."""
    if not rows:
        return
    now = float(now)
    values = [
        {
            "ts": now,
            "action": action,
            "token_id": token_id,
            "detail": _detail_text(detail),
            "seq": None,
            "prev_hash": None,
            "hash": None,
        }
        for action, token_id, detail in rows
    ]
    if conn.dialect.name == "sqlite":
        _chain(conn, values)
    _INSERT.execute(conn, values[0] if len(values) == 1 else values)


def _detail_text(detail: dict[str, object]) -> str:
    """A row's detail as stored: this thread's origin fields and `detail`, canonical JSON."""
    return json.dumps({**dict(_ORIGIN.get()), **detail}, sort_keys=True, separators=(",", ":"))


def append_with(
    conn: Connection,
    change: Change,
    action: str,
    token_id: str | None,
    now: float,
    changed: dict[str, object],
    unchanged: dict[str, object],
) -> sa.Row[Any] | None:
    """Run `change` (a token's UPDATE ... RETURNING, verifier/store.py) and append its audit
    row, with `changed` as detail when it updated a row, else `unchanged`; returns its row
    (None: it changed nothing). On PostgreSQL both are one statement (`append_at_once`), one
    round trip; on SQLite, which seals its rows in their transaction (`append`), two."""
    statement, values = change
    if conn.dialect.name == "postgresql":
        return append_at_once(conn, change, action, token_id, now, changed, unchanged)
    row = statement.execute(conn, values).first()
    append(conn, action, token_id, now, **(changed if row is not None else unchanged))
    return row


class AuditRow(NamedTuple):
    """An audit row that `append_at_once` adds after the change's own: only when the change
    updated a row (`if_changed`), or only when it did not."""

    if_changed: bool
    action: str
    detail: dict[str, object]


def append_at_once(
    conn: Connection,
    change: Change | None,
    action: str,
    token_id: str | None,
    now: float,
    changed: dict[str, object],
    unchanged: dict[str, object] | None,
    rows: Sequence[AuditRow] = (),
    events: Sequence[PlannedEvent] = (),
) -> sa.Row[Any] | None:
    """On PostgreSQL, in one statement (a data-modifying WITH, which PostgreSQL runs exactly
    once and commits as one): `change` (None: no change, as if it updated a row), its audit row
    (detail `changed` when it updated a row, else `unchanged`, or no row when that is None),
    then `rows` and `events` (verifier/store.py, `inserting_events`), each only as its
    condition says. Returns the change's row; None when it changed nothing."""
    statement, values = (change[0].statement, change[1]) if change is not None else (None, {})
    bound: dict[str, object] = {
        **values,
        "audit_ts": float(now),
        "audit_action": action,
        "audit_token": token_id,
        "detail_changed": _detail_text(changed),
    }
    if unchanged is not None:
        bound["detail_unchanged"] = _detail_text(unchanged)
    for i, row in enumerate(rows):
        bound[f"row{i}_action"], bound[f"row{i}_detail"] = row.action, _detail_text(row.detail)
    for i, event in enumerate(events):
        bound[f"event{i}_id"], bound[f"event{i}_type"] = event.event_id, event.event_type
        bound[f"event{i}_body"] = event.body
    query = _at_once(
        statement,
        unchanged is not None,
        tuple(row.if_changed for row in rows),
        tuple((event.if_changed, event.opted) for event in events),
    )
    return query.execute(conn, bound).first()


@functools.cache
def _at_once(
    statement: sa.Update | None,
    unchanged_row: bool,
    rows: tuple[bool, ...],
    events: tuple[tuple[bool, bool], ...],
) -> Prepared[sa.Select]:
    """`WITH changed AS (statement), logged AS (INSERT INTO audit ...), noted AS (INSERT INTO
    events ...) SELECT * FROM changed`, built once per shape: the audit rows are one INSERT,
    so their ids (the order `seal` chains them in) follow the order given."""
    if statement is None:
        changed = sa.select(sa.literal(1).label("one")).cte("changed")
    else:
        changed = statement.cte("changed")
    did = sa.exists(sa.select(sa.literal(1)).select_from(changed))

    def when(if_changed: bool) -> sa.ColumnElement[bool]:
        return did if if_changed else ~did

    ts = sa.bindparam("audit_ts", type_=sa.Double)
    token = sa.bindparam("audit_token", type_=sa.String)
    detail = sa.bindparam("detail_changed", type_=sa.Text)
    first = sa.select(ts, sa.bindparam("audit_action", type_=sa.String), token)
    if unchanged_row:
        unchanged = sa.bindparam("detail_unchanged", type_=sa.Text)
        logs = [first.add_columns(sa.case((did, detail), else_=unchanged))]
    else:
        logs = [first.add_columns(detail).where(did)]
    for i, if_changed in enumerate(rows):
        action = sa.bindparam(f"row{i}_action", type_=sa.String)
        row_detail = sa.bindparam(f"row{i}_detail", type_=sa.Text)
        logs.append(sa.select(ts, action, token, row_detail).where(when(if_changed)))
    logged = audit.insert().from_select(
        ["ts", "action", "token_id", "detail"], logs[0] if len(logs) == 1 else sa.union_all(*logs)
    )
    query = sa.select(changed).add_cte(logged.cte("logged"))
    if events:
        planned = [(when(if_changed), opted) for if_changed, opted in events]
        query = query.add_cte(inserting_events(token, ts, planned).cte("noted"))
    return Prepared(query)


def _chain(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Give `rows` (dicts with ts, action, token_id, detail), in order, the next places in the
    chain after its head, with their hashes, and move the head to the last."""
    seq, digest = _parse_point(get_meta(conn, AUDIT_HEAD))
    for row in rows:
        seq, prev_hash = seq + 1, digest
        digest = row_hash(seq, row["ts"], row["action"], row["token_id"], row["detail"], prev_hash)
        row.update(seq=seq, prev_hash=prev_hash, hash=digest)
    set_meta(conn, AUDIT_HEAD, f"{seq}:{digest}")


_SEAL_BATCH = 1000
_UNSEALED = (
    sa.select(audit.c.id, audit.c.ts, audit.c.action, audit.c.token_id, audit.c.detail)
    .where(audit.c.seq.is_(None))
    .order_by(audit.c.id)
    .limit(_SEAL_BATCH)
)
# A batch's places in the chain as four arrays of one length, made rows by `unnest`: the batch
# is one UPDATE whose text is the same whatever its size, so psycopg prepares it once; seal
# runs about twice as fast as with one UPDATE a row (docs/performance.md). unnest is
# PostgreSQL's, and so are unsealed rows: SQLite seals each row as it is appended (append_many).
_SEALED = (
    sa.func.unnest(
        sa.bindparam("ids", type_=sa.ARRAY(sa.BigInteger)),
        sa.bindparam("seqs", type_=sa.ARRAY(sa.BigInteger)),
        sa.bindparam("prev_hashes", type_=sa.ARRAY(sa.String)),
        sa.bindparam("hashes", type_=sa.ARRAY(sa.String)),
    )
    .table_valued(
        sa.column("id", sa.BigInteger),
        sa.column("seq", sa.BigInteger),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    .render_derived(name="sealed")
)
_SEAL = (
    audit.update()
    .where(audit.c.id == _SEALED.c.id, audit.c.seq.is_(None))
    .values(seq=_SEALED.c.seq, prev_hash=_SEALED.c.prev_hash, hash=_SEALED.c.hash)
)


def take_seal_lock(conn: Connection, *, wait: bool) -> bool:
    """Become the one sealer until the transaction ends (PostgreSQL's advisory lock; SQLite's
    write transaction already is the one writer). False, without waiting, when another node
    or thread seals now and `wait` is False."""
    if conn.dialect.name != "postgresql":
        return True
    lock = sa.func.pg_advisory_xact_lock if wait else sa.func.pg_try_advisory_xact_lock
    taken = conn.execute(sa.select(lock(AUDIT_SEAL_LOCK_ID))).scalar()
    return wait or bool(taken)


def seal(conn: Connection) -> int:
    """Chain every unsealed row committed so far, in the order they were appended (`id`), after
    the head; returns how many. Only under `take_seal_lock`."""
    sealed = 0
    while rows := [dict(row._mapping) for row in conn.execute(_UNSEALED)]:
        _chain(conn, rows)
        conn.execute(
            _SEAL,
            {
                "ids": [row["id"] for row in rows],
                "seqs": [row["seq"] for row in rows],
                "prev_hashes": [row["prev_hash"] for row in rows],
                "hashes": [row["hash"] for row in rows],
            },
        )
        sealed += len(rows)
    return sealed


def head(conn: Connection) -> str:
    """The chain's head, `seq:hash` of its newest sealed row."""
    return get_meta(conn, AUDIT_HEAD) or START


def recent(conn: Connection, limit: int) -> list[dict]:
    """The newest `limit` rows, newest first, as JSON-ready dicts."""
    rows = conn.execute(sa.select(audit).order_by(audit.c.id.desc()).limit(limit))
    return [_shaped(row) for row in rows]


def _shaped(row: Any) -> dict:
    return {
        "seq": row.seq,
        "ts": row.ts,
        "action": row.action,
        "token": row.token_id,
        "detail": json.loads(row.detail),
    }


def search(
    conn: Connection,
    *,
    token: str | None = None,
    action: str | None = None,
    since: float | None = None,
    until: float | None = None,
    detail: dict[str, str] | None = None,
    limit: int = 100,
) -> list[dict]:
    """The newest `limit` rows that match every filter given, newest first, shaped as `recent`
    shapes them. A `detail` filter matches rows whose detail has each key with exactly that
    value (a user, a console account)."""
    query = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
    if token is not None:
        query = query.where(audit.c.token_id == token)
    if action is not None:
        query = query.where(audit.c.action == action)
    if since is not None:
        query = query.where(audit.c.ts >= since)
    if until is not None:
        query = query.where(audit.c.ts < until)
    for key, value in (detail or {}).items():
        # The detail text is canonical JSON (`append`), so the pair appears exactly like this.
        pair = json.dumps(key) + ":" + json.dumps(value)
        query = query.where(audit.c.detail.contains(pair, autoescape=True))
    return [_shaped(row) for row in conn.execute(query)]


def results_since(conn: Connection, action: str, since: float) -> list[tuple[float, str | None]]:
    """(time, result) of every `action` row written at or after `since`, oldest first."""
    rows = conn.execute(
        sa.select(audit.c.ts, audit.c.detail)
        .where(audit.c.action == action, audit.c.ts >= since)
        .order_by(audit.c.id)
    )
    return [(row.ts, json.loads(row.detail).get("result")) for row in rows]


class _Walk:
    """Follows the chain row by row from a known point and stops at the first problem; a row
    that an anchor names must be the anchored one."""

    def __init__(self, start: str, anchors: Sequence[Anchor] = ()) -> None:
        self.start = start
        self.seq, self.hash = _parse_point(start)
        self.rows = 0
        self.problem: str | None = None
        self.archived_through: str | None = None  # what the last audit_archive row names
        self.anchors = {anchor.seq: anchor for anchor in anchors}
        self.anchors_checked = 0

    @property
    def point(self) -> str:
        return f"{self.seq}:{self.hash}"

    def follow(self, rows: Iterable[Any], where: str = "") -> bool:
        """Walk `rows` (in seq order); False, with `problem` set, at the first bad one."""
        for row in rows:
            problem = self._check(row)
            if problem is not None:
                self.problem = where + problem
                return False
            self.rows += 1
            self.seq, self.hash = row.seq, row.hash
            if row.action == ARCHIVE_ACTION:
                self.archived_through = _archived_through(row.detail)
        return True

    def _check(self, row: Any) -> str | None:
        if row.seq != self.seq + 1:
            return f"row {self.seq + 1} is missing (next row is {row.seq})"
        if row.prev_hash != self.hash:
            return f"row {row.seq} does not link to row {row.seq - 1}"
        digest = row_hash(row.seq, row.ts, row.action, row.token_id, row.detail, row.prev_hash)
        if digest != row.hash:
            return f"row {row.seq} was altered (its content does not match its hash)"
        anchor = self.anchors.get(row.seq)
        if anchor is not None:
            if anchor.hash != row.hash:
                return (
                    f"row {row.seq} is not the row anchored on line {anchor.line} of the "
                    "anchors (the chain was rewritten)"
                )
            self.anchors_checked += 1
        return None

    def report(self, problem: str | None = None) -> AuditReport:
        problem = problem or self.problem
        return AuditReport(
            problem is None, self.rows, self.point, problem, self.start, self.anchors_checked
        )


def _archived_through(detail: str) -> str | None:
    """The point an audit_archive row names; None if its detail is not what `drop_archived`
    writes (a row forged with a recomputed hash must not crash the check)."""
    try:
        fields = json.loads(detail)
    except (ValueError, RecursionError):
        return None
    return fields.get("through") if isinstance(fields, dict) else None


def verify(
    conn: Connection, archives: Sequence[Iterable[str]] = (), anchors: Sequence[Anchor] = ()
) -> AuditReport:
    """Walk the sealed chain: through `archives` (each file's lines, oldest first, from row 1)
    and on through the database, or from the database's base when no archive is given; then
    compare its end with the stored head and with the newest of `anchors` (checked signed
    heads, verifier/audit_anchors.py). Rows not sealed yet are not part of it (`seal`)."""
    base = get_meta(conn, AUDIT_BASE) or START
    walk = _Walk(START if archives else base, anchors)
    for number, lines in enumerate(archives, start=1):
        where = f"archive {number}: "
        try:
            if not walk.follow(_archived_rows(lines, walk.point), where):
                return walk.report()
        except ValueError as exc:  # ArchiveError, or a file that is not UTF-8 text
            return walk.report(f"{where}{exc}")
    if walk.point != base:
        return walk.report(
            f"the archives end at row {walk.seq} but the database continues after row "
            f"{_parse_point(base)[0]}"
        )
    rows = conn.execute(sa.select(audit).where(audit.c.seq > walk.seq).order_by(audit.c.seq))
    if not walk.follow(rows.yield_per(1000)):
        return walk.report()
    head_seq, head_hash = _parse_point(get_meta(conn, AUDIT_HEAD))
    if (head_seq, head_hash) != (walk.seq, walk.hash):
        return walk.report(
            f"the chain ends at row {walk.seq} but its recorded head is row {head_seq}"
            " (rows were deleted from the end, or the head was altered)"
        )
    newest = max(anchors, key=lambda anchor: anchor.seq, default=None)
    if newest is not None and newest.seq > walk.seq:
        return walk.report(
            f"the chain ends at row {walk.seq} but line {newest.line} of the anchors says it "
            f"reached row {newest.seq} (rows were deleted from the end and the head moved back)"
        )
    if base != START and walk.archived_through != base:
        return walk.report(
            f"the database's rows start after row {_parse_point(base)[0]}, but no audit_archive"
            " row says so (rows were deleted from the start, or the base was altered)"
        )
    return walk.report()


# ------------------------------------------------------------------------------ archiving


def archive_end(conn: Connection, before: float) -> str | None:
    """The last row to archive (`seq:hash`): the database's rows from its base up to, not
    including, the first row written at or after `before`; None when there is none."""
    base_seq, _ = _parse_point(get_meta(conn, AUDIT_BASE))
    first_kept = conn.execute(
        sa.select(sa.func.min(audit.c.seq)).where(audit.c.seq > base_seq, audit.c.ts >= before)
    ).scalar()
    query = sa.select(audit.c.seq, audit.c.hash).where(audit.c.seq > base_seq)
    if first_kept is not None:
        query = query.where(audit.c.seq < first_kept)
    last = conn.execute(query.order_by(audit.c.seq.desc()).limit(1)).first()
    return None if last is None else f"{last.seq}:{last.hash}"


def archive_lines(conn: Connection, through: str) -> Iterator[str]:
    """The archive file's lines: a header naming the rows' start and end points, then every
    row after the database's base through `through`, each exactly as stored."""
    after = get_meta(conn, AUDIT_BASE) or START
    through_seq, _ = _parse_point(through)
    header = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "after": after,
        "through": through,
    }
    yield json.dumps(header, sort_keys=True) + "\n"
    rows = conn.execute(
        sa.select(*(audit.c[name] for name in Row._fields))
        .where(audit.c.seq > _parse_point(after)[0], audit.c.seq <= through_seq)
        .order_by(audit.c.seq)
    )
    for row in rows.yield_per(1000):
        yield json.dumps(Row(*row)._asdict(), sort_keys=True) + "\n"


def drop_archived(conn: Connection, through: str, now: float) -> int:
    """Delete the rows through `through` (already written to an archive), make it the
    database's base and chain an audit_archive row naming it; returns the rows deleted. Only
    under `take_seal_lock`."""
    through_seq, _ = _parse_point(through)
    deleted = conn.execute(sa.delete(audit).where(audit.c.seq <= through_seq)).rowcount
    set_meta(conn, AUDIT_BASE, through)
    append(conn, ARCHIVE_ACTION, None, now, through=through, rows=deleted)
    seal(conn)
    return deleted


def _archived_rows(lines: Iterable[str], after: str) -> Iterator[Row]:
    """The rows of one archive file, checking that its header continues the chain at `after`
    and that its rows reach the end it names."""
    numbered = enumerate(lines, start=1)
    header = _json_line(next(numbered, (1, "")), "the header")
    if not isinstance(header, dict) or header.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError("not a Baoling audit archive (line 1 is not its header)")
    if header.get("version") != ARCHIVE_VERSION:
        raise ArchiveError(f"archive version {header.get('version')!r} is not supported")
    if header.get("after") != after:
        raise ArchiveError(
            f"it starts after row {str(header.get('after')).partition(':')[0]}, not after row "
            f"{after.partition(':')[0]} (archives must be given oldest first, from the first)"
        )
    last = after
    for number, text in numbered:
        fields = _json_line((number, text), f"line {number}")
        try:
            row = Row(**fields)
        except TypeError:
            raise ArchiveError(f"line {number} is not an audit row") from None
        last = f"{row.seq}:{row.hash}"
        yield row
    if last != header.get("through"):
        raise ArchiveError(
            f"it ends at row {last.partition(':')[0]} but its header says row "
            f"{str(header.get('through')).partition(':')[0]} (the file was cut short)"
        )


def _json_line(numbered: tuple[int, str], what: str) -> Any:
    number, text = numbered
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise ArchiveError(f"{what} (line {number}) is not JSON") from None
