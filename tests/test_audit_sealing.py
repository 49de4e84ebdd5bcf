"""The audit trail without a global lock (verifier/audit.py): validations of different tokens
never wait for each other, on one node or two; rows appended by two nodes at once are sealed
into one chain in which edits, deletions, insertions and reordering are found, on SQLite and
PostgreSQL; and signed anchors (verifier/audit_anchors.py) catch what the chain alone cannot,
its last rows deleted with the head moved back."""

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.audit import row_hash
from baoling.verifier.errors import InvalidRequest
from baoling.verifier.service import Verifier
from baoling.verifier.store import AUDIT_HEAD, audit, make_engine, meta
from tests.test_audit_chain import tamper
from tests.test_verifier_cli import baoling
from tests.test_verifier_service import SECRET, T0, code_at, wrong_code

NODES = 2
ROUNDS = 6  # validations per token and node


def two_nodes(make_verifier) -> tuple[Verifier, Verifier]:
    """Two Verifiers on one store, as two nodes, with tokens t0..t3 enrolled."""
    one, two = make_verifier(), make_verifier()
    for token in ("t0", "t1", "t2", "t3"):
        one.enrol(token, SECRET, now=T0)
    return one, two


def write_at_once(nodes: tuple[Verifier, Verifier]) -> None:
    """Both nodes validate right and wrong codes of every token at the same time."""

    def work(node: int) -> None:
        v = nodes[node]
        for i in range(ROUNDS):
            now = T0 + 30 * (2 * i + node)
            for token in ("t0", "t1", "t2", "t3"):
                v.validate(token, code_at(SECRET, now), now=now)
                v.validate(token, wrong_code(SECRET, now), now=now)

    threads = [threading.Thread(target=work, args=(node,)) for node in range(NODES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def rows(store_url, data_dir) -> list[sa.Row]:
    engine = make_engine(store_url or f"sqlite:///{data_dir / 'verifier.sqlite3'}")
    with engine.connect() as conn:
        found = list(conn.execute(sa.select(audit).order_by(audit.c.seq)))
    engine.dispose()
    return found


@pytest.fixture
def chain(make_verifier, store_url, data_dir) -> tuple[Verifier, Verifier, list[sa.Row]]:
    """Two nodes that wrote at once, their rows sealed into one intact chain."""
    one, two = two_nodes(make_verifier)
    write_at_once((one, two))
    report = two.verify_audit()
    expected = 4 + NODES * ROUNDS * 4 * 2  # enrolments, then a right and a wrong code each
    assert (report.ok, report.problem) == (True, None)
    assert report.rows >= expected  # and a lock row per token and node when failures add up
    sealed = rows(store_url, data_dir)
    assert [row.seq for row in sealed] == list(range(1, report.rows + 1))
    assert report.head == f"{sealed[-1].seq}:{sealed[-1].hash}"
    return one, two, sealed


def test_two_nodes_writing_at_once_make_one_intact_chain(chain):
    one, _, sealed = chain
    shown = one.audit(limit=10_000)
    assert sorted(row["seq"] for row in shown) == [row.seq for row in sealed]
    validations = [row for row in shown if row["action"] == "validate"]
    assert len(validations) == NODES * ROUNDS * 4 * 2


def test_an_edited_row_is_found(chain, store_url, data_dir):
    one, _, sealed = chain
    middle = sealed[len(sealed) // 2]
    edited = json.dumps({"result": "accept", "reason": "accepted"})
    tamper(
        store_url, data_dir, audit.update().where(audit.c.seq == middle.seq).values(detail=edited)
    )
    assert one.verify_audit().problem == (
        f"row {middle.seq} was altered (its content does not match its hash)"
    )


def test_a_deleted_row_is_found(chain, store_url, data_dir):
    one, _, sealed = chain
    gone = sealed[10].seq
    tamper(store_url, data_dir, audit.delete().where(audit.c.seq == gone))
    assert one.verify_audit().problem == f"row {gone} is missing (next row is {gone + 1})"


def test_an_inserted_row_is_found(chain, store_url, data_dir):
    """A forged row put into the middle, later rows renumbered to make room, linked and hashed
    as the sealer would: the row after it still links to the row before it."""
    one, _, sealed = chain
    at = sealed[10]
    prev = sealed[9]
    forged = row_hash(at.seq, at.ts, "unlock", "t0", "{}", prev.hash)
    tamper(
        store_url,
        data_dir,
        audit.update().where(audit.c.seq >= at.seq).values(seq=-audit.c.seq),
        audit.update().where(audit.c.seq < 0).values(seq=1 - audit.c.seq),
        audit.insert().values(
            seq=at.seq,
            ts=at.ts,
            action="unlock",
            token_id="t0",
            detail="{}",
            prev_hash=prev.hash,
            hash=forged,
        ),
    )
    assert one.verify_audit().problem == f"row {at.seq + 1} does not link to row {at.seq}"


def test_a_row_added_after_the_head_is_found(chain, store_url, data_dir):
    one, _, sealed = chain
    last = sealed[-1]
    seq = last.seq + 1
    tamper(
        store_url,
        data_dir,
        audit.insert().values(
            seq=seq,
            ts=last.ts,
            action="unlock",
            token_id="t0",
            detail="{}",
            prev_hash=last.hash,
            hash=row_hash(seq, last.ts, "unlock", "t0", "{}", last.hash),
        ),
    )
    assert one.verify_audit().problem == (
        f"the chain ends at row {seq} but its recorded head is row {last.seq}"
        " (rows were deleted from the end, or the head was altered)"
    )


def test_reordered_rows_are_found(chain, store_url, data_dir):
    one, _, sealed = chain
    a, b = sealed[20], sealed[21]
    tamper(
        store_url,
        data_dir,
        audit.update().where(audit.c.seq == a.seq).values(seq=-1),
        audit.update().where(audit.c.seq == b.seq).values(seq=a.seq),
        audit.update().where(audit.c.seq == -1).values(seq=b.seq),
    )
    assert one.verify_audit().problem == f"row {a.seq} does not link to row {a.seq - 1}"


def delete_last_row_and_move_head_back(store_url, data_dir, sealed: list[sa.Row]) -> None:
    last, before = sealed[-1], sealed[-2]
    tamper(
        store_url,
        data_dir,
        audit.delete().where(audit.c.seq == last.seq),
        meta.update().where(meta.c.name == AUDIT_HEAD).values(value=f"{before.seq}:{before.hash}"),
    )


def test_anchors_catch_the_last_row_deleted_and_the_head_moved_back(chain, store_url, data_dir):
    one, two, sealed = chain
    anchors = data_dir.parent / "anchors.jsonl"
    assert two.anchor_audit(anchors) == f"{sealed[-1].seq}:{sealed[-1].hash}"
    assert two.anchor_audit(anchors) is None  # the head has not moved: no new line
    report = one.verify_audit(anchors=anchors)
    assert (report.ok, report.anchors) == (True, 1)

    delete_last_row_and_move_head_back(store_url, data_dir, sealed)

    assert one.verify_audit().ok  # the gap the chain alone leaves
    report = one.verify_audit(anchors=anchors)
    assert (report.ok, report.problem) == (
        False,
        f"the chain ends at row {sealed[-2].seq} but line 1 of the anchors says it reached row "
        f"{sealed[-1].seq} (rows were deleted from the end and the head moved back)",
    )


def test_an_anchor_names_a_row_that_was_rewritten(chain, store_url, data_dir):
    """The whole chain rehashed after an edit, head included: only the anchor shows it."""
    one, _, sealed = chain
    anchors = data_dir.parent / "anchors.jsonl"
    one.anchor_audit(anchors)
    prev, rewritten = sealed[-2].hash, sealed[-1]
    forged = row_hash(rewritten.seq, rewritten.ts, "unlock", "t0", "{}", prev)
    tamper(
        store_url,
        data_dir,
        audit.update()
        .where(audit.c.seq == rewritten.seq)
        .values(action="unlock", token_id="t0", detail="{}", hash=forged),
        meta.update().where(meta.c.name == AUDIT_HEAD).values(value=f"{rewritten.seq}:{forged}"),
    )
    assert one.verify_audit().ok
    assert one.verify_audit(anchors=anchors).problem == (
        f"row {rewritten.seq} is not the row anchored on line 1 of the anchors "
        "(the chain was rewritten)"
    )


def test_a_forged_anchor_is_refused(chain, data_dir):
    one, _, sealed = chain
    anchors = data_dir.parent / "anchors.jsonl"
    one.anchor_audit(anchors)
    line = json.loads(anchors.read_text())
    line["anchor"] = f"{sealed[-1].seq + 5}:{'a' * 64}"
    anchors.write_text(anchors.read_text() + json.dumps(line) + "\n")
    report = one.verify_audit(anchors=anchors)
    assert (report.ok, report.problem) == (
        False,
        f"anchors file {anchors}: line 2 is not signed by this master key (forged or altered)",
    )


def test_an_anchor_line_nested_too_deeply_is_reported_not_raised(chain, data_dir):
    one, _, _ = chain
    anchors = data_dir.parent / "anchors.jsonl"
    one.anchor_audit(anchors)
    anchors.write_text(anchors.read_text() + "[" * 100_000 + "]" * 100_000 + "\n")
    report = one.verify_audit(anchors=anchors)
    assert (report.ok, report.problem) == (
        False,
        f"anchors file {anchors}: line 2 is not an audit anchor",
    )


def test_audit_verify_anchors_on_the_command_line(make_verifier, store_url, data_dir):
    v = make_verifier()
    v.enrol("alice", SECRET, now=T0)
    v.validate("alice", code_at(SECRET, T0), now=T0)
    v.validate("alice", wrong_code(SECRET, T0), now=T0)
    anchors = data_dir.parent / "anchors.jsonl"
    v.seal_audit()  # as a serving node's sealer does within audit_seal_seconds
    v.anchor_audit(anchors)
    sealed = rows(store_url, data_dir)
    store = ["--store-url", store_url] if store_url else []
    done = baoling(data_dir, *store, "audit", "verify", "--anchors", str(anchors))
    head = f"{sealed[-1].seq}:{sealed[-1].hash}"
    assert (done.returncode, done.stdout) == (
        0,
        f"Audit chain intact: 3 rows, head {head}, 1 anchors checked.\n",
    )
    delete_last_row_and_move_head_back(store_url, data_dir, sealed)
    done = baoling(data_dir, *store, "audit", "verify", "--anchors", str(anchors))
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "Audit chain broken: the chain ends at row 2 but line 1 of the anchors says it reached "
        "row 3 (rows were deleted from the end and the head moved back)\n",
        "",
    )
    done = baoling(data_dir, *store, "audit", "verify", "--anchors", str(data_dir / "none"))
    assert (done.returncode, done.stderr) == (
        1,
        f"Error: cannot read {data_dir / 'none'}: No such file or directory\n",
    )


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_validations_of_other_tokens_do_not_wait_for_a_locked_token_row(make_verifier, store_url):
    """While another transaction holds token a's row, tokens b0..b3 validate on both nodes at
    once, and a waits (the lock is real) until it is released."""
    one, two = make_verifier(), make_verifier()
    others = [f"b{i}" for i in range(4)]
    for token in ["a", *others]:
        one.enrol(token, SECRET, now=T0)
    engine = make_engine(store_url)
    holder = engine.connect()
    holder.begin()
    holder.exec_driver_sql("SELECT * FROM tokens WHERE id = 'a' FOR UPDATE")
    pool = ThreadPoolExecutor(len(others) + 1)
    try:
        waiting = pool.submit(one.validate, "a", code_at(SECRET, T0), now=T0)
        answers = [
            pool.submit((one, two)[i % 2].validate, token, code_at(SECRET, T0), now=T0)
            for i, token in enumerate(others)
        ]
        assert [answer.result(timeout=20) for answer in answers] == [True] * len(others)
        time.sleep(0.5)
        assert not waiting.done()
    finally:
        holder.rollback()
        holder.close()
        pool.shutdown()
        engine.dispose()
    assert waiting.result() is True
    assert one.verify_audit().ok


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_serving_node_seals_and_anchors_by_itself(make_verifier, store_url, data_dir):
    """Rows appended unsealed on PostgreSQL are chained by a serving node's sealer within
    audit_seal_seconds, and its anchors file gets the signed head."""
    v = make_verifier()
    v.enrol("alice", SECRET, now=T0)
    anchors = data_dir.parent / "anchors.jsonl"
    flags = ["--audit-seal-seconds", "0.2", "--audit-anchor-seconds", "0.2"]
    serve = [*flags, "--audit-anchor-file", str(anchors)]
    with ServerProcess(["--store-url", store_url, "--data-dir", str(data_dir)], serve):
        v.validate("alice", code_at(SECRET, T0), now=T0)
        deadline = time.monotonic() + 20
        while any(row.seq is None for row in unsealed(store_url)):
            assert time.monotonic() < deadline, "the node did not seal the rows"
            time.sleep(0.1)
        sealed = rows(store_url, data_dir)
        head = f"{sealed[-1].seq}:{sealed[-1].hash}"
        while head not in (anchors.read_text() if anchors.exists() else ""):
            assert time.monotonic() < deadline, "the node did not anchor the head"
            time.sleep(0.1)
    assert v.verify_audit(anchors=anchors).ok


def unsealed(store_url: str) -> list[sa.Row]:
    engine = make_engine(store_url)
    with engine.connect() as conn:
        found = list(conn.execute(sa.select(audit.c.seq)))
    engine.dispose()
    return found


def test_an_emptied_anchors_file_is_reported_not_passed(chain, data_dir):
    one, _, _ = chain
    anchors = data_dir.parent / "anchors.jsonl"
    one.anchor_audit(anchors)
    assert one.verify_audit(anchors=anchors).ok
    anchors.write_text("\n")  # every line deleted
    report = one.verify_audit(anchors=anchors)
    assert (report.ok, report.problem) == (
        False,
        f"anchors file {anchors}: it holds no anchor, so nothing checks the chain's head "
        "(emptied, or started since the last anchor)",
    )


def test_an_empty_anchors_file_of_an_empty_chain_is_fine(make_verifier, data_dir):
    anchors = data_dir.parent / "anchors.jsonl"
    anchors.write_text("")
    assert make_verifier().verify_audit(anchors=anchors).ok


def test_anchors_path_is_not_text(make_verifier, data_dir):
    v = make_verifier()
    bad = data_dir.parent / "bad.jsonl"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(InvalidRequest, match=f"^{bad} is not an anchors file$"):
        v.verify_audit(anchors=Path(bad))


def test_reading_the_trail_on_sqlite_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """SQLite chains each row as it appends it: reading the trail takes no write lock, so it
    does not wait (up to the 30 s busy timeout) behind another program's write."""
    v = Verifier(data_dir=tmp_path)
    writer = None
    try:
        v.enrol("t0", SECRET, now=T0)
        writer = sqlite3.connect(tmp_path / "verifier.sqlite3")
        writer.execute("BEGIN IMMEDIATE")  # another program's write transaction, held
        with ThreadPoolExecutor(1) as pool:
            read = pool.submit(v.search_audit, token="t0")
            assert [row["action"] for row in read.result(timeout=10)] == ["enrol"]
            assert pool.submit(v.seal_audit).result(timeout=10) == 0
    finally:
        if writer is not None:
            writer.rollback()
            writer.close()
        v.close()
