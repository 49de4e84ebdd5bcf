"""A real PostgreSQL 15 server for the verifier's store tests, and the fixtures that run one
test against both backends.

Each pytest(-xdist) worker starts its own throwaway cluster (initdb + pg_ctl, as the
`postgres` user when the suite runs as root: initdb refuses root) on 127.0.0.1 with a free
port, in a temporary folder that also holds its socket, the first time a test asks for it, and
stops and deletes it at the end of the session. Every test gets a fresh database in it.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 cluster of this worker's own, trust auth on 127.0.0.1."""
    base = Path(tempfile.mkdtemp(prefix="baoling-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
    data = base / "data"
    subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "--no-sync",
                "-U",
                "postgres",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    pg_ctl = str(PG_BIN / "pg_ctl")
    for _attempt in range(3):  # the free port can be taken between probe and start
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        started = subprocess.run(
            _as_postgres(
                [
                    pg_ctl,
                    "-D",
                    str(data),
                    "-w",
                    "-l",
                    str(base / "server.log"),
                    "-o",
                    options,
                    "start",
                ]
            ),
            capture_output=True,
        )
        if started.returncode == 0:
            break
    else:
        log = (base / "server.log").read_text(errors="replace")
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start:\n{log}")
    try:
        yield PostgresServer("127.0.0.1", port)
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


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
