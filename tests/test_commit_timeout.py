"""A validation whose commit waits for a synchronous standby that is gone fails closed within
`store_commit_timeout_seconds` (verifier/commit_deadline.py), on a real primary whose
`synchronous_standby_names` names its streaming standby (tests/fixtures_postgres.py), with the
standby stopped: PostgreSQL would wait for it forever, and `statement_timeout` does not end
that wait. The answer is 503, never an accept that the standby does not have; the cancelled
commit is on the primary's disk, so once the standby is back the client's retry of the same
code is refused as a replay, and the node serves again without a restart."""

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pyotp
import pytest
import sqlalchemy as sa

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.engine import REPLAY
from baoling.verifier.service import Verifier
from tests.fixtures_postgres import ReplicatedPostgres

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PERIOD_S = 120  # one code serves the whole test, however slow the machine
COMMIT_TIMEOUT_S = 2
MARGIN_S = 5.0  # a loaded machine's request, cancel and answer on top of the timeout


@dataclass(frozen=True)
class Node:
    server: ServerProcess
    auth: dict[str, str]
    url: str
    data_dir: Path

    def validate(self, token: str, code: str) -> httpx.Response:
        return httpx.post(
            f"{self.server.url}/v1/validate",
            json={"token": token, "code": code},
            headers=self.auth,
            timeout=60,
        )


@pytest.fixture
def node(replicated_postgres: ReplicatedPostgres, tmp_path: Path) -> Iterator[Node]:
    """A served node on the primary, tokens alice and bob, a commit timeout of 2 s."""
    url = replicated_postgres.primary.create_database()
    v = Verifier(url, data_dir=tmp_path)
    for token in ("alice", "bob"):
        v.enrol(token, base64.b32decode(SECRET), period_s=PERIOD_S)
    key = v.create_api_key("test", ["validate"])
    v.close()
    timeout = ["--store-commit-timeout-seconds", str(COMMIT_TIMEOUT_S)]
    with ServerProcess(["--store-url", url, "--data-dir", str(tmp_path)], timeout) as server:
        yield Node(server, {"Authorization": f"Bearer {key}"}, url, tmp_path)


def row_is_free(replicated_postgres: ReplicatedPostgres, database: str, token: str) -> bool:
    """No transaction holds the token's row: a backend still waiting for the standby to
    confirm its commit would (PostgreSQL releases locks after that wait)."""
    primary = replicated_postgres.primary
    with psycopg.connect(
        host=primary.host, port=primary.port, user="postgres", dbname=database
    ) as conn:
        try:
            conn.execute("SELECT 1 FROM tokens WHERE id = %s FOR UPDATE NOWAIT", (token,))
        except psycopg.errors.LockNotAvailable:
            return False
        conn.rollback()  # a rollback does not wait for the standby
        return True


def test_a_commit_waiting_for_a_standby_that_is_gone_answers_503_in_time(
    node: Node, replicated_postgres: ReplicatedPostgres
):
    code = pyotp.TOTP(SECRET, interval=PERIOD_S).now()
    replicated_postgres.stop_standby()

    started = time.monotonic()
    answer = node.validate("alice", code)
    elapsed = time.monotonic() - started

    where = sa.make_url(node.url)
    assert answer.status_code == 503, answer.text
    assert answer.json() == {
        "error": "unavailable",
        "message": f"database postgresql+psycopg://postgres@127.0.0.1:{where.port}/"
        f"{where.database} did not confirm the commit within {COMMIT_TIMEOUT_S} s "
        "(store_commit_timeout_seconds; a synchronous standby away?): it may be on the "
        "primary only, so it counts as failed",
    }
    assert COMMIT_TIMEOUT_S <= elapsed < COMMIT_TIMEOUT_S + MARGIN_S
    # The cancel ended PostgreSQL's wait: no backend is left holding alice's row.
    assert row_is_free(replicated_postgres, where.database, "alice")
    # A wrong code's failure count is a commit too: it fails the same way.
    assert node.validate("bob", "000000" if code != "000000" else "111111").status_code == 503

    replicated_postgres.restart_standby()
    # The accept was on the primary's disk: the retry of the same code is a replay.
    retry = node.validate("alice", code)
    assert (retry.status_code, retry.json()["result"]) == (200, "reject")
    v = Verifier(node.url, data_dir=node.data_dir)
    latest = next(r for r in v.audit(100) if r["token"] == "alice")  # newest first
    v.close()
    assert (latest["action"], latest["detail"]["reason"]) == ("validate", REPLAY)
    # The node serves again by itself: bob's right code is accepted.
    accepted = node.validate("bob", code)
    assert (accepted.status_code, accepted.json()["result"]) == (200, "accept")
