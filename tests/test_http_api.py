"""The HTTP API (docs/verifier.md), one behaviour per test, codes computed by pyotp."""

import base64
import functools
import io
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Callable

import pyotp
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pskc import PSKC
from pydantic import TypeAdapter, ValidationError

from baoling.core import base32, limits
from baoling.core.errors import CoreError
from baoling.verifier.engine import Policy
from baoling.verifier.errors import InvalidRequest
from baoling.verifier.http import create_app, schemas
from baoling.verifier.http.middleware import MAX_BODY_BYTES
from baoling.verifier.inputs import MAX_TEXT_CHARS, check_text, check_token_id
from baoling.verifier.service import Verifier

LOCKOUT_AFTER = 3
# An accepted code's answer: RFC 8176 amr of a token without a device PIN (docs/verifier.md).
ACCEPT = {"result": "accept", "amr": ["hwk", "otp"]}

# A code given for a token or a user: a token code, or a user's backup code.
VALIDATE_CODE_RULE = "code: must be 6 to 8 digits, or a 10-digit backup code"


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
    assert response.json() == ACCEPT


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
    assert response.json() == {"error": "invalid_request", "message": VALIDATE_CODE_RULE}


def test_validate_refuses_a_code_of_five_digits(client, validate_auth, token):
    response = post_validate(client, validate_auth, "12345")
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "message": VALIDATE_CODE_RULE}


def test_validate_refuses_seven_digits_for_a_six_digit_token(client, validate_auth, token):
    response = post_validate(client, validate_auth, "1234567")
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_request",
        "message": "code: wrong number of digits for this token",
    }


def test_validate_refuses_a_code_followed_by_a_newline(client, validate_auth, token):
    """The schema's `$` ends the text; it does not also allow a newline before the end."""
    response = post_validate(client, validate_auth, token.now() + "\n")
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "message": VALIDATE_CODE_RULE}


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


def test_validate_answers_an_empty_body_as_fastapi_answers_one(
    client, validate_auth, admin_auth, token
):
    """POST /v1/validate is answered ahead of FastAPI's stack (verifier/http/validate_route.py);
    an empty body still gets the answer a FastAPI route with a required body gives."""
    ours = client.post("/v1/validate", content=b"", headers=validate_auth)
    fastapis = client.post("/v1/tokens", content=b"", headers=admin_auth)
    assert ours.status_code == fastapis.status_code == 422
    assert ours.json() == fastapis.json()
    assert ours.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b'{"token": "alice", "code": ', "invalid_json", "The request body is not valid JSON."),
        (
            b'{"token": "alice", "code": "\xff"}',
            "bad_request",
            "There was an error parsing the body",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "bad_request", "There was an error parsing the body"),
    ],
    ids=["unparsable-json", "not-utf-8", "nested-too-deeply"],
)
def test_validate_refuses_an_unreadable_body_with_400(client, validate_auth, body, error, message):
    response = client.post(
        "/v1/validate",
        content=body,
        headers={**validate_auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": error, "message": message}


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
    assert response.json()["message"] == "This API key is not valid for the helpdesk scope."


# docs/threat-model.md, "Keys" and "Keyless surface": what each scope may not reach.
KEYLESS = {"/healthz", "/readyz", "/metrics", "/openapi.json"}
PRIVACYIDEA = {"/validate/check", "/validate/radiuscheck"}  # privacyIDEA's own 403 answers
ADMIN_ONLY = {
    ("POST", "/v1/tokens"),
    ("DELETE", "/v1/tokens/{token_id}"),
    ("POST", "/v1/tokens/{token_id}/reset-drift"),
    ("POST", "/v1/pskc"),
    ("POST", "/v1/import"),
    ("POST", "/v1/users"),
    ("POST", "/v1/users/refresh"),
    ("POST", "/v1/users/deactivate"),
    ("POST", "/v1/users/login-rounds"),
    ("GET", "/v1/audit"),
}


def test_every_route_but_the_keyless_ones_refuses_a_key_out_of_its_scope(verifier):
    """Each route of the app, asked without a key, with a validate key and with a helpdesk
    key: a route added without a scope, or with too wide a one, fails here."""
    app = create_app(verifier)
    client = TestClient(app)
    keys = {
        scope: {"Authorization": f"Bearer {verifier.create_api_key(scope, [scope])}"}
        for scope in ("validate", "helpdesk")
    }
    routes = [
        (method, route.path)
        for route in app.routes
        for method in sorted(getattr(route, "methods", None) or ())
        if method != "HEAD" and route.path not in KEYLESS
    ]
    assert ("GET", "/v1/tokens/{token_id}") in routes  # the walk finds the API's routes
    for method, path in routes:
        url = path.replace("{token_id}", "alice")
        asked = functools.partial(client.request, method, url, json={})
        if path in PRIVACYIDEA:
            assert asked().status_code == 403, (method, path)
            continue
        assert asked().status_code == 401, (method, path)
        if path != "/v1/validate":
            assert asked(headers=keys["validate"]).status_code == 403, (method, path)
        if (method, path) in ADMIN_ONLY:
            assert asked(headers=keys["helpdesk"]).status_code == 403, (method, path)
    assert {(m, p) for m, p in ADMIN_ONLY} <= set(routes)


# ---------------------------------------------------------------------------------- admin


def test_enrol_with_a_generated_secret_returns_a_uri_whose_codes_validate(
    client, admin_auth, validate_auth
):
    response = client.post("/v1/tokens", json={"token": "bob"}, headers=admin_auth)
    assert response.status_code == 201
    assert response.json()["token"] == "bob"
    totp = pyotp.parse_uri(response.json()["uri"])
    assert post_validate(client, validate_auth, totp.now(), "bob").json() == ACCEPT


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
    assert post_validate(client, validate_auth, code, "bob").json() == ACCEPT


SECRET_RULE = (
    "secret: must be base32 (A-Z and 2-7, any case, spaces and hyphens allowed, = padding only "
    "at the end) of 10 to 64 bytes: 16 to 103 characters that end on a whole byte"
)


def test_enrol_refuses_a_secret_that_is_not_base32(client, admin_auth):
    response = client.post(
        "/v1/tokens", json={"token": "bob", "secret": "ABC!DEFG"}, headers=admin_auth
    )
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "message": SECRET_RULE}


def test_enrol_accepts_a_secret_typed_in_lower_case_groups_with_padding(
    client, admin_auth, validate_auth
):
    """As people copy a secret from a web page: "jbsw y3dp ..." with its = padding."""
    secret = base64.b32encode(os.urandom(16)).decode()  # 26 characters and 6 of padding
    letters = secret.rstrip("=")
    typed = " ".join(letters[i : i + 4] for i in range(0, len(letters), 4)).lower() + " ======"
    client.post("/v1/tokens", json={"token": "bob", "secret": typed}, headers=admin_auth)
    code = pyotp.TOTP(secret).now()
    assert post_validate(client, validate_auth, code, "bob").json() == ACCEPT


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:10] + "1" + s[11:],  # 1 is not base32
        lambda s: s + "A",  # 33 characters cannot end on a whole byte
        lambda s: s * 33,  # over MAX_SECRET_CHARS
    ],
    ids=["bad character", "bad length", "too long"],
)
def test_enrol_refusal_of_a_bad_secret_never_echoes_it(client, admin_auth, secret, mangle):
    sent = mangle(secret)
    response = client.post("/v1/tokens", json={"token": "bob", "secret": sent}, headers=admin_auth)
    assert response.status_code == 422
    assert set(response.json()) == {"error", "message"}
    assert secret[:8] not in response.text
    assert secret[-8:] not in response.text


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


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("counter", False, "counter: Input should be a valid integer"),
        ("digits", "6", "digits: Input should be a valid integer"),
        ("period", True, "period: Input should be a valid integer"),
        ("device_pin", 1, "device_pin: Input should be a valid boolean"),
    ],
)
def test_enrol_refuses_a_value_of_another_json_type(client, admin_auth, field, value, message):
    """The published schema's JSON types, not what pydantic could coerce (false as 0, "6")."""
    body = {"token": "bob", "kind": "hotp", field: value}
    response = client.post("/v1/tokens", json=body, headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "message": message}
    assert client.get("/v1/tokens/bob", headers=admin_auth).status_code == 404


def test_enrol_takes_a_counter_up_to_json_s_exact_integers(client, admin_auth):
    """Above 2**53 - 1 a JSON number may reach the server as a neighbour of the one sent (a
    double's 53 bits): 2**63 - 1 written by a client in floating point arrives as 2**63."""
    highest = 2**53 - 1
    body = {"token": "bob", "kind": "hotp", "counter": highest}
    assert client.post("/v1/tokens", json=body, headers=admin_auth).status_code == 201
    assert client.get("/v1/tokens/bob", headers=admin_auth).json()["counter"] == highest
    for beyond in (highest + 1, float(2**63 - 1)):
        body = {"token": "carol", "kind": "hotp", "counter": beyond}
        response = client.post("/v1/tokens", json=body, headers=admin_auth)
        assert response.status_code == 422
        assert response.json() == {
            "error": "invalid_request",
            "message": "counter: Input should be less than or equal to 9007199254740991",
        }
    assert client.get("/v1/tokens/carol", headers=admin_auth).status_code == 404


TOKEN_ID_RULE = "must be 1 to 128 letters, digits and . _ : @ + -, starting with a letter or digit"


def test_enrol_refuses_a_token_id_with_a_space(client, admin_auth):
    response = client.post("/v1/tokens", json={"token": "bob smith"}, headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "message": f"token: {TOKEN_ID_RULE}"}


def test_enrol_takes_a_token_id_of_128_characters_not_129(client, admin_auth):
    longest = "b" * 128
    assert client.post("/v1/tokens", json={"token": longest}, headers=admin_auth).status_code == 201
    response = client.post("/v1/tokens", json={"token": longest + "b"}, headers=admin_auth)
    assert response.status_code == 422
    assert response.json()["message"] == f"token: {TOKEN_ID_RULE}"


def test_enrol_refuses_a_label_with_a_control_character(client, admin_auth):
    body = {"token": "bob", "label": "bob\x1b[2J"}
    response = client.post("/v1/tokens", json=body, headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_request",
        "message": "label: must be printable text",
    }


def test_enrol_keeps_a_chinese_label_and_issuer(client, admin_auth):
    body = {"token": "bob", "issuer": "宝令银行", "label": "王小明"}
    assert client.post("/v1/tokens", json=body, headers=admin_auth).status_code == 201
    shown = client.get("/v1/tokens/bob", headers=admin_auth).json()
    assert (shown["issuer"], shown["label"]) == ("宝令银行", "王小明")


def test_enrol_refuses_a_label_over_256_characters(client, admin_auth):
    body = {"token": "bob", "label": "x" * 257}
    response = client.post("/v1/tokens", json=body, headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_request",
        "message": "label: String should have at most 256 characters",
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


def test_show_refuses_a_malformed_token_id_in_the_path(client, admin_auth):
    response = client.get("/v1/tokens/-bob", headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "message": f"token_id: {TOKEN_ID_RULE}"}


def test_disabled_token_rejects_its_right_code(client, admin_auth, validate_auth, token):
    assert client.post("/v1/tokens/alice/disable", headers=admin_auth).status_code == 200
    assert post_validate(client, validate_auth, token.now()).json() == {"result": "reject"}


def test_enable_after_disable_accepts_again(client, admin_auth, validate_auth, token):
    client.post("/v1/tokens/alice/disable", headers=admin_auth)
    client.post("/v1/tokens/alice/enable", headers=admin_auth)
    assert post_validate(client, validate_auth, token.now()).json() == ACCEPT


def test_unlock_after_lockout_accepts_again(client, admin_auth, validate_auth, token):
    for _ in range(LOCKOUT_AFTER):
        post_validate(client, validate_auth, wrong_code(token))
    assert client.post("/v1/tokens/alice/unlock", headers=admin_auth).status_code == 200
    assert post_validate(client, validate_auth, token.now()).json() == ACCEPT


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


def test_a_helpdesk_key_resyncs_with_two_codes_from_the_token(client, verifier, token):
    helpdesk_auth = {"Authorization": f"Bearer {verifier.create_api_key('desk', ['helpdesk'])}"}
    later = time.time() + 10 * 30
    body = {"code1": token.at(later), "code2": token.at(later + 30)}
    response = client.post("/v1/tokens/alice/resync", json=body, headers=helpdesk_auth)
    assert response.json() == {"resynced": True}
    (row,) = verifier.search_audit(token="alice", action="resync")
    assert row["detail"]["by"] == "api-key:desk"


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


def test_pskc_made_by_python_pskc_imports_and_validates(client, admin_auth, validate_auth, secret):
    body = {"pskc": pskc_document(secret, "carol"), "key": PSKC_KEY.hex()}
    response = client.post("/v1/pskc", json=body, headers=admin_auth)
    assert response.status_code == 201
    [token_id] = response.json()["tokens"]
    code = pyotp.TOTP(secret).now()
    assert post_validate(client, validate_auth, code, token_id).json() == ACCEPT


def test_pskc_with_the_wrong_key_is_refused_and_imports_nothing(client, admin_auth, secret):
    body = {"pskc": pskc_document(secret, "carol"), "key": "00" * 16}
    response = client.post("/v1/pskc", json=body, headers=admin_auth)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_pskc"
    assert client.get("/v1/tokens", headers=admin_auth).json() == {"tokens": []}


def test_pskc_key_that_is_not_hex_is_refused(client, admin_auth, secret):
    body = {"pskc": pskc_document(secret, "carol"), "key": "0g" * 16}
    response = client.post("/v1/pskc", json=body, headers=admin_auth)
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_request",
        "message": "key: must be hex, two digits per byte",
    }


# ------------------------------------------------ the schema's rules are the service's rules
# pydantic (the HTTP layer's validator, which also writes the schema) must refuse nothing the
# service takes and take nothing the service refuses.


@functools.cache
def adapter(field: object) -> TypeAdapter:
    return TypeAdapter(field)


def http_accepts(field: object, value: str) -> bool:
    try:
        adapter(field).validate_python(value)
    except ValidationError:
        return False
    return True


def service_accepts(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except (InvalidRequest, CoreError):
        return False
    return True


TOKEN_ID_LIKE = st.text(st.sampled_from("aZ09._:@+-" + " /%é\n\x00"), max_size=130)


@given(st.one_of(st.from_regex(schemas.TOKEN_ID_PATTERN, fullmatch=True), TOKEN_ID_LIKE))
def test_the_token_id_pattern_takes_what_check_token_id_takes(token_id):
    assert http_accepts(schemas.TokenId, token_id) == service_accepts(check_token_id, token_id)


def test_the_label_pattern_takes_each_character_that_str_isprintable_takes():
    """Every code point (surrogates cannot travel in JSON), against the service's own rule."""
    for point in itertools.chain(range(0xD800), range(0xE000, sys.maxunicode + 1)):
        char = chr(point)
        assert http_accepts(schemas.Text, char) == service_accepts(
            lambda text: check_text("label", text), char
        ), hex(point)


@given(st.text(max_size=MAX_TEXT_CHARS + 2))
def test_the_label_rule_takes_what_the_service_takes(text):
    assert http_accepts(schemas.Text, text) == service_accepts(
        lambda value: check_text("label", value), text
    )


BASE32_LIKE = st.text(st.sampled_from("AZaz27 -=18!\tß"), max_size=130)


def core_secret(text: str) -> None:
    """What the service takes: the core's base32, decoding to a length the core allows."""
    limits.check_secret(base32.decode(text))


@given(st.one_of(st.from_regex(schemas.SECRET_PATTERN, fullmatch=True), BASE32_LIKE))
def test_the_secret_rule_takes_what_the_core_takes(secret):
    """The schema states baoling.core's base32 and secret length rules exactly, and caps the
    text at MAX_SECRET_CHARS."""
    expected = service_accepts(core_secret, secret) and len(secret) <= schemas.MAX_SECRET_CHARS
    assert http_accepts(schemas.Secret, secret) == expected


def test_the_secret_rule_takes_each_length_the_core_takes():
    """Every secret length from 1 to 70 bytes, written bare, padded and spaced."""
    for size in range(1, 71):
        padded = base64.b32encode(bytes(range(size))).decode()
        bare = padded.rstrip("=")
        for text in (padded, bare, " ".join(bare[i : i + 4] for i in range(0, len(bare), 4))):
            assert http_accepts(schemas.Secret, text) == service_accepts(core_secret, text), size


# -------------------------------------------------------------------------------- service


def test_healthz_needs_no_key(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_count_validations_by_result_and_reason(client, validate_auth, token):
    code = token.now()
    assert post_validate(client, validate_auth, code).json() == ACCEPT
    assert post_validate(client, validate_auth, code).json() == {"result": "reject"}
    assert post_validate(client, validate_auth, "1234567").status_code == 422
    assert post_validate(client, validate_auth, code, token_id="nobody").status_code == 404
    user = {"user": "nobody", "code": code}
    assert client.post("/v1/validate", json=user, headers=validate_auth).status_code == 200
    # The malformed code was the first failure: LOCKOUT_AFTER - 1 wrong codes lock the token,
    # and the next one finds it locked.
    for _ in range(LOCKOUT_AFTER):
        post_validate(client, validate_auth, wrong_code(token))
    counted = {
        (labels["door"], labels["result"], labels["reason"]): float(value)
        for text, value in re.findall(
            r"^baoling_validations_total\{([^}]*)\} (\S+)$", client.get("/metrics").text, re.M
        )
        for labels in [dict(re.findall(r'(\w+)="([^"]*)"', text))]
    }
    assert counted == {
        ("http", "accept", "accepted"): 1.0,
        ("http", "reject", "replay"): 1.0,
        ("http", "reject", "malformed"): 1.0,
        ("http", "reject", "unknown_token"): 1.0,
        ("http", "reject", "unknown_user"): 1.0,
        ("http", "reject", "wrong_code"): float(LOCKOUT_AFTER - 1),
        ("http", "reject", "locked"): 1.0,
    }


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
