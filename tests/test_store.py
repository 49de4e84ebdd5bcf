"""The store's SQL on SQLite and PostgreSQL: the atomic accept and failure updates, SQLite's WAL
file, and schema versioning with an upgrade from a database created at version 1 (who may
upgrade, and the `migrate` command: tests/test_migrate.py)."""

import json
import sqlite3

import pytest
import sqlalchemy as sa

from baoling.verifier import Verifier, crypto, store
from baoling.verifier.audit import row_hash
from baoling.verifier.drift import Drift
from baoling.verifier.engine import Policy
from baoling.verifier.errors import MasterKeyError, StoreError
from baoling.verifier.store import GENESIS_HASH, Store, audit, schema_version, tokens
from tests.test_verifier_service import SECRET, T0, code_at

LOCK_END = T0 + 600.0
# Locks of 600 s: the latest end a lock that holds can have is now + 600 + MAX_CLOCK_SKEW_S.
POLICY = Policy(lockout_seconds=600)


@pytest.fixture
def db(store_url, tmp_path):
    """A Store at the newest schema with one token row (the secret column is opaque here)."""
    s = Store(store_url or store.sqlite_url(str(tmp_path / "store.sqlite3")))
    s.migrate()
    with s.write() as conn:
        store.insert_token(
            conn,
            id="alice",
            secret=b"sealed",
            algorithm="sha1",
            digits=6,
            period_s=30,
            issuer="",
            label="",
            last_step=None,
            fail_count=0,
            locked_until=None,
            enabled=True,
            drift="{}",
            created=T0,
        )
    yield s
    s.close()


def row(db, token_id="alice"):
    with db.read() as conn:
        return store.get_token(conn, token_id)


def accept(db, step, now=T0):
    with db.write() as conn:
        latest = POLICY.latest_lock_end(now)
        statement, values = store.accepting_step("alice", step, '{"offset": 0}', now, latest)
        return statement.execute(conn, values).first() is not None


def fail(db, now=T0, lock_after=3, lock_end=LOCK_END):
    with db.write() as conn:
        latest = POLICY.latest_lock_end(now)
        statement, values = store.counting_failure("alice", now, lock_after, lock_end, latest)
        return tuple(statement.execute(conn, values).first())


def test_accept_is_conditional_on_a_newer_step(db):
    assert accept(db, 100)
    assert not accept(db, 100)  # the same step again: replay
    assert not accept(db, 99)  # an earlier step
    assert row(db).last_step == 100
    assert accept(db, 101)
    assert row(db).last_step == 101


def test_accept_clears_failures_and_stores_drift(db):
    fail(db)
    assert accept(db, 7)
    stored = row(db)
    assert (stored.fail_count, stored.locked_until, stored.drift) == (0, None, '{"offset": 0}')


def test_accept_refused_while_locked_or_disabled(db):
    for _ in range(3):
        fail(db)
    assert not accept(db, 5, now=LOCK_END - 1)
    assert accept(db, 5, now=LOCK_END)  # the lock has expired
    with db.write() as conn:
        store.update_token(conn, "alice", enabled=False)
    assert not accept(db, 6)


def test_failures_count_in_sql_and_lock_at_the_threshold(db):
    assert fail(db) == (1, None)
    assert fail(db) == (2, None)
    assert fail(db) == (3, LOCK_END)
    # More failures during the lock do not extend it.
    assert fail(db, T0 + 10, lock_end=LOCK_END + 10) == (4, LOCK_END)
    # After it expired, one more failure locks again from then.
    assert fail(db, LOCK_END, lock_end=LOCK_END + 600) == (5, LOCK_END + 600)


def test_a_lock_from_a_clock_far_ahead_does_not_hold_and_one_from_a_node_close_ahead_does(db):
    year = 365 * 86400.0
    for _ in range(3):  # set by a clock a year ahead: until a year and 600 s from now
        fail(db, T0 + year, lock_end=T0 + year + 600)
    assert row(db).locked_until == T0 + year + 600
    # A failure now locks it again from now; the accept after that lock is refused.
    assert fail(db, T0, lock_end=LOCK_END) == (4, LOCK_END)
    assert not accept(db, 5, now=T0 + 1)
    # Another node's clock 200 s ahead (within MAX_CLOCK_SKEW_S): its lock holds here.
    with db.write() as conn:
        store.update_token(conn, "alice", locked_until=LOCK_END + 200)
    assert not accept(db, 5, now=LOCK_END + 100)
    assert accept(db, 5, now=LOCK_END + 200)  # and ends at its end


@pytest.mark.parametrize("store_url", [None])
def test_sqlite_runs_in_wal_mode_in_the_data_folder(make_verifier, data_dir):
    make_verifier().enrol("alice", SECRET)
    with sqlite3.connect(data_dir / "verifier.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_new_database_is_at_the_newest_version(db):
    assert db.version() == store.SCHEMA_VERSION == len(store.MIGRATIONS)
    assert db.migrate() == store.SCHEMA_VERSION  # nothing left to do


def test_schema_newer_than_the_software_is_refused(db):
    with db.write() as conn:
        conn.execute(schema_version.update().values(version=store.SCHEMA_VERSION + 1))
    with pytest.raises(
        StoreError,
        match=(
            f"^the database schema is version {store.SCHEMA_VERSION + 1}, newer than this "
            f"software \\(version {store.SCHEMA_VERSION}\\); upgrade Baoling$"
        ),
    ):
        db.migrate()


def test_a_database_of_another_program_is_refused_and_keeps_its_tables(store_url, data_dir):
    """A database with tables but no Baoling schema belongs to another program: Baoling's
    tables are not created beside (or, by name, into) its own."""
    url = store_url or store.sqlite_url(str(data_dir / "verifier.sqlite3"))
    data_dir.mkdir()
    other = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with other.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE users (name VARCHAR(20))")
        conn.exec_driver_sql("INSERT INTO users VALUES ('carol')")
    with pytest.raises(StoreError, match="^the database .* holds tables of another program"):
        Verifier(store_url, data_dir=data_dir)
    with pytest.raises(StoreError, match="^the database .* holds tables of another program"):
        Store(url).migrate()
    with other.connect() as conn:
        assert sa.inspect(conn).get_table_names() == ["users"]
        assert conn.exec_driver_sql("SELECT name FROM users").all() == [("carol",)]
    other.dispose()


def make_version_1(url: str, data_dir) -> None:
    """A database as Baoling's schema version 1 left it: one enrolled token whose secret is
    sealed under the key file, one audit row, no meta table."""
    s = Store(url)
    s.migrate(target=1)
    key = crypto.create_key(data_dir / "master.key")
    detail = json.dumps({"source": "enrol"})
    with s.engine.begin() as conn:
        assert not sa.inspect(conn).has_table("meta")
        conn.execute(
            tokens.insert().values(
                id="alice",
                secret=key.seal("alice", SECRET),
                algorithm="sha1",
                digits=6,
                period_s=30,
                issuer="",
                label="",
                last_step=None,
                fail_count=0,
                locked_until=None,
                enabled=True,
                drift=Drift().to_json(),
                created=T0,
            )
        )
        conn.execute(
            audit.insert().values(
                seq=1,
                ts=float(T0),
                action="enrol",
                token_id="alice",
                detail=detail,
                prev_hash=GENESIS_HASH,
                hash=row_hash(1, float(T0), "enrol", "alice", detail, GENESIS_HASH),
            )
        )
    assert s.version() == 1
    s.close()


def test_upgrade_from_version_1_keeps_tokens_and_the_audit_chain(
    store_url, data_dir, make_verifier
):
    url = store_url or store.sqlite_url(str(data_dir / "verifier.sqlite3"))
    data_dir.mkdir()
    make_version_1(url, data_dir)
    if store_url is not None:  # a shared PostgreSQL schema is upgraded on request only
        Store(url).migrate()
    v = make_verifier()  # SQLite: upgraded as it opens
    assert Store(url).version() == store.SCHEMA_VERSION
    assert v.validate("alice", code_at(SECRET, T0), now=T0)
    report = v.verify_audit()
    assert (report.ok, report.rows) == (True, 2)
    assert [r["action"] for r in v.audit()] == ["validate", "enrol"]


def test_upgrade_from_version_1_with_the_wrong_key_fails_loudly(store_url, data_dir, make_verifier):
    url = store_url or store.sqlite_url(str(data_dir / "verifier.sqlite3"))
    data_dir.mkdir()
    make_version_1(url, data_dir)
    if store_url is not None:
        Store(url).migrate()
    key_file = data_dir / "master.key"
    right = key_file.read_text()
    key_file.write_text("ab" * 32)
    with pytest.raises(MasterKeyError, match="^the secret of token 'alice' does not open"):
        make_verifier()
    key_file.write_text(right)
    assert make_verifier().validate("alice", code_at(SECRET, T0), now=T0)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://baoling:s3cret@127.0.0.1:1/baoling",
            "database postgresql+psycopg://baoling:***@127.0.0.1:1/baoling failed: "
            'connection failed: connection to server at "127.0.0.1", port 1 failed: '
            "Connection refused",
        ),
        (  # libpq's multi-host form: both hosts tried, the last one's refusal reported
            "postgresql://baoling:s3cret@127.0.0.1:1,127.0.0.1:2/baoling"
            "?target_session_attrs=read-write",
            "database postgresql+psycopg://baoling:***@/baoling?host=127.0.0.1%3A1"
            "&host=127.0.0.1%3A2&target_session_attrs=read-write failed: connection failed: "
            'connection to server at "127.0.0.1", port 2 failed: Connection refused',
        ),
        (
            "postgresql://baoling:s3cret@db1:x,db2/baoling",
            "cannot use store URL postgresql+psycopg://baoling:***@/baoling?host=db1%3Ax"
            "&host=db2: Received non-integer port arguments: ('x', None)",
        ),
        ("mysql://baoling@db/baoling", "unsupported database 'mysql': use SQLite or PostgreSQL"),
        (
            "not a url",
            "the store URL is not a database URL such as "
            "postgresql+psycopg://user:password@host/database",
        ),
    ],
)
def test_unusable_store_url_is_one_clear_error_without_the_password(tmp_path, url, message):
    with pytest.raises(StoreError) as raised:
        Verifier(url, data_dir=tmp_path)
    assert str(raised.value) == message
