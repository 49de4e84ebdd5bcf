"""Two served verifier nodes ride through their PostgreSQL primary failing over to a
synchronous streaming standby (tests/fixtures_postgres.py starts both servers).

The nodes are given one multi-host URL with `target_session_attrs=read-write`. Validations
keep arriving on both nodes while the switch is staged in its worst order: the primary's WAL
sender stops (commits made from then on never reach the standby), the primary is killed with
SIGKILL (it and every process it started, as when its machine goes), and the standby is
promoted a moment later, as a failover manager would. So a node that answered "accept" for a
commit the standby had not confirmed would have its code forgotten and accepted again.
"""

import base64
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pyotp
import pytest
import sqlalchemy as sa

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.engine import REPLAY
from baoling.verifier.service import Verifier
from tests.fixtures_postgres import ReplicatedPostgres

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PERIOD_S = 120  # one code serves the whole test, however slow the machine
TOKENS = 20  # per node: one validation each, a new token every STEP_S, a stream across the switch
STEP_S = 0.1
STALL_S = 1.0  # how long commits wait for the stopped WAL sender before the primary is killed
DETECTION_S = 2.0  # how long the pair stays without a primary before the standby is promoted
PROCESSING_MARGIN_S = 0.5  # a busy node may reach the database a little after the request left
HTTP_TIMEOUT_S = 30
RECONNECT_S = 20.0


@dataclass(frozen=True)
class Answer:
    node: int
    token: str
    status: int
    result: str | None  # "accept" or "reject" for a 200, else None
    sent: float  # time.monotonic() when the request left


@dataclass(frozen=True)
class Cluster:
    nodes: tuple[ServerProcess, ServerProcess]
    auth: dict[str, str]
    url: str


@pytest.fixture
def cluster(replicated_postgres: ReplicatedPostgres, tmp_path) -> Iterator[Cluster]:
    """Two nodes on the pair's multi-host URL; tokens alice and n{node}-{i} enrolled."""
    name = sa.make_url(replicated_postgres.primary.create_database()).database
    assert name is not None
    url = replicated_postgres.url(name)
    first, second = tmp_path / "node1", tmp_path / "node2"
    v = Verifier(url, data_dir=first)
    for token in ["alice", *(f"n{node}-{i}" for node in (0, 1) for i in range(TOKENS))]:
        v.enrol(token, base64.b32decode(SECRET), period_s=PERIOD_S)
    key = v.create_api_key("test", ["validate"])
    v.close()
    second.mkdir(mode=0o700)
    shutil.copy2(first / "master.key", second / "master.key")
    with (
        ServerProcess(["--store-url", url, "--data-dir", str(first)]) as one,
        ServerProcess(["--store-url", url, "--data-dir", str(second)]) as two,
    ):
        yield Cluster((one, two), {"Authorization": f"Bearer {key}"}, url)


def validate(cluster: Cluster, node: int, token: str, code: str) -> Answer:
    sent = time.monotonic()
    response = httpx.post(
        f"{cluster.nodes[node].url}/v1/validate",
        json={"token": token, "code": code},
        headers=cluster.auth,
        timeout=HTTP_TIMEOUT_S,
    )
    result = response.json()["result"] if response.status_code == 200 else None
    return Answer(node, token, response.status_code, result, sent)


def validate_stream(cluster: Cluster, node: int, code: str, answers: list[Answer]) -> None:
    """Each of the node's tokens once, in turn, a new one every STEP_S."""
    for i in range(TOKENS):
        answers.append(validate(cluster, node, f"n{node}-{i}", code))
        time.sleep(STEP_S)


def validate_until_reachable(cluster: Cluster, node: int, token: str, code: str) -> Answer:
    """The node's answer once it reaches a primary again (503 until then)."""
    deadline = time.monotonic() + RECONNECT_S
    while (answer := validate(cluster, node, token, code)).status == 503:
        assert time.monotonic() < deadline, cluster.nodes[node].log()
        time.sleep(0.1)
    return answer


def audit_reasons(url: str, data_dir, tokens: list[str]) -> dict[str, str]:
    """The reason the audit trail gives for each token's latest validation."""
    v = Verifier(url, data_dir=data_dir)
    rows = [r for r in reversed(v.audit(10_000)) if r["action"] == "validate"]
    v.close()
    return {r["token"]: r["detail"].get("reason") for r in rows if r["token"] in tokens}


def test_nodes_ride_through_a_failover_to_a_synchronous_standby(
    cluster, replicated_postgres, tmp_path
):
    code = pyotp.TOTP(SECRET, interval=PERIOD_S).now()
    assert validate(cluster, 0, "alice", code).result == "accept"

    answers: list[Answer] = []
    streams = [
        threading.Thread(target=validate_stream, args=(cluster, node, code, answers))
        for node in (0, 1)
    ]
    for stream in streams:
        stream.start()
    time.sleep(TOKENS * STEP_S / 4)
    replicated_postgres.stop_sending_wal()
    stalled = time.monotonic()
    time.sleep(STALL_S)
    replicated_postgres.kill_primary()
    time.sleep(DETECTION_S)
    promoting = time.monotonic()
    replicated_postgres.promote_standby()
    for stream in streams:
        stream.join()

    # Fail closed: every answer is an accept, a reject or a 503, and from the moment the
    # standby stopped receiving until it was promoted nothing was accepted, on either node.
    assert {(a.status, a.result) for a in answers} <= {
        (200, "accept"),
        (200, "reject"),
        (503, None),
    }
    during = [a for a in answers if stalled < a.sent < promoting - PROCESSING_MARGIN_S]
    assert {a.node for a in during} == {0, 1}
    assert {(a.status, a.result) for a in during} == {(503, None)}

    # The nodes reconnect by themselves, and those validations left nothing behind: the
    # promoted standby never heard of them, so their codes are still unused.
    after = [validate_until_reachable(cluster, a.node, a.token, code) for a in during]
    assert [a.result for a in after] == ["accept"] * len(during)

    # Nothing accepted is forgotten: alice's code and every code accepted in the streams are
    # replays on the promoted standby, on either node.
    accepted = ["alice", *(a.token for a in answers if a.result == "accept")]
    assert len(accepted) > 2
    for i, token in enumerate(accepted):
        assert validate(cluster, i % 2, token, code).result == "reject"
    assert audit_reasons(cluster.url, tmp_path / "node1", accepted) == dict.fromkeys(
        accepted, REPLAY
    )
