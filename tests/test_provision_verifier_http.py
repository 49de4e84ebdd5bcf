"""Provisioning enrols into a real `baoling verifier serve` over HTTP (docs/verifier.md): the code
on the simulator's screen is then accepted by the verifier; mistakes fail before the token
changes; a failed prove enrols nothing."""

import json
import os

import httpx
import pytest
from provisioning_sim import StoresAnotherSecret, baoling, run_baoling, sim_token

from baoling.host_tools.verifier_process import ServerProcess
from baoling.provisioning.enrol import VerifierClient
from baoling.provisioning.errors import ProveMismatch
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.profile import Profile
from baoling.provisioning.provision import provision
from baoling.verifier.service import Verifier


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("verifier")
    v = Verifier(data_dir=data_dir)
    keys = {
        "admin": v.create_api_key("p1-admin", ["admin"]),
        "validate": v.create_api_key("p1-validate", ["validate"]),
    }
    v.close()
    with ServerProcess(["--data-dir", str(data_dir)]) as server:
        server.keys = keys
        yield server


@pytest.fixture
def token(tmp_path):
    with sim_token(tmp_path / "token") as (sim, tok):
        tok.link.close()
        yield sim


def registered(verifier, token_id: str) -> int:
    auth = {"Authorization": f"Bearer {verifier.keys['admin']}"}
    return httpx.get(f"{verifier.url}/v1/tokens/{token_id}", headers=auth).status_code


def test_enrolled_token_shows_codes_the_verifier_accepts(verifier, token, tmp_path):
    proc = baoling(
        "token",
        "provision",
        "--port",
        token.port,
        "--label",
        "alice",
        "--issuer",
        "ACME",
        "--algorithm",
        "sha256",
        "--digits",
        "8",
        "--period",
        "60",
        "--verifier",
        verifier.url,
        "--keys",
        str(tmp_path / "k"),
        "--json",
        env={**os.environ, "BAOLING_API_KEY": verifier.keys["admin"]},
    )
    assert proc.returncode == 0, proc.stderr
    token_id = json.loads(proc.stdout)["token_id"]
    screen = token.wait_screen(lambda s: s.get("screen") == "code")
    answer = httpx.post(
        f"{verifier.url}/v1/validate",
        json={"token": token_id, "code": screen["code"]},
        headers={"Authorization": f"Bearer {verifier.keys['validate']}"},
    )
    assert answer.json() == {"result": "accept", "amr": ["hwk", "otp"]}


def test_wrong_api_key_fails_before_the_token_changes(verifier, token, tmp_path):
    proc = run_baoling(
        "token",
        "provision",
        "--port",
        token.port,
        "--label",
        "bob",
        "--verifier",
        verifier.url,
        "--api-key",
        "not-a-key",
        "--keys",
        str(tmp_path / "k"),
    )
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        f"Error: The verifier at {verifier.url} refused the API key: give a key with the admin "
        "scope (--api-key or BAOLING_API_KEY).\n"
    )
    info = json.loads(baoling("token", "info", "--port", token.port, "--json").stdout)
    assert info["profiles"] == []


def test_token_already_enrolled_fails_before_the_token_changes(verifier, token, tmp_path):
    args = [
        "token",
        "provision",
        "--port",
        token.port,
        "--label",
        "carol",
        "--verifier",
        verifier.url,
        "--api-key",
        verifier.keys["admin"],
        "--keys",
        str(tmp_path / "k"),
    ]
    assert baoling(*args).returncode == 0
    info = json.loads(baoling("token", "info", "--port", token.port, "--json").stdout)
    again = run_baoling(*args, "--force")
    assert again.stderr == (
        f"Error: The verifier at {verifier.url} already has a token {info['serial']}-0: delete "
        "it there first, or write another --slot.\n"
    )


def test_failed_prove_enrols_nothing(verifier, tmp_path):
    with sim_token(tmp_path / "t") as (sim, honest):
        tok = StoresAnotherSecret(honest.link)
        with pytest.raises(ProveMismatch):
            provision(
                tok,
                Profile(bytes(range(20)), label="dave"),
                keys=KeyStore(tmp_path / "k"),
                registrars=[VerifierClient(verifier.url, verifier.keys["admin"])],
            )
        assert registered(verifier, f"{tok.serial}-0") == 404
