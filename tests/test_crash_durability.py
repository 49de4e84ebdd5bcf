"""No crash of a PostgreSQL process forgets what a validation answered: an accepted code stays
accepted (a second try is a replay) and a failure that locked a token keeps it locked.

Each trial kills the backend that served the verifier with SIGKILL, as the OOM killer does,
right after the answer; PostgreSQL then ends every other backend and recovers from its WAL by
itself. A commit that had not been flushed to the WAL when the answer left (`synchronous_commit
= off`) is lost in that recovery. The database is set to `synchronous_commit = off`, as an
administrator might set it, to show that the store's own sessions do not follow it. The
suite's cluster runs with `fsync=off`, which does not matter here: a flushed commit has reached
the kernel, and only a machine crash loses what the kernel holds.

A power cut cannot be staged here; on SQLite the store's connections are checked to flush the
WAL at every commit (`synchronous=FULL`), which is what makes a commit survive one.
"""

import os
import signal
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import sqlalchemy as sa

from baoling.verifier import Verifier
from baoling.verifier.engine import LOCKED, REPLAY, Decision, Policy
from baoling.verifier.errors import StoreError
from baoling.verifier.store import Store, sqlite_url
from tests.fixtures_postgres import PostgresServer
from tests.test_verifier_service import SECRET, T0, code_at

TRIALS = 10
LOCK_AFTER = 3
RECOVERY_S = 30.0
T = TypeVar("T")


def _connect(server: PostgresServer, dbname: str) -> psycopg.Connection:
    return psycopg.connect(
        host=server.host, port=server.port, user="postgres", dbname=dbname, autocommit=True
    )


def _backends(server: PostgresServer, dbname: str) -> list[int]:
    """The pids of the client backends connected to `dbname` (the verifier's pool)."""
    with _connect(server, "postgres") as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchall()
    return [pid for (pid,) in rows]


def _wait_for_recovery(server: PostgresServer) -> None:
    """Until PostgreSQL accepts connections again after its crash restart."""
    deadline = time.monotonic() + RECOVERY_S
    while True:
        try:
            with _connect(server, "postgres") as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _check_after_crash(verifier: Verifier, token_id: str, code: str, now: float) -> Decision:
    """The verifier's answer once it reaches the database again (an attempt on a connection
    the crash ended fails closed with StoreError, and the next one uses a new connection)."""
    deadline = time.monotonic() + RECOVERY_S
    while True:
        try:
            return verifier.check(token_id, code, now=now)
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def crash_after(postgres_server: PostgresServer) -> Callable[[str, Callable[[], T]], T]:
    """Run an operation, then at once kill -9 the backend that served it, wait until
    PostgreSQL has recovered and return the operation's answer."""

    def crash_after(dbname: str, operation: Callable[[], T]) -> T:
        victims = _backends(postgres_server, dbname)
        assert victims, "the verifier holds no connection to kill"
        answer = operation()
        os.kill(victims[0], signal.SIGKILL)
        _wait_for_recovery(postgres_server)
        return answer

    return crash_after


@pytest.fixture
def database(postgres_server: PostgresServer) -> str:
    """A new database whose default is `synchronous_commit = off`; returns its URL."""
    url = postgres_server.create_database()
    with _connect(postgres_server, "postgres") as conn:
        conn.execute(f'ALTER DATABASE "{sa.make_url(url).database}" SET synchronous_commit = off')
    return url


@pytest.fixture
def verifier(database: str, tmp_path: Path) -> Iterator[Verifier]:
    policy = Policy(lockout_after_fails=LOCK_AFTER, lockout_seconds=3600)
    v = Verifier(database, data_dir=tmp_path / "data", policy=policy)
    yield v
    v.close()


def test_an_accepted_code_is_a_replay_after_a_backend_crash(verifier, database, crash_after):
    verifier.enrol("alice", SECRET, now=T0)
    dbname = sa.make_url(database).database
    for trial in range(TRIALS):
        now = T0 + 300 * trial
        code = code_at(SECRET, now)
        assert crash_after(dbname, partial(verifier.check, "alice", code, now=now)).accepted
        again = _check_after_crash(verifier, "alice", code, now)
        assert (trial, again.accepted, again.reason) == (trial, False, REPLAY)


def test_a_lock_survives_a_backend_crash(verifier, database, crash_after):
    dbname = sa.make_url(database).database
    for trial in range(TRIALS):
        token_id = f"bob{trial}"
        verifier.enrol(token_id, SECRET, now=T0)
        now = T0 + 300 * trial
        wrong = code_at(SECRET, now + 3000)  # ten windows away: a wrong code
        for _ in range(LOCK_AFTER - 1):
            assert not verifier.check(token_id, wrong, now=now).accepted
        crash_after(dbname, partial(verifier.check, token_id, wrong, now=now))
        right = _check_after_crash(verifier, token_id, code_at(SECRET, now), now)
        assert (trial, right.accepted, right.reason) == (trial, False, LOCKED)


def test_sqlite_flushes_every_commit(tmp_path):
    db = Store(sqlite_url(str(tmp_path / "store.sqlite3")))
    db.migrate()
    with db.write() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    db.close()
