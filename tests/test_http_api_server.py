"""`baoling verifier serve` as a real process under uvicorn: starts with no configuration,
logs no codes or secrets, survives kill -9 without forgetting an accepted code."""

import base64
import os
import subprocess
import sys

import httpx
import pyotp
import pytest

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.service import Verifier

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HTTP_TIMEOUT_S = 30  # generous: the suite may share two cores with other test runs


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def keys(data_dir):
    """Token alice (pyotp computes its codes) and an API key with both scopes."""
    v = Verifier(data_dir=data_dir)
    v.enrol("alice", base64.b32decode(SECRET))
    key = v.create_api_key("test", ["validate", "admin"])
    v.close()
    return {"Authorization": f"Bearer {key}"}


def validate(server: ServerProcess, auth: dict, code: str) -> str:
    response = httpx.post(
        f"{server.url}/v1/validate",
        json={"token": "alice", "code": code},
        headers=auth,
        timeout=HTTP_TIMEOUT_S,
    )
    return response.json()["result"]


def test_serve_with_no_configuration_keeps_its_data_under_home(tmp_path):
    no_settings = {"HOME": str(tmp_path), "BAOLING_DATA_DIR": "", "BAOLING_STORE_URL": ""}
    with ServerProcess([], env=no_settings) as server:
        assert httpx.get(f"{server.url}/healthz", timeout=HTTP_TIMEOUT_S).json() == {"status": "ok"}
    assert (tmp_path / ".local/share/baoling/verifier.sqlite3").exists()


def test_the_log_names_routes_but_holds_no_code_or_secret(data_dir, keys):
    code = pyotp.TOTP(SECRET).now()
    other_secret = base64.b32encode(os.urandom(20)).decode()
    with ServerProcess(["--data-dir", str(data_dir)]) as server:
        validate(server, keys, code)
        httpx.post(
            f"{server.url}/v1/validate?code={code}",
            json={"token": "alice", "code": code},
            headers=keys,
            timeout=HTTP_TIMEOUT_S,
        )
        httpx.post(
            f"{server.url}/v1/validate",
            content=f'{{"code": "{code}"',
            headers=keys,
            timeout=HTTP_TIMEOUT_S,
        )
        httpx.post(
            f"{server.url}/v1/validate",
            json={"token": "alice", "code": code + "x"},
            headers=keys,
            timeout=HTTP_TIMEOUT_S,
        )
        httpx.post(
            f"{server.url}/v1/tokens",
            json={"token": "bob", "secret": other_secret},
            headers=keys,
            timeout=HTTP_TIMEOUT_S,
        )
        httpx.post(
            f"{server.url}/v1/tokens",
            json={"token": "eve", "secret": other_secret + "!"},
            headers=keys,
            timeout=HTTP_TIMEOUT_S,
        )
    log = server.log()
    assert "POST /v1/validate 200" in log
    assert "POST /v1/tokens 201" in log
    for forbidden in (code, other_secret, SECRET, keys["Authorization"].split()[1]):
        assert forbidden not in log


def test_a_code_accepted_before_kill_9_is_rejected_after_restart(data_dir, keys):
    code = pyotp.TOTP(SECRET).now()
    with ServerProcess(["--data-dir", str(data_dir)]) as server:
        assert validate(server, keys, code) == "accept"
        server.kill()
    with ServerProcess(["--data-dir", str(data_dir)]) as restarted:
        assert validate(restarted, keys, code) == "reject"


def test_a_port_in_use_is_a_one_line_error(data_dir):
    with ServerProcess(["--data-dir", str(data_dir)]) as running:
        port = running.url.rsplit(":", 1)[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "baoling.host_tools",
                "verifier",
                "--data-dir",
                str(data_dir),
                "serve",
                "--http-port",
                port,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert proc.stderr.endswith(
        f"Error: cannot listen on tcp 127.0.0.1:{port}: Address already in use\n"
    )


def test_an_unknown_lockout_time_zone_is_a_one_line_error(data_dir):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "baoling.host_tools",
            "verifier",
            "--data-dir",
            str(data_dir),
            "serve",
            "--lockout-tz",
            "Mars/Olympus_Mons",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        "Error: --lockout-tz: not an IANA time zone such as UTC or Asia/Shanghai: "
        "'Mars/Olympus_Mons'\n"
    )
