"""SQLite's group commit (verifier/group_commit.py, Store.grouped_write) on a real SQLite file:
a caller hears of its write only once the write is committed (another connection sees it), the
writes that wait behind a commit share the next one, and a write that fails is undone alone."""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from baoling.verifier import store
from baoling.verifier.errors import StoreError

THREADS = 8
WRITES_EACH = 25


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[store.Store, Path]]:
    path = tmp_path / "store.sqlite3"
    s = store.Store(store.sqlite_url(str(path)))
    with s.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER PRIMARY KEY)")
    yield s, path
    s.close()


def _insert(n: int) -> Callable[[Connection], int]:
    def write(conn: Connection) -> int:
        conn.exec_driver_sql(f"INSERT INTO t (n) VALUES ({n})")
        return n

    return write


def _rows(path: Path) -> list[int]:
    """The rows another connection sees: committed ones only (WAL readers see no others)."""
    with sqlite3.connect(path) as other:
        return [n for (n,) in other.execute("SELECT n FROM t ORDER BY n")]


def _waiting_writes(s: store.Store) -> int:
    assert s._group is not None
    return s._group._queue.qsize()


def test_each_write_is_committed_before_its_caller_hears_of_it(db):
    s, path = db
    unseen: list[int] = []

    def caller(first: int) -> None:
        with sqlite3.connect(path) as other:
            for n in range(first, first + WRITES_EACH):
                assert s.grouped_write(_insert(n)) == n
                if other.execute("SELECT n FROM t WHERE n = ?", (n,)).fetchone() is None:
                    unseen.append(n)

    threads = [threading.Thread(target=caller, args=(k * 1000,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert unseen == []
    assert len(_rows(path)) == THREADS * WRITES_EACH


def _grouped(
    s: store.Store,
    writes: list[Callable[[Connection], int]],
    meanwhile: Callable[[], object] = lambda: None,
) -> list[object]:
    """Run `writes` so that all but the first wait behind the first one's transaction (then
    call `meanwhile`), and return each caller's result or exception, in order."""
    started, release = threading.Event(), threading.Event()
    results: list[object] = [None] * len(writes)

    def first(conn: Connection) -> int:
        started.set()
        assert release.wait(30)
        return writes[0](conn)

    def caller(i: int, write: Callable[[Connection], int]) -> None:
        try:
            results[i] = s.grouped_write(write)
        except Exception as exc:  # noqa: BLE001 (the test looks at it)
            results[i] = exc

    threads = [threading.Thread(target=caller, args=(0, first))]
    threads[0].start()
    assert started.wait(30)  # the writer thread runs the first write
    deadline = time.monotonic() + 30
    for i, write in enumerate(writes[1:], start=1):
        threads.append(threading.Thread(target=caller, args=(i, write)))
        threads[-1].start()
    while _waiting_writes(s) < len(writes) - 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    meanwhile()
    release.set()
    for thread in threads:
        thread.join()
    return results


def test_writes_that_wait_behind_a_commit_share_the_next_one(db):
    s, path = db
    commits: list[None] = []
    sa.event.listen(s.engine, "commit", lambda _conn: commits.append(None))
    assert _grouped(s, [_insert(n) for n in range(1, 7)]) == [1, 2, 3, 4, 5, 6]
    assert len(commits) == 2  # the first write's, and one for the five that waited
    assert _rows(path) == [1, 2, 3, 4, 5, 6]


def test_a_write_that_fails_is_undone_alone(db):
    s, path = db

    def fails(conn: Connection) -> int:
        _insert(3)(conn)
        raise ValueError("this write fails after its insert")

    results = _grouped(s, [_insert(1), _insert(2), fails, _insert(4)])
    assert results[:2] == [1, 2] and results[3] == 4
    assert isinstance(results[2], ValueError)
    assert str(results[2]) == "this write fails after its insert"
    assert _rows(path) == [1, 2, 4]


def test_closing_the_store_commits_the_writes_it_holds_first(db):
    s, path = db
    closing = threading.Thread(target=s.close)
    # While the first write blocks and three more wait behind it.
    assert _grouped(s, [_insert(n) for n in range(1, 5)], closing.start) == [1, 2, 3, 4]
    closing.join()
    assert _rows(path) == [1, 2, 3, 4]
    with pytest.raises(StoreError) as raised:
        s.grouped_write(_insert(5))
    assert str(raised.value) == "the store is closed"
