"""Archiving old audit rows to a file, on SQLite and PostgreSQL: the chain stays one chain
across the files and the database, and every way of breaking it is still reported."""

import base64
import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from baoling.verifier.audit import row_hash
from baoling.verifier.errors import AuditError, InvalidRequest
from baoling.verifier.store import AUDIT_BASE, AUDIT_HEAD, audit, make_engine, meta
from tests.test_audit_chain import tamper
from tests.test_verifier_cli import baoling
from tests.test_verifier_service import SECRET, code_at, wrong_code


def history(v, start: float, days: int) -> list[str]:
    """One right and one wrong code a day for `days` days from `start`; the codes sent."""
    v.enrol("alice", SECRET)
    sent = []
    for day in range(days):
        now = start + day * 86_400
        sent += [code_at(SECRET, now), wrong_code(SECRET, now)]
        assert v.validate("alice", sent[-2], now=now)
        assert not v.validate("alice", sent[-1], now=now)
    v.seal_audit()  # as a serving node's sealer does within audit_seal_seconds
    return sent


def rows_in_database(v) -> list[tuple[int, str]]:
    return [(row["seq"], row["action"]) for row in reversed(v.audit(limit=1000))]


@pytest.fixture
def start() -> float:
    """The first day of the history: after the enrolment row, which is written at the real
    time of the test."""
    return time.time() + 60


def test_old_rows_move_to_the_file_and_the_chain_still_verifies(make_verifier, start, tmp_path):
    v = make_verifier()
    history(v, start, days=4)  # rows 1 (enrol) to 9
    archive = tmp_path / "audit-1.jsonl"

    assert v.archive_audit(archive, before=start + 2 * 86_400) == 5  # enrol + two days

    lines = archive.read_text().splitlines()
    header, rows = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert [row["seq"] for row in rows] == [1, 2, 3, 4, 5]
    assert header["after"] == f"0:{'0' * 64}"
    assert header["through"] == f"5:{rows[-1]['hash']}"
    assert rows_in_database(v) == [
        (6, "validate"),
        (7, "validate"),
        (8, "validate"),
        (9, "validate"),
        (10, "audit_archive"),
    ]
    assert v.audit(limit=1)[0]["detail"] == {"through": header["through"], "rows": 5}

    alone = v.verify_audit()
    assert (alone.ok, alone.rows, alone.start) == (True, 5, header["through"])
    whole = v.verify_audit(archives=[archive])
    assert (whole.ok, whole.rows, whole.head) == (True, 10, alone.head)


def test_archives_chain_on_and_must_be_given_oldest_first(make_verifier, start, tmp_path):
    v = make_verifier()
    history(v, start, days=4)
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    assert v.archive_audit(first, before=start + 86_400) == 3
    # Rows 4-7: row 8 is from the third day, so the first archive's row (10) stays too.
    assert v.archive_audit(second, before=start + 3 * 86_400) == 4

    assert v.verify_audit(archives=[first, second]).ok
    assert v.verify_audit(archives=[first, second]).rows == 11
    assert v.verify_audit(archives=[second, first]).problem == (
        "archive 1: it starts after row 3, not after row 0 (archives must be given oldest "
        "first, from the first)"
    )
    assert v.verify_audit(archives=[first]).problem == (
        "the archives end at row 3 but the database continues after row 7"
    )


def test_nothing_old_enough_writes_no_file(make_verifier, start, tmp_path):
    v = make_verifier()
    history(v, start, days=1)
    archive = tmp_path / "none.jsonl"
    assert v.archive_audit(archive, before=start - 3600 * 24) == 0
    assert not archive.exists()
    assert [seq for seq, _ in rows_in_database(v)] == [1, 2, 3]


def test_a_broken_chain_is_not_archived(make_verifier, store_url, data_dir, start, tmp_path):
    v = make_verifier()
    history(v, start, days=2)
    tamper(store_url, data_dir, audit.update().where(audit.c.seq == 2).values(action="delete"))
    archive = tmp_path / "a.jsonl"
    with pytest.raises(AuditError) as caught:
        v.archive_audit(archive, before=start + 86_400)
    assert str(caught.value) == (
        "the audit chain is broken (row 2 was altered (its content does not match its hash));"
        " nothing was archived"
    )
    assert not archive.exists()
    assert len(rows_in_database(v)) == 5


def test_an_existing_file_is_never_overwritten(make_verifier, start, tmp_path):
    v = make_verifier()
    history(v, start, days=2)
    archive = tmp_path / "kept.jsonl"
    archive.write_text("someone's file\n")
    with pytest.raises(InvalidRequest) as caught:
        v.archive_audit(archive, before=start + 86_400)
    assert str(caught.value) == f"{archive} already exists; nothing was archived"
    assert archive.read_text() == "someone's file\n"
    assert len(rows_in_database(v)) == 5


def test_an_unwritable_file_loses_no_row(make_verifier, start, tmp_path):
    v = make_verifier()
    history(v, start, days=2)
    archive = tmp_path / "missing-folder" / "a.jsonl"
    with pytest.raises(InvalidRequest) as caught:
        v.archive_audit(archive, before=start + 86_400)
    assert str(caught.value).startswith(f"cannot write {archive}: ")
    assert str(caught.value).endswith("; nothing was archived")
    assert len(rows_in_database(v)) == 5
    assert v.verify_audit().ok


def test_archive_file_holds_no_code_and_no_secret(make_verifier, start, tmp_path):
    v = make_verifier()
    codes = history(v, start, days=3)
    archive = tmp_path / "a.jsonl"
    v.archive_audit(archive, before=start + 3 * 86_400)
    text = archive.read_text()
    b32 = base64.b32encode(SECRET).decode()
    assert "wrong_code" in text  # the rows really are there
    for needle in [*codes, SECRET.hex(), b32, b32.lower()]:
        assert needle not in text


def edit_line(path: Path, number: int, **changes: object) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = json.dumps({**json.loads(lines[number - 1]), **changes})
    path.write_text("\n".join(lines) + "\n")


def test_an_edited_archive_row_is_detected(make_verifier, start, tmp_path):
    v = make_verifier()
    history(v, start, days=3)
    archive = tmp_path / "a.jsonl"
    v.archive_audit(archive, before=start + 2 * 86_400)
    edit_line(archive, 4, detail=json.dumps({"reason": "accepted", "result": "accept"}))
    report = v.verify_audit(archives=[archive])
    assert (report.ok, report.rows) == (False, 2)
    assert report.problem == "archive 1: row 3 was altered (its content does not match its hash)"


def test_an_archive_cut_short_is_detected(make_verifier, start, tmp_path):
    v = make_verifier()
    history(v, start, days=3)
    archive = tmp_path / "a.jsonl"
    v.archive_audit(archive, before=start + 2 * 86_400)
    archive.write_text("".join(archive.read_text().splitlines(keepends=True)[:-2]))
    assert v.verify_audit(archives=[archive]).problem == (
        "archive 1: it ends at row 3 but its header says row 5 (the file was cut short)"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "archive 1: the header (line 1) is not JSON"),
        ("[" * 100_000 + "]" * 100_000 + "\n", "archive 1: the header (line 1) is not JSON"),
        (
            '{"format": "something else"}\n',
            "archive 1: not a Baoling audit archive (line 1 is not its header)",
        ),
        (
            '{"format": "baoling-audit-archive", "version": 2}\n',
            "archive 1: archive version 2 is not supported",
        ),
    ],
    ids=["empty", "too-deep", "other-json", "newer-version"],
)
def test_a_file_that_is_no_archive_is_reported(make_verifier, start, tmp_path, content, problem):
    v = make_verifier()
    history(v, start, days=1)
    path = tmp_path / "other.jsonl"
    path.write_text(content)
    assert v.verify_audit(archives=[path]).problem == problem


def test_a_garbled_archive_line_is_reported(make_verifier, start, tmp_path):
    v = make_verifier()
    history(v, start, days=2)
    archive = tmp_path / "a.jsonl"
    v.archive_audit(archive, before=start + 86_400)
    lines = archive.read_text().splitlines()
    archive.write_text("\n".join([lines[0], lines[1], "[1, 2]", *lines[3:]]) + "\n")
    assert v.verify_audit(archives=[archive]).problem == "archive 1: line 3 is not an audit row"


def test_rows_deleted_after_the_base_are_still_detected(
    make_verifier, store_url, data_dir, start, tmp_path
):
    v = make_verifier()
    history(v, start, days=3)
    v.archive_audit(tmp_path / "a.jsonl", before=start + 86_400)  # rows 1-3
    tamper(store_url, data_dir, audit.delete().where(audit.c.seq == 4))
    assert v.verify_audit().problem == "row 4 is missing (next row is 5)"


def test_a_base_moved_by_hand_is_detected(make_verifier, store_url, data_dir, start, tmp_path):
    """An intruder deletes old rows and moves the base past them, as if they were archived."""
    v = make_verifier()
    history(v, start, days=3)
    v.archive_audit(tmp_path / "a.jsonl", before=start + 86_400)  # rows 1-3
    fifth = _stored_hash(store_url, data_dir, 5)
    tamper(
        store_url,
        data_dir,
        audit.delete().where(audit.c.seq <= 5),
        meta.update().where(meta.c.name == AUDIT_BASE).values(value=f"5:{fifth}"),
    )
    assert v.verify_audit().problem == (
        "the database's rows start after row 5, but no audit_archive row says so (rows were"
        " deleted from the start, or the base was altered)"
    )


def _stored_hash(store_url, data_dir, seq: int) -> str:
    engine = make_engine(store_url or f"sqlite:///{data_dir / 'verifier.sqlite3'}")
    with engine.connect() as conn:
        digest = conn.execute(sa.select(audit.c.hash).where(audit.c.seq == seq)).scalar_one()
    engine.dispose()
    return digest


# ------------------------------------------------------------------------------------ CLI


def test_cli_archives_and_verifies_through_the_archive(data_dir, tmp_path):
    enrolled = baoling(
        data_dir, "enrol", "alice", "--secret", stdin=base64.b32encode(SECRET).decode() + "\n"
    )
    assert enrolled.returncode == 0
    archive = tmp_path / "audit.jsonl"
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86_400))

    archived = baoling(data_dir, "audit", "archive", "--before", tomorrow, "--to", str(archive))
    assert (archived.returncode, archived.stderr) == (0, "")
    assert archived.stdout == f"Archived 1 audit rows to {archive}.\n"

    alone = baoling(data_dir, "audit", "verify", "--json")
    assert json.loads(alone.stdout)["rows"] == 1  # the audit_archive row
    whole = baoling(data_dir, "audit", "verify", "--archive", str(archive))
    assert whole.returncode == 0
    assert whole.stdout.startswith("Audit chain intact: 2 rows, head 2:")

    again = baoling(
        data_dir, "audit", "archive", "--before", "2026-11-01", "--to", str(tmp_path / "none.jsonl")
    )
    assert again.stdout == "No audit row before 2026-11-01; no file written.\n"


def test_cli_archive_errors_are_one_line(data_dir, tmp_path):
    taken = tmp_path / "taken.jsonl"
    taken.write_text("")
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86_400))
    baoling(data_dir, "enrol", "alice", "--secret", stdin=base64.b32encode(SECRET).decode())

    refused = baoling(data_dir, "audit", "archive", "--before", tomorrow, "--to", str(taken))
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == f"Error: {taken} already exists; nothing was archived\n"

    missing = tmp_path / "missing.jsonl"
    unread = baoling(data_dir, "audit", "verify", "--archive", str(missing))
    assert unread.returncode == 1
    assert unread.stderr == f"Error: cannot read {missing}: No such file or directory\n"

    broken = baoling(data_dir, "audit", "verify", "--archive", str(taken))
    assert broken.returncode == 1
    assert broken.stdout == "Audit chain broken: archive 1: the header (line 1) is not JSON\n"


def test_a_forged_archive_row_with_a_recomputed_hash_is_reported(
    make_verifier, store_url, data_dir, start, tmp_path
):
    """An intruder rewrites the audit_archive row's detail and every later hash and the head:
    the chain links, but the row no longer names the base."""
    v = make_verifier()
    history(v, start, days=1)
    v.archive_audit(tmp_path / "a.jsonl", before=start + 86_400)  # rows 1-3, then row 4
    engine = make_engine(store_url or f"sqlite:///{data_dir / 'verifier.sqlite3'}")
    with engine.begin() as conn:
        row = conn.execute(sa.select(audit).where(audit.c.seq == 4)).one()
        forged = row_hash(4, row.ts, row.action, row.token_id, "[]", row.prev_hash)
        conn.execute(audit.update().where(audit.c.seq == 4).values(detail="[]", hash=forged))
        conn.execute(meta.update().where(meta.c.name == AUDIT_HEAD).values(value=f"4:{forged}"))
    engine.dispose()
    report = v.verify_audit()
    assert not report.ok
    assert report.problem == (
        "the database's rows start after row 3, but no audit_archive row says so (rows were"
        " deleted from the start, or the base was altered)"
    )
