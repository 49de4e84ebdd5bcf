"""A real PostgreSQL 15 server for the verifier's store tests, and the fixtures that run one
test against both backends.

Each pytest(-xdist) worker starts its own throwaway cluster (initdb + pg_ctl, as the
`postgres` user when the suite runs as root: initdb refuses root) on 127.0.0.1 with a free
port, in a temporary folder that also holds its socket, the first time a test asks for it, and
stops and deletes it at the end of the session. Every test gets a fresh database in it.

A server outlives a run that is killed (pg_ctl detaches it), so each folder names the process
that made it, and the first folder a process makes stops and deletes those whose process is
gone (`sweep_orphans`).
"""

import contextlib
import functools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from baoling.verifier.engine import Policy
from baoling.verifier.service import Verifier

PG_BIN = Path("/usr/lib/postgresql/15/bin")
BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex}"
        with psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_PREFIX = "baoling-pg-"
_OWNER = "owner.pid"  # in each folder: the process that made it


def _temp_folder() -> Path:
    """A new temporary folder the server may write to (owned by `postgres` when run as root)."""
    _sweep_once()
    base = Path(tempfile.mkdtemp(prefix=_PREFIX))
    (base / _OWNER).write_text(f"{os.getpid()}\n")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
    return base


def sweep_orphans(folder: Path) -> list[Path]:
    """Stop the servers in, and delete, this suite's folders in `folder` whose process has
    gone (a run killed before its fixtures could stop them); returns the folders deleted."""
    swept = []
    for base in folder.glob(f"{_PREFIX}*"):
        try:
            owner = int((base / _OWNER).read_text())
        except (OSError, ValueError):  # not ours, or being made right now
            continue
        if _alive(owner):
            continue
        for pid_file in base.glob("*/postmaster.pid"):
            _stop(pid_file.parent)
        shutil.rmtree(base, ignore_errors=True)
        swept.append(base)
    return swept


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@functools.cache
def _sweep_once() -> None:
    sweep_orphans(Path(tempfile.gettempdir()))


def _start(base: Path, data: Path, options: str = "") -> int:
    """Start the cluster in `data` on a free port of 127.0.0.1; returns the port."""
    pg_ctl = str(PG_BIN / "pg_ctl")
    for _attempt in range(3):  # the free port can be taken between probe and start
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off "
            f"-c full_page_writes=off -c max_connections=200 {options}"
        )
        started = subprocess.run(
            _as_postgres(
                [pg_ctl, "-D", str(data), "-w", "-l", str(base / "server.log"), "-o", options]
                + ["start"]
            ),
            capture_output=True,
        )
        if started.returncode == 0:
            return port
    log = (base / "server.log").read_text(errors="replace")
    shutil.rmtree(base, ignore_errors=True)
    pytest.fail(f"PostgreSQL did not start:\n{log}")


def _stop(data: Path) -> None:
    subprocess.run(
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
        capture_output=True,
    )


def _new_cluster() -> tuple[Path, Path]:
    """initdb into a new temporary folder; returns the folder and the data directory in it."""
    base = _temp_folder()
    data = base / "data"
    subprocess.run(
        _as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "--no-sync"]
            + ["-U", "postgres", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    return base, data


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A new PostgreSQL 15 cluster, trust auth on 127.0.0.1, stopped and deleted on leaving;
    for the fixture below and for scripts (bench/scale_out.py)."""
    base, data = _new_cluster()
    try:
        yield PostgresServer("127.0.0.1", _start(base, data))
    finally:
        _stop(data)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 cluster of this worker's own, trust auth on 127.0.0.1."""
    with running_postgres() as server:
        yield server


@dataclass(frozen=True)
class ReplicatedPostgres:
    """A primary and a synchronous streaming standby (pg_basebackup), for failover tests."""

    primary: PostgresServer
    standby: PostgresServer
    primary_data: Path
    standby_data: Path

    def url(self, database: str) -> str:
        """A multi-host URL that reaches whichever of the two is the read-write primary."""
        return (
            f"postgresql://postgres@{self.primary.host}:{self.primary.port},"
            f"{self.standby.host}:{self.standby.port}/{database}?target_session_attrs=read-write"
        )

    def stop_sending_wal(self) -> None:
        """SIGSTOP the primary's WAL sender: from now on no commit reaches the standby, so a
        commit waiting for it never completes."""
        with psycopg.connect(
            host=self.primary.host, port=self.primary.port, user="postgres", autocommit=True
        ) as conn:
            (pid,) = conn.execute("SELECT pid FROM pg_stat_replication").fetchone() or (None,)
        assert pid is not None, "the primary has no WAL sender"
        os.kill(pid, signal.SIGSTOP)

    def kill_primary(self) -> None:
        """SIGKILL the primary's postmaster and every process it started, as if its machine
        had gone: nothing it has not sent to the standby survives in the pair."""
        postmaster = int((self.primary_data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True
        ).stdout.split()
        for pid in [postmaster, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):  # gone with its postmaster
                os.kill(pid, signal.SIGKILL)

    def stop_standby(self) -> None:
        """Stop the standby at once, as if its machine had gone: the primary's commits wait
        for it from now on."""
        _stop(self.standby_data)

    def restart_standby(self) -> None:
        """Start the stopped standby again (on a new port: use the primary only) and wait until
        it is the primary's synchronous standby once more."""
        _start(self.standby_data.parent, self.standby_data)
        _wait_for_sync_standby(self.primary)

    def promote_standby(self) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.standby_data), "-w", "promote"]),
            check=True,
            capture_output=True,
        )


@pytest.fixture
def replicated_postgres() -> Iterator[ReplicatedPostgres]:
    """A primary whose commits wait for the standby's flush (`synchronous_standby_names =
    '*'`, the store's sessions running `synchronous_commit = on`) and its standby, made with
    pg_basebackup; both stopped and deleted afterwards. The standby runs without
    `synchronous_standby_names`, so once promoted its commits do not wait for a standby it
    does not have."""
    primary_base, primary_data = _new_cluster()
    standby_base = _temp_folder()
    standby_data = standby_base / "data"
    try:
        primary_port = _start(primary_base, primary_data, "-c synchronous_standby_names='*'")
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port)]
                + ["-U", "postgres", "-D", str(standby_data), "-R", "-X", "stream", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )
        standby_port = _start(standby_base, standby_data)
        pair = ReplicatedPostgres(
            PostgresServer("127.0.0.1", primary_port),
            PostgresServer("127.0.0.1", standby_port),
            primary_data,
            standby_data,
        )
        _wait_for_sync_standby(pair.primary)
        yield pair
    finally:
        for data in (primary_data, standby_data):
            _stop(data)
        shutil.rmtree(primary_base, ignore_errors=True)
        shutil.rmtree(standby_base, ignore_errors=True)


def _wait_for_sync_standby(primary: PostgresServer, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(
        host=primary.host, port=primary.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        while not conn.execute(
            "SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'"
        ).fetchone():
            if time.monotonic() > deadline:
                pytest.fail("the standby did not become a synchronous standby")
            time.sleep(0.05)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str | None:
    """None (the SQLite file in the data folder) or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def make_verifier(store_url: str | None, data_dir: Path) -> Iterator[Callable[..., Verifier]]:
    """Open Verifiers on this test's store (several may share it, as nodes do); closed after."""
    opened: list[Verifier] = []

    def make(policy: Policy | None = None, **kwargs: object) -> Verifier:
        verifier = Verifier(store_url, data_dir=data_dir, policy=policy, **kwargs)
        opened.append(verifier)
        return verifier

    yield make
    for verifier in opened:
        verifier.close()
