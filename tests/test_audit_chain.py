"""The hash-chained audit trail on SQLite and PostgreSQL: every operation leaves a row without a
code or a secret, and verify_audit() finds an edited row, a deleted row and a cut-off end."""

import base64
import json

import sqlalchemy as sa

from baoling.verifier.audit import row_hash
from baoling.verifier.engine import Policy
from baoling.verifier.store import audit, make_engine
from tests.test_verifier_service import SECRET, T0, code_at, wrong_code


def tamper(store_url, data_dir, *statements: sa.Executable) -> None:
    """Change the database behind the verifier's back, as an intruder with write access."""
    engine = make_engine(store_url or f"sqlite:///{data_dir / 'verifier.sqlite3'}")
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)
    engine.dispose()


def busy_verifier(make_verifier):
    """A verifier that has done every audited operation once, and the codes it was sent."""
    v = make_verifier(Policy(lockout_after_fails=2, lockout_seconds=60))
    v.enrol("alice", SECRET, label="Alice", now=T0)
    codes = [
        code_at(SECRET, T0),
        wrong_code(SECRET, T0),
        code_at(SECRET, T0 + 300),
        code_at(SECRET, T0 + 330),
        code_at(SECRET, T0 + 360),
    ]
    v.validate("alice", codes[0], now=T0)
    v.validate("alice", codes[1], now=T0)
    v.validate("alice", codes[1], now=T0)  # second failure: locks
    v.unlock("alice")
    v.resync("alice", codes[2], codes[3], now=T0)
    v.disable("alice")
    v.enable("alice")
    v.rotate_key()
    v.validate("alice", codes[4], now=T0 + 30)
    v.delete("alice")
    v.seal_audit()  # as a serving node's sealer does within audit_seal_seconds
    return v, codes


def test_every_operation_is_audited_in_order(make_verifier):
    v, _ = busy_verifier(make_verifier)
    rows = list(reversed(v.audit(limit=100)))
    assert [(r["action"], r["detail"].get("result"), r["detail"].get("reason")) for r in rows] == [
        ("enrol", None, None),
        ("validate", "accept", "accepted"),
        ("validate", "reject", "wrong_code"),
        ("validate", "reject", "wrong_code"),
        ("lock", None, None),  # after the failure that locked: its row is written with its count
        ("unlock", None, None),
        ("resync", "accept", "resynced"),
        ("disable", None, None),
        ("enable", None, None),
        ("rotate_key", None, None),
        ("validate", "accept", "accepted"),
        ("delete", None, None),
    ]
    assert [r["seq"] for r in rows] == list(range(1, 13))
    assert {r["token"] for r in rows} == {"alice", None}
    report = v.verify_audit()
    assert (report.ok, report.rows, report.problem) == (True, 12, None)
    assert report.head.startswith("12:")


def test_audit_rows_hold_no_code_and_no_secret(make_verifier, store_url, data_dir):
    v, codes = busy_verifier(make_verifier)
    engine = make_engine(store_url or f"sqlite:///{data_dir / 'verifier.sqlite3'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit.c.action, audit.c.token_id, audit.c.detail))
        text = json.dumps([list(row) for row in rows])
    engine.dispose()
    b32 = base64.b32encode(SECRET).decode()
    assert "wrong_code" in text  # the rows really were read
    for needle in [*codes, SECRET.hex(), b32, b32.lower(), SECRET.decode("latin-1")]:
        assert needle not in text


def test_edited_row_is_detected(make_verifier, store_url, data_dir):
    v, _ = busy_verifier(make_verifier)
    tamper(
        store_url,
        data_dir,
        audit.update()
        .where(audit.c.seq == 3)
        .values(detail=json.dumps({"result": "accept", "reason": "accepted"})),
    )
    report = v.verify_audit()
    assert not report.ok
    assert report.problem == "row 3 was altered (its content does not match its hash)"
    assert report.rows == 2


def test_edited_row_with_recomputed_hash_breaks_the_next_link(make_verifier, store_url, data_dir):
    v, _ = busy_verifier(make_verifier)
    row = v.audit(limit=100)[-3]  # seq 3
    detail = json.dumps({"result": "accept"})
    engine = make_engine(store_url or f"sqlite:///{data_dir / 'verifier.sqlite3'}")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(audit).where(audit.c.seq == 3)).one()
    engine.dispose()
    forged = row_hash(3, stored.ts, stored.action, row["token"], detail, stored.prev_hash)
    tamper(
        store_url,
        data_dir,
        audit.update().where(audit.c.seq == 3).values(detail=detail, hash=forged),
    )
    assert v.verify_audit().problem == "row 4 does not link to row 3"


def test_deleted_row_is_detected(make_verifier, store_url, data_dir):
    v, _ = busy_verifier(make_verifier)
    tamper(store_url, data_dir, audit.delete().where(audit.c.seq == 5))
    report = v.verify_audit()
    assert (report.ok, report.problem) == (False, "row 5 is missing (next row is 6)")


def test_deleted_first_row_is_detected(make_verifier, store_url, data_dir):
    v, _ = busy_verifier(make_verifier)
    tamper(store_url, data_dir, audit.delete().where(audit.c.seq == 1))
    assert v.verify_audit().problem == "row 1 is missing (next row is 2)"


def test_deleted_last_rows_are_detected(make_verifier, store_url, data_dir):
    v, _ = busy_verifier(make_verifier)
    tamper(store_url, data_dir, audit.delete().where(audit.c.seq >= 11))
    report = v.verify_audit()
    assert not report.ok
    assert report.problem == (
        "the chain ends at row 10 but its recorded head is row 12"
        " (rows were deleted from the end, or the head was altered)"
    )
