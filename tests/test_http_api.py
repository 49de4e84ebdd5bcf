"""The HTTP API (contracts.md section 10), one behaviour per test, codes computed by pyotp."""

import base64
import io
import json
import os
import re
import time

import pyotp
import pytest
from fastapi.testclient import TestClient
from pskc import PSKC

from verifier.engine import Policy
from verifier.http_api import MAX_BODY_BYTES, create_app
from verifier.service import Verifier

LOCKOUT_AFTER = 3


@pytest.fixture
def verifier(tmp_path) -> Verifier:
    return Verifier(data_dir=tmp_path, policy=Policy(lockout_after_fails=LOCKOUT_AFTER))


@pytest.fixture
def client(verifier) -> TestClient:
    return TestClient(create_app(verifier))


@pytest.fixture
def validate_auth(verifier) -> dict[str, str]:
    return {"Authorization": f"Bearer {verifier.create_api_key('vpn', ['validate'])}"}


@pytest.fixture
def admin_auth(verifier) -> dict[str, str]:
    return {"Authorization": f"Bearer {verifier.create_api_key('ops', ['admin'])}"}


@pytest.fixture
def secret() -> str:
    return base64.b32encode(os.urandom(20)).decode()


@pytest.fixture
def token(verifier, secret) -> pyotp.TOTP:
    """Token "alice" enrolled with a known secret; pyotp computes its codes."""
    verifier.enrol("alice", base64.b32decode(secret))
    return pyotp.TOTP(secret)


def wrong_code(totp: pyotp.TOTP) -> str:
    """A code outside the window: the right one's digits shifted, checked against ±1 step."""
    now = time.time()
    near = {totp.at(now + d * 30) for d in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)


def post_validate(client, auth, code, token_id="alice"):
    return client.post("/v1/validate", json={"token": token_id, "code": code}, headers=auth)


# ------------------------------------------------------------------------------ validate


def test_validate_accepts_the_code_pyotp_computes(client, validate_auth, token):
    response = post_validate(client, validate_auth, token.now())
    assert response.status_code == 200
    assert response.json() == {"result": "accept"}


def test_validate_rejects_the_same_code_a_second_time(client, validate_auth, token):
    code = token.now()
    post_validate(client, validate_auth, code)
    assert post_validate(client, validate_auth, code).json() == {"result": "reject"}


def test_validate_rejects_a_wrong_code_without_saying_why(client, validate_auth, token):
    response = post_validate(client, validate_auth, wrong_code(token))
    assert response.status_code == 200
    assert response.json() == {"result": "reject"}


def test_validate_rejects_a_right_code_once_locked_out(client, validate_auth, token):
    for _ in range(LOCKOUT_AFTER):
        post_validate(client, validate_auth, wrong_code(token))
    assert post_validate(client, validate_auth, token.now()).json() == {"result": "reject"}


def test_validate_of_an_unknown_token_is_404(client, validate_auth):
    response = post_validate(client, validate_auth, "123456", token_id="nobody")
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_token"


def test_validate_refuses_a_code_with_letters(client, validate_auth, token):
    response = post_validate(client, validate_auth, "12a456")
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "message": "code: must be 6 to 8 digits"}


def test_validate_refuses_a_code_of_five_digits(client, validate_auth, token):
    response = post_validate(client, validate_auth, "12345")
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "message": "code: must be 6 to 8 digits"}


def test_validate_refuses_seven_digits_for_a_six_digit_token(client, validate_auth, token):
    response = post_validate(client, validate_auth, "1234567")
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_request",
        "message": "code: wrong number of digits for this token",
    }


def test_validate_refuses_a_code_sent_as_a_number(client, validate_auth, token):
    response = post_validate(client, validate_auth, 123456)
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_request",
        "message": "code: Input should be a valid string",
    }


def test_validate_refuses_a_missing_field(client, validate_auth, token):
    response = client.post("/v1/validate", json={"token": "alice"}, headers=validate_auth)
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "message": "code: Field required"}


def test_validate_refuses_unparsable_json_with_400(client, validate_auth):
    response = client.post(
        "/v1/validate",
        content=b'{"token": "alice", "code": ',
        headers={**validate_auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_json",
        "message": "The request body is not valid JSON.",
    }


def test_validate_refuses_a_body_over_the_limit_with_413(client, validate_auth):
    body = json.dumps({"token": "alice", "code": "123456", "pad": "x" * MAX_BODY_BYTES})
    response = client.post(
        "/v1/validate",
        content=body,
        headers={**validate_auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": "body_too_large",
        "message": f"The request body is larger than {MAX_BODY_BYTES} bytes.",
    }


def test_validate_refuses_a_streamed_body_over_the_limit(client, validate_auth):
    """No Content-Length: the limit still holds while the body is read."""

    def chunks():
        yield b'{"token": "alice", "code": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"1" * 65536

    response = client.post(
        "/v1/validate",
        content=chunks(),
        headers={**validate_auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_validate_error_messages_never_echo_the_code(client, validate_auth, token):
    code = token.now()
    response = client.post(
        "/v1/validate", json={"token": "alice", "code": code, "extra": code}, headers=validate_auth
    )
    assert response.status_code == 422
    assert code not in response.text


# ---------------------------------------------------------------------------------- auth


def test_validate_without_a_key_is_401(client, token):
    response = post_validate(client, {}, token.now())
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "message": "Send an API key as 'Authorization: Bearer <key>'.",
    }


def test_validate_with_an_unknown_key_is_403(client, token):
    response = post_validate(client, {"Authorization": "Bearer not-a-key"}, token.now())
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "message": "This API key is not valid for the validate scope.",
    }


def test_an_admin_key_cannot_validate(client, admin_auth, token):
    assert post_validate(client, admin_auth, token.now()).status_code == 403


def test_a_validate_key_remembered_after_use_still_cannot_administer(client, validate_auth, token):
    assert post_validate(client, validate_auth, token.now()).status_code == 200
    assert client.get("/v1/tokens", headers=validate_auth).status_code == 403


def test_a_validate_key_cannot_list_tokens(client, validate_auth, token):
    response = client.get("/v1/tokens", headers=validate_auth)
    assert response.status_code == 403
    assert response.json()["message"] == "This API key is not valid for the admin scope."


# ---------------------------------------------------------------------------------- admin


def test_enrol_with_a_generated_secret_returns_a_uri_whose_codes_validate(
    client, admin_auth, validate_auth
):
    response = client.post("/v1/tokens", json={"token": "bob"}, headers=admin_auth)
    assert response.status_code == 201
    assert response.json()["token"] == "bob"
    totp = pyotp.parse_uri(response.json()["uri"])
    assert post_validate(client, validate_auth, totp.now(), "bob").json() == {"result": "accept"}


def test_enrol_with_a_given_secret_does_not_echo_it(client, admin_auth, secret):
    response = client.post(
        "/v1/tokens", json={"token": "bob", "secret": secret}, headers=admin_auth
    )
    assert response.status_code == 201
    assert response.json() == {"token": "bob", "uri": None}


def test_enrol_of_a_sha256_8_digit_60_second_token_validates_oathtool_codes(
    client, admin_auth, validate_auth, secret
):
    body = {"token": "bob", "secret": secret, "algorithm": "sha256", "digits": 8, "period": 60}
    client.post("/v1/tokens", json=body, headers=admin_auth)
    code = pyotp.TOTP(secret, digits=8, interval=60, digest="sha256").now()
    assert post_validate(client, validate_auth, code, "bob").json() == {"result": "accept"}


def test_enrol_refuses_a_secret_that_is_not_base32(client, admin_auth):
    response = client.post(
        "/v1/tokens", json={"token": "bob", "secret": "ABC!DEFG"}, headers=admin_auth
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_secret",
        "message": "secret is not valid base32: character 4 is not A-Z or 2-7",
    }


def test_enrol_refuses_an_existing_token_with_409(client, admin_auth, token):
    response = client.post("/v1/tokens", json={"token": "alice"}, headers=admin_auth)
    assert response.status_code == 409
    assert response.json()["error"] == "token_exists"


def test_enrol_refuses_digits_out_of_range(client, admin_auth):
    response = client.post("/v1/tokens", json={"token": "bob", "digits": 9}, headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_request",
        "message": "digits: Input should be less than or equal to 8",
    }


def test_list_names_the_enrolled_tokens(client, admin_auth, token):
    response = client.get("/v1/tokens", headers=admin_auth)
    assert response.status_code == 200
    assert [t["token"] for t in response.json()["tokens"]] == ["alice"]


def test_show_gives_settings_but_never_the_secret(client, admin_auth, token, secret):
    response = client.get("/v1/tokens/alice", headers=admin_auth)
    assert response.status_code == 200
    assert response.json()["digits"] == 6
    for form in (secret, secret.lower(), base64.b32decode(secret).hex()):
        assert form not in response.text


def test_show_of_an_unknown_token_is_404(client, admin_auth):
    response = client.get("/v1/tokens/nobody", headers=admin_auth)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_token"


def test_disabled_token_rejects_its_right_code(client, admin_auth, validate_auth, token):
    assert client.post("/v1/tokens/alice/disable", headers=admin_auth).status_code == 200
    assert post_validate(client, validate_auth, token.now()).json() == {"result": "reject"}


def test_enable_after_disable_accepts_again(client, admin_auth, validate_auth, token):
    client.post("/v1/tokens/alice/disable", headers=admin_auth)
    client.post("/v1/tokens/alice/enable", headers=admin_auth)
    assert post_validate(client, validate_auth, token.now()).json() == {"result": "accept"}


def test_unlock_after_lockout_accepts_again(client, admin_auth, validate_auth, token):
    for _ in range(LOCKOUT_AFTER):
        post_validate(client, validate_auth, wrong_code(token))
    assert client.post("/v1/tokens/alice/unlock", headers=admin_auth).status_code == 200
    assert post_validate(client, validate_auth, token.now()).json() == {"result": "accept"}


def test_reset_drift_returns_the_token_without_its_offset(client, admin_auth, token):
    later = time.time() + 10 * 30
    body = {"code1": token.at(later), "code2": token.at(later + 30)}
    client.post("/v1/tokens/alice/resync", json=body, headers=admin_auth)
    response = client.post("/v1/tokens/alice/reset-drift", headers=admin_auth)
    assert response.status_code == 200
    assert response.json()["drift"]["offset_s"] == 0


def test_resync_with_two_consecutive_codes_ten_steps_ahead(client, admin_auth, token):
    later = time.time() + 10 * 30
    body = {"code1": token.at(later), "code2": token.at(later + 30)}
    response = client.post("/v1/tokens/alice/resync", json=body, headers=admin_auth)
    assert response.status_code == 200
    assert response.json() == {"resynced": True}


def test_resync_with_non_consecutive_codes_fails(client, admin_auth, token):
    later = time.time() + 10 * 30
    body = {"code1": token.at(later), "code2": token.at(later + 90)}
    response = client.post("/v1/tokens/alice/resync", json=body, headers=admin_auth)
    assert response.json() == {"resynced": False}


def test_delete_then_show_is_404(client, admin_auth, token):
    assert client.delete("/v1/tokens/alice", headers=admin_auth).status_code == 204
    assert client.get("/v1/tokens/alice", headers=admin_auth).status_code == 404


def test_audit_records_validations_without_the_code(client, admin_auth, validate_auth, token):
    code = token.now()
    post_validate(client, validate_auth, code)
    response = client.get("/v1/audit", params={"limit": 10}, headers=admin_auth)
    assert response.status_code == 200
    [validation] = [e for e in response.json()["entries"] if e["action"] == "validate"]
    assert validation["detail"] == {"reason": "accepted", "result": "accept"}


def test_audit_refuses_a_limit_of_zero(client, admin_auth):
    response = client.get("/v1/audit", params={"limit": 0}, headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_request",
        "message": "limit: Input should be greater than or equal to 1",
    }


PSKC_KEY = bytes(range(16))


def pskc_document(secret: str, serial: str) -> str:
    """A PSKC file made by python-pskc: one TOTP key, protected by the pre-shared PSKC_KEY."""
    pskc = PSKC()
    key = pskc.add_key(secret=base64.b32decode(secret), serial=serial)
    key.id = serial
    key.algorithm = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
    key.response_length = 6
    key.time_interval = 30
    pskc.encryption.setup_preshared_key(key=PSKC_KEY)
    out = io.BytesIO()
    pskc.write(out)
    return out.getvalue().decode()


def test_pskc_made_by_python_pskc_imports_and_validates(
    client, admin_auth, validate_auth, secret
):
    body = {"pskc": pskc_document(secret, "carol"), "key": PSKC_KEY.hex()}
    response = client.post("/v1/pskc", json=body, headers=admin_auth)
    assert response.status_code == 201
    [token_id] = response.json()["tokens"]
    code = pyotp.TOTP(secret).now()
    assert post_validate(client, validate_auth, code, token_id).json() == {"result": "accept"}


def test_pskc_with_the_wrong_key_is_refused_and_imports_nothing(client, admin_auth, secret):
    body = {"pskc": pskc_document(secret, "carol"), "key": "00" * 16}
    response = client.post("/v1/pskc", json=body, headers=admin_auth)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_pskc"
    assert client.get("/v1/tokens", headers=admin_auth).json() == {"tokens": []}


# -------------------------------------------------------------------------------- service


def test_healthz_needs_no_key(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_count_validations_by_result(client, validate_auth, token):
    post_validate(client, validate_auth, token.now())
    text = client.get("/metrics").text
    assert 'baoling_validations_total{result="accept"} 1.0' in text


def test_metric_labels_hold_no_code(client, validate_auth, token):
    """Labels only: sample values are timings and counts, where six digits can occur."""
    code = token.now()
    post_validate(client, validate_auth, code)
    post_validate(client, validate_auth, code + "0")
    labels = re.findall(r"\{[^}]*\}", client.get("/metrics").text)
    assert labels
    assert not [label for label in labels if code in label]


def test_metrics_label_routes_by_template_not_by_token(client, admin_auth, token):
    client.get("/v1/tokens/alice", headers=admin_auth)
    text = client.get("/metrics").text
    assert 'route="/v1/tokens/{token_id}"' in text
    assert "alice" not in text


def test_unknown_path_is_a_json_404(client):
    response = client.get("/v2/nothing")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "Not Found"}


def test_openapi_spec_documents_validate_and_its_errors(client):
    spec = client.get("/openapi.json").json()
    answers = spec["paths"]["/v1/validate"]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "413", "422"} <= set(answers)
