"""Two `baoling verifier serve` processes on one PostgreSQL database (a real server the suite
starts: tests/fixtures_postgres.py) are two nodes: a code accepted by one is a replay on the
other, and failures counted on both add up to one lockout."""

import base64
import shutil

import httpx
import pyotp
import pytest
from test_http_api import wrong_code

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.service import Verifier

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HTTP_TIMEOUT_S = 30  # generous: the suite may share two cores with other test runs
LOCKOUT_AFTER = 4


@pytest.fixture
def nodes(postgres_server, tmp_path):
    """Two nodes with their own data folders (each holding a copy of one master.key)."""
    url = postgres_server.create_database()
    first, second = tmp_path / "node1", tmp_path / "node2"
    v = Verifier(url, data_dir=first)
    v.enrol("alice", base64.b32decode(SECRET))
    key = v.create_api_key("test", ["validate", "admin"])
    v.close()
    second.mkdir(mode=0o700)
    shutil.copy2(first / "master.key", second / "master.key")
    serve = ["--lockout-after", str(LOCKOUT_AFTER)]
    with (
        ServerProcess(["--store-url", url, "--data-dir", str(first)], serve) as one,
        ServerProcess(["--store-url", url, "--data-dir", str(second)], serve) as two,
    ):
        yield one, two, {"Authorization": f"Bearer {key}"}


def validate(server: ServerProcess, auth: dict, code: str) -> str:
    response = httpx.post(
        f"{server.url}/v1/validate",
        json={"token": "alice", "code": code},
        headers=auth,
        timeout=HTTP_TIMEOUT_S,
    )
    return response.json()["result"]


def test_a_code_accepted_on_one_node_is_rejected_on_the_other(nodes):
    one, two, auth = nodes
    code = pyotp.TOTP(SECRET).now()
    assert validate(one, auth, code) == "accept"
    assert validate(two, auth, code) == "reject"


def test_failures_on_both_nodes_add_up_to_one_lockout(nodes):
    one, two, auth = nodes
    for node in (one, two, one, two):
        validate(node, auth, wrong_code(pyotp.TOTP(SECRET)))
    assert validate(one, auth, pyotp.TOTP(SECRET).now()) == "reject"
    shown = httpx.get(f"{two.url}/v1/tokens/alice", headers=auth, timeout=HTTP_TIMEOUT_S).json()
    assert shown["fail_count"] == LOCKOUT_AFTER
