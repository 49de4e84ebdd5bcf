"""The verifier refuses a secret under 10 or over 64 bytes (core/limits.py), as the token and
provisioning do, on each of its doors: the Python API, HTTP and the CLI. Nothing is stored."""

import base64
import io
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from fastapi.testclient import TestClient
from pskc import PSKC

from baoling.verifier.errors import InvalidRequest, PSKCImportError
from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier

REFUSED_SIZES = [1, 9, 65, 100]


class Pyotp80(pyotp.TOTP):
    """pyotp as the reference for codes; its own floor is 112-bit secrets."""

    min_secret_length_bits = 80


# The HTTP schema states the length with the rest of the secret's form (docs/verifier.md).
HTTP_RULE = (
    "secret: must be base32 (A-Z and 2-7, any case, spaces and hyphens allowed, = padding only "
    "at the end) of 10 to 64 bytes: 16 to 103 characters that end on a whole byte"
)


def length_message(size: int) -> str:
    return f"secret must be 10 to 64 bytes (16 to 103 base32 characters), not {size}"


def secret_of(size: int) -> bytes:
    return bytes((7 * i + 1) % 256 for i in range(size))


@pytest.fixture
def verifier(tmp_path):
    v = Verifier(data_dir=tmp_path / "data")
    yield v
    v.close()


@pytest.mark.parametrize("size", REFUSED_SIZES)
def test_python_api_refuses_the_length_with_invalid_request(verifier, size):
    with pytest.raises(InvalidRequest) as caught:
        verifier.enrol("alice", secret_of(size))
    assert str(caught.value) == length_message(size)
    assert verifier.list_tokens() == []


@pytest.mark.parametrize("size", [10, 64])
def test_python_api_takes_10_and_64_bytes_and_validates_pyotp_codes(verifier, size):
    secret = secret_of(size)
    uri = verifier.enrol("alice", secret)
    (text,) = parse_qs(urlsplit(uri).query)["secret"]
    assert base64.b32decode(text + "=" * (-len(text) % 8)) == secret
    assert verifier.validate("alice", Pyotp80(text).now())


@pytest.mark.parametrize("size", REFUSED_SIZES)
def test_http_refuses_the_length_with_a_422_in_the_error_shape(verifier, size):
    client = TestClient(create_app(verifier))
    auth = {"Authorization": f"Bearer {verifier.create_api_key('ops', ['admin'])}"}
    body = {"token": "alice", "secret": base64.b32encode(secret_of(size)).decode()}
    response = client.post("/v1/tokens", json=body, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "message": HTTP_RULE}
    assert client.get("/v1/tokens/alice", headers=auth).status_code == 404


def test_pskc_import_refuses_a_short_key_and_imports_nothing(verifier):
    pskc = PSKC()
    for token_id, size in (("SN1-0", 20), ("SN2-0", 9)):
        pskc.add_key(
            id=token_id,
            serial=token_id[:3],
            secret=secret_of(size),
            algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp",
            response_length=6,
            response_encoding="DECIMAL",
            time_interval=30,
        )
    out = io.BytesIO()
    pskc.write(out)
    with pytest.raises(PSKCImportError) as caught:
        verifier.import_pskc(out.getvalue())
    assert str(caught.value) == f"key 'SN2-0': {length_message(9)}"
    assert verifier.list_tokens() == []


@pytest.mark.parametrize("size", [9, 65])
def test_cli_refuses_the_length_in_one_line_with_exit_1(tmp_path, size):
    proc = subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", "verifier", "--data-dir", str(tmp_path)]
        + ["enrol", "alice", "--secret"],
        input=base64.b32encode(secret_of(size)).decode() + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == f"Error: {length_message(size)}\n"
    listed = subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", "verifier", "--data-dir", str(tmp_path)]
        + ["list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0
    assert "alice" not in listed.stdout
