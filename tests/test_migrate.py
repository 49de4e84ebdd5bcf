"""Schema upgrades (docs/operations.md, "Schema upgrades"): `baoling verifier migrate` upgrades
stores written by the previous release (tests/data/README.md), which then keep validating their
tokens; a SQLite file is upgraded as it is opened; a PostgreSQL schema only on request, so a
server node started on an older one says so and exits."""

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import httpx
import pyotp
import pytest
import sqlalchemy as sa

from baoling.verifier import store
from baoling.verifier.engine import REPLAY
from baoling.verifier.service import Verifier
from baoling.verifier.store import SCHEMA_VERSION, Store

DATA = Path(__file__).parent / "data"
T0 = 1_700_000_010  # when the previous release accepted alice's code (tests/data/README.md)
ALICE = pyotp.TOTP(base64.b32encode(b"12345678901234567890").decode())
BOB = pyotp.TOTP(
    base64.b32encode(b"12345678901234567890123456789012").decode(),
    digits=8,
    digest=hashlib.sha256,
    interval=60,
)
# No setting of the environment this suite runs in reaches the commands (docs/configuration.md).
ENV = {name: value for name, value in os.environ.items() if not name.startswith("BAOLING_")}
NEEDS_MIGRATE = (
    f"the database schema is version 1, this Baoling needs {SCHEMA_VERSION}: "
    "run `baoling verifier migrate`"
)


def restore(dump: str, data_dir: Path) -> None:
    """A data folder holding the dumped database and its master key."""
    data_dir.mkdir(mode=0o700)
    with sqlite3.connect(data_dir / "verifier.sqlite3") as conn:
        conn.executescript((DATA / dump).read_text())
    key = data_dir / "master.key"
    key.write_bytes((DATA / "store.master.key").read_bytes())
    key.chmod(0o600)


def restore_into_postgresql(url: str, data_dir: Path) -> None:
    """The schema-1 store's rows in a PostgreSQL database at schema version 1."""
    dump = sa.create_engine("sqlite://")
    with dump.connect() as source:
        source.connection.executescript((DATA / "store-schema1.sql").read_text())
        # Every column the dump has (later versions add columns, whose defaults fill them).
        rows = {
            t: source.exec_driver_sql(f"SELECT * FROM {t.name}").mappings().all()
            for t in (store.tokens, store.audit)
        }
    target = Store(url)
    target.migrate(target=1)
    with target.engine.begin() as conn:
        for table, table_rows in rows.items():
            conn.execute(table.insert(), [dict(row) for row in table_rows])
    target.close()
    data_dir.mkdir(mode=0o700)
    key = data_dir / "master.key"
    key.write_bytes((DATA / "store.master.key").read_bytes())
    key.chmod(0o600)


def baoling(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", "verifier", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )


def serve(*args: str) -> subprocess.Popen:
    """`python -m baoling.verifier` on a free port; stderr is read by the caller."""
    return subprocess.Popen(
        [sys.executable, "-m", "baoling.verifier", "--http-port", "0", *args],
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def assert_tokens_validate(v: Verifier, audit_rows_before: int) -> None:
    """The release's tokens, state and audit chain, read by this Baoling."""
    assert v.check("alice", ALICE.at(T0), now=T0).reason == REPLAY  # accepted by the release
    assert v.validate("alice", ALICE.at(T0 + 30), now=T0 + 30)
    assert v.show("bob")["fail_count"] == 1
    assert v.validate("bob", BOB.at(T0 + 60), now=T0 + 60)
    report = v.verify_audit()
    assert (report.ok, report.rows) == (True, audit_rows_before + 3)


def assert_has_user_tables(url: str) -> None:
    """Schema 3's tables (docs/users.md), empty: no user exists until one is added."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            for table in (store.users, store.token_owners):
                assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    finally:
        engine.dispose()


def test_migrate_upgrades_a_schema_1_store_which_keeps_validating(tmp_path):
    data_dir = tmp_path / "data"
    restore("store-schema1.sql", data_dir)
    proc = baoling("--data-dir", str(data_dir), "migrate")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"Upgraded the database schema from version 1 to {SCHEMA_VERSION}.\n"
    assert Store(store.sqlite_url(str(data_dir / "verifier.sqlite3"))).version() == SCHEMA_VERSION
    with closing(Verifier(data_dir=data_dir)) as v:
        assert_tokens_validate(v, audit_rows_before=4)


def test_the_previous_release_store_is_current_and_keeps_validating(tmp_path):
    data_dir = tmp_path / "data"
    restore("store-schema2.sql", data_dir)
    proc = baoling("--data-dir", str(data_dir), "migrate", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"from": 2, "to": SCHEMA_VERSION}
    proc = baoling("--data-dir", str(data_dir), "migrate")
    assert proc.stdout == f"The database schema is at version {SCHEMA_VERSION} already.\n"
    assert_has_user_tables(store.sqlite_url(str(data_dir / "verifier.sqlite3")))
    with closing(Verifier(data_dir=data_dir)) as v:
        assert_tokens_validate(v, audit_rows_before=4)
        v.add_user("alice@example.org")  # the release's token, now given to a user
        v.assign("alice", "alice@example.org", override=True)
        assert v.validate_user("alice@example.org", ALICE.at(T0 + 60), now=T0 + 60)
        assert not v.validate_user("alice@example.org", ALICE.at(T0 + 60), now=T0 + 61)


def test_migrate_refuses_a_schema_newer_than_this_baoling(tmp_path):
    data_dir = tmp_path / "data"
    restore("store-schema2.sql", data_dir)
    with sqlite3.connect(data_dir / "verifier.sqlite3") as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    proc = baoling("--data-dir", str(data_dir), "migrate")
    assert proc.returncode == 1
    assert proc.stderr == (
        f"Error: the database schema is version {SCHEMA_VERSION + 1}, newer than this software "
        f"(version {SCHEMA_VERSION}); upgrade Baoling\n"
    )


def test_a_sqlite_server_upgrades_its_own_file_and_says_so(tmp_path):
    data_dir = tmp_path / "data"
    restore("store-schema1.sql", data_dir)
    server = serve("--data-dir", str(data_dir))
    try:
        lines = []
        while not lines or not lines[-1].startswith("HTTP on "):
            line = server.stderr.readline()
            assert line, "the server stopped:\n" + "".join(lines)
            lines.append(line)
        url = lines[-1].split()[-1]
        assert httpx.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
    finally:
        server.terminate()
        server.wait(timeout=10)
    upgraded = [line for line in lines if "schema" in line]
    assert len(upgraded) == 1
    assert upgraded[0].endswith(
        f" baoling.verifier.store upgraded the database schema from version 1 to {SCHEMA_VERSION}\n"
    )
    with closing(Verifier(data_dir=data_dir)) as v:
        assert_tokens_validate(v, audit_rows_before=4)


@pytest.mark.parametrize("how", ["python -m baoling.verifier", "baoling verifier serve"])
def test_a_postgresql_node_refuses_an_older_schema_until_migrate(postgres_server, tmp_path, how):
    url = postgres_server.create_database()
    data_dir = tmp_path / "data"
    restore_into_postgresql(url, data_dir)
    where = ["--store-url", url, "--data-dir", str(data_dir)]
    if how == "python -m baoling.verifier":
        node = serve(*where)
        _, stderr = node.communicate(timeout=60)
    else:
        proc = baoling(*where, "serve", "--http-port", "0")
        node, stderr = proc, proc.stderr
    assert (node.returncode, stderr) == (1, f"Error: {NEEDS_MIGRATE}\n")
    for command in (["list"], ["enrol", "carol"]):  # admin commands refuse it too
        proc = baoling(*where, *command)
        assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"Error: {NEEDS_MIGRATE}\n")
    assert Store(url).version() == 1

    proc = baoling(*where, "migrate")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"Upgraded the database schema from version 1 to {SCHEMA_VERSION}.\n"
    with closing(Verifier(url, data_dir=data_dir)) as v:
        assert_tokens_validate(v, audit_rows_before=4)
