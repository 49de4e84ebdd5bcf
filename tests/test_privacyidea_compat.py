"""privacyIDEA-compatible /validate/check and /validate/radiuscheck
(docs/integrations/privacyidea.md).

The expected answers are written from privacyIDEA 3.x's own code and documentation, not from
Baoling's output: privacyidea/lib/utils prepare_result (jsonrpc "2.0", id 2 for validate,
result.status/value/authentication, version, versionnumber, time, detail), api/lib/utils
send_error (id 1, result.status false, result.error.code/message, detail null), lib/token.py
check_token_list and lib/tokenclass.py check_all (the detail messages: "matching 1 tokens",
"wrong otp value", ". previous otp used again", "wrong otp pin", "Failcounter exceeded",
"Token is disabled", "The user has no tokens assigned"; serial, type and otplen only when the
code was compared), lib/decorators.py and api/lib/utils get_required (ParameterError 905,
"ERR905: ..." with HTTP 400), api/lib/prepolicy api_key_required (PolicyError 303 "No valid API
key was passed.", HTTP 403), api/lib/postpolicy construct_radius_response (radiuscheck: empty
204 or 400).
"""

import base64
import ipaddress
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pyotp
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.engine import Policy
from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier
from baoling.verifier.settings import SettingsError, load

LOCKOUT_AFTER = 3
TOP_KEYS = {"jsonrpc", "result", "version", "versionnumber", "id", "time", "detail"}
ERROR_KEYS = {"jsonrpc", "detail", "result", "version", "id", "time"}


@pytest.fixture
def verifier(tmp_path: Path) -> Iterator[Verifier]:
    v = Verifier(data_dir=tmp_path, policy=Policy(lockout_after_fails=LOCKOUT_AFTER))
    yield v
    v.close()


@pytest.fixture
def client(verifier: Verifier) -> TestClient:
    return TestClient(create_app(verifier))


@pytest.fixture
def key(verifier: Verifier) -> dict[str, str]:
    """privacyIDEA's clients send the key itself in Authorization (api_key_required)."""
    return {"Authorization": verifier.create_api_key("keycloak", ["validate"])}


@pytest.fixture
def totp(verifier: Verifier) -> pyotp.TOTP:
    secret = base64.b32encode(os.urandom(20)).decode()
    verifier.enrol("alice-token", base64.b32decode(secret))
    return pyotp.TOTP(secret)


def wrong_code(totp: pyotp.TOTP) -> str:
    now = time.time()
    near = {totp.at(now + d * 30) for d in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)


def assert_result(body: dict, value: bool, detail: dict) -> None:
    """privacyIDEA's prepare_result for a validate request (rid 2)."""
    assert set(body) == TOP_KEYS
    assert body["jsonrpc"] == "2.0"
    assert body["id"] == 2
    assert isinstance(body["version"], str) and isinstance(body["versionnumber"], str)
    assert abs(body["time"] - time.time()) < 60
    authentication = "ACCEPT" if value else "REJECT"
    assert body["result"] == {"status": True, "value": value, "authentication": authentication}
    assert body["detail"] == detail


def assert_error(response: httpx.Response, status: int, code: int, message: str) -> None:
    """privacyIDEA's send_error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["jsonrpc"] == "2.0"
    assert body["id"] == 1
    assert body["detail"] is None
    assert body["result"] == {"status": False, "error": {"code": code, "message": message}}


ACCEPTED = {"message": "matching 1 tokens", "serial": "alice-token", "type": "totp", "otplen": 6}
WRONG = {"message": "wrong otp value", "serial": "alice-token", "type": "totp", "otplen": 6}


# --------------------------------------------------------------------------- by serial


def test_serial_and_right_code_by_form_post_is_accept(client, key, totp, verifier):
    form = {"serial": "alice-token", "pass": totp.now()}
    response = client.post("/validate/check", data=form, headers=key)
    assert response.status_code == 200
    assert_result(response.json(), True, ACCEPTED)
    # The same Verifier operation as /v1/validate: audited alike.
    row = verifier.audit(limit=1)[0]
    assert (row["action"], row["token"]) == ("validate", "alice-token")
    assert row["detail"] == {"result": "accept", "reason": "accepted"}


def test_get_with_query_and_json_post_are_read_alike(client, key, totp, verifier):
    code = totp.at(time.time() - 30)
    response = client.get(
        "/validate/check", params={"serial": "alice-token", "pass": code}, headers=key
    )
    assert_result(response.json(), True, ACCEPTED)
    response = client.post(
        "/validate/check", json={"serial": "alice-token", "pass": totp.now()}, headers=key
    )
    assert_result(response.json(), True, ACCEPTED)


def test_wrong_code_is_reject_naming_the_token(client, key, totp):
    response = client.post(
        "/validate/check", data={"serial": "alice-token", "pass": wrong_code(totp)}, headers=key
    )
    assert response.status_code == 200
    assert_result(response.json(), False, WRONG)


def test_a_replayed_code_is_reject_as_a_previous_otp(client, key, totp):
    form = {"serial": "alice-token", "pass": totp.now()}
    assert client.post("/validate/check", data=form, headers=key).json()["result"]["value"]
    replayed = client.post("/validate/check", data=form, headers=key).json()
    detail = dict(WRONG, message="wrong otp value. previous otp used again")
    assert_result(replayed, False, detail)


def test_a_pass_of_the_wrong_length_is_a_wrong_pin(client, key, totp):
    form = {"serial": "alice-token", "pass": "1234" + totp.now()}
    response = client.post("/validate/check", data=form, headers=key)
    assert_result(response.json(), False, {"message": "wrong otp pin"})


def test_a_locked_token_rejects_the_right_code_with_failcounter_exceeded(client, key, totp):
    for _ in range(LOCKOUT_AFTER):
        form = {"serial": "alice-token", "pass": wrong_code(totp)}
        client.post("/validate/check", data=form, headers=key)
    form = {"serial": "alice-token", "pass": totp.now()}
    response = client.post("/validate/check", data=form, headers=key)
    assert response.status_code == 200
    assert_result(response.json(), False, {"message": "Failcounter exceeded"})


def test_a_disabled_token_is_reject(client, key, totp, verifier):
    verifier.disable("alice-token")
    form = {"serial": "alice-token", "pass": totp.now()}
    response = client.post("/validate/check", data=form, headers=key)
    assert_result(response.json(), False, {"message": "Token is disabled"})


def test_otponly_checks_the_code_as_well(client, key, totp):
    form = {"serial": "alice-token", "pass": totp.now(), "otponly": "1"}
    assert_result(client.post("/validate/check", data=form, headers=key).json(), True, ACCEPTED)


def test_otponly_may_be_a_json_boolean(client, key, totp):
    body = {"serial": "alice-token", "pass": totp.now(), "otponly": True}
    assert_result(client.post("/validate/check", json=body, headers=key).json(), True, ACCEPTED)
    body = {"serial": "alice-token", "pass": totp.now(), "realm": True}
    response = client.post("/validate/check", json=body, headers=key)
    assert_error(response, 400, 905, "ERR905: The parameter realm must be text.")


def test_an_unknown_serial_is_privacyideas_resource_not_found(client, key, totp):
    for serial in ("bob-token", "not a token id"):
        response = client.post(
            "/validate/check", data={"serial": serial, "pass": "123456"}, headers=key
        )
        assert_error(response, 404, 601, "The requested token could not be found.")


def test_an_hotp_token_is_named_with_its_type(client, key, verifier):
    """privacyIDEA's detail.type is the token's own type (check_token_list: tokentype)."""
    secret = base64.b32encode(os.urandom(20)).decode()
    verifier.enrol("fob-1", base64.b32decode(secret), kind="hotp")
    verifier.add_user("dave@corp")
    verifier.assign("fob-1", "dave@corp", override=True)
    hotp = pyotp.HOTP(secret)
    named = {"serial": "fob-1", "type": "hotp", "otplen": 6}
    for who, counter in (({"serial": "fob-1"}, 0), ({"user": "dave", "realm": "corp"}, 1)):
        form = {**who, "pass": hotp.at(counter)}
        accepted = client.post("/validate/check", data=form, headers=key).json()
        assert_result(accepted, True, {"message": "matching 1 tokens", **named})
        replayed = client.post("/validate/check", data=form, headers=key).json()
        used = "wrong otp value. previous otp used again"
        assert_result(replayed, False, {"message": used, **named})


# ----------------------------------------------------------------------------- by user


@pytest.fixture
def alice(verifier, totp) -> pyotp.TOTP:
    verifier.add_user("alice@corp")
    verifier.assign("alice-token", "alice@corp", override=True)
    return totp


@pytest.mark.parametrize(
    "who",
    [
        {"user": "alice", "realm": "corp"},
        {"user": "alice@corp"},
        {"user": "alice@corp", "realm": "corp"},
    ],
)
def test_user_and_realm_with_the_right_code_is_accept(client, key, alice, verifier, who):
    response = client.post("/validate/check", data={**who, "pass": alice.now()}, headers=key)
    assert_result(response.json(), True, ACCEPTED)
    row = verifier.audit(limit=1)[0]
    assert (row["action"], row["token"]) == ("validate", "alice-token")
    assert row["detail"] == {
        "result": "accept",
        "reason": "accepted",
        "user": "alice@corp",
        "source": "testclient",  # the TCP peer as the test client names itself
    }


def test_user_with_a_wrong_code_is_reject(client, key, alice):
    form = {"user": "alice", "realm": "corp", "pass": wrong_code(alice)}
    assert_result(client.post("/validate/check", data=form, headers=key).json(), False, WRONG)


def test_a_user_login_with_an_at_sign_takes_the_realm_parameter(client, key, verifier, totp):
    verifier.add_user("alice@example.org@corp")
    verifier.assign("alice-token", "alice@example.org@corp", override=True)
    form = {"user": "alice@example.org", "realm": "corp", "pass": totp.now()}
    assert_result(client.post("/validate/check", data=form, headers=key).json(), True, ACCEPTED)


@pytest.mark.parametrize("who", ["nobody@corp", "alice@elsewhere", "idle@corp", "bare@corp"])
def test_users_without_a_usable_token_get_one_answer(client, key, alice, verifier, who):
    verifier.add_user("idle@corp")
    verifier.deactivate_user("idle@corp")
    verifier.add_user("bare@corp")
    form = {"user": who, "pass": alice.now()}
    response = client.post("/validate/check", data=form, headers=key)
    assert_result(response.json(), False, {"message": "The user has no tokens assigned"})


def test_no_detail_on_fail_answers_every_reject_alike_and_keeps_accepts_and_challenges(
    verifier, key, alice
):
    """privacyIDEA's no_detail_on_fail policy: a failed authentication is answered without
    `detail`, so a wrong code for alice's token reads as a user without one."""
    client = TestClient(create_app(verifier, privacyidea_no_detail_on_fail=True))
    verifier.add_user("bare@corp")
    wrong = wrong_code(alice)
    rejects = [
        client.post("/validate/check", data=form, headers=key).json()
        for form in (
            {"user": "alice@corp", "pass": wrong},
            {"user": "nobody@corp", "pass": wrong},
            {"user": "bare@corp", "pass": wrong},
            {"serial": "alice-token", "pass": wrong},
        )
    ]
    for body in rejects:
        assert set(body) == TOP_KEYS - {"detail"}
        assert body["result"] == {"status": True, "value": False, "authentication": "REJECT"}
    assert len({str({k: v for k, v in b.items() if k != "time"}) for b in rejects}) == 1
    form = {"user": "alice@corp", "pass": alice.now()}
    assert_result(client.post("/validate/check", data=form, headers=key).json(), True, ACCEPTED)
    verifier.set_user_pin("alice@corp", "4711")
    form = {"user": "alice@corp", "pass": "4711"}
    challenge = client.post("/validate/check", data=form, headers=key).json()
    assert challenge["result"]["authentication"] == "CHALLENGE"
    assert challenge["detail"]["transaction_id"]


def test_serial_with_its_user_is_checked_and_with_another_user_refused(
    client, key, alice, verifier
):
    form = {"user": "alice", "realm": "corp", "serial": "alice-token", "pass": alice.now()}
    assert_result(client.post("/validate/check", data=form, headers=key).json(), True, ACCEPTED)
    verifier.add_user("bob@corp")
    form = {"user": "bob@corp", "serial": "alice-token", "pass": alice.now()}
    response = client.post("/validate/check", data=form, headers=key)
    assert_error(response, 400, 905, "ERR905: Given serial does not belong to given user!")


def test_a_transaction_id_of_no_challenge_matches_nothing_and_the_code_is_not_used(
    client, key, alice
):
    """Challenges themselves: tests/test_privacyidea_challenge.py."""
    code = alice.now()
    no_match = {"message": "Response did not match the challenge."}
    for answer in ({"transaction_id": "12345678901234567890"}, {"state": "1234"}):
        form = {"user": "alice@corp", "pass": code, **answer}
        assert_result(
            client.post("/validate/check", data=form, headers=key).json(), False, no_match
        )
    form = {"user": "alice@corp", "pass": code}
    assert_result(client.post("/validate/check", data=form, headers=key).json(), True, ACCEPTED)
    form = {"user": "nobody@corp", "pass": code, "transaction_id": "1234"}
    response = client.post("/validate/check", data=form, headers=key)
    assert_result(response.json(), False, no_match)


# ------------------------------------------------------------------------- radiuscheck


def test_radiuscheck_answers_an_empty_204_or_400(client, key, totp):
    form = {"serial": "alice-token", "pass": totp.now()}
    accepted = client.post("/validate/radiuscheck", data=form, headers=key)
    assert (accepted.status_code, accepted.content) == (204, b"")
    rejected = client.post("/validate/radiuscheck", data=form, headers=key)  # a replay
    assert (rejected.status_code, rejected.content) == (400, b"")
    # An error keeps its JSON body (validate.py: "Error responses ... are the same").
    response = client.get("/validate/radiuscheck", params={"serial": "alice-token"}, headers=key)
    assert_error(response, 400, 905, "ERR905: Missing parameter: pass")


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"pass": "123456"}, "ERR905: You need to specify a serial, user or credential_id."),
        (
            {"user": " ", "serial": "", "pass": "1"},
            "ERR905: You need to specify a serial, user or credential_id.",
        ),
        ({"serial": "alice-*", "pass": "123456"}, "ERR905: Invalid serial number."),
        ({"user": "al%ce", "pass": "123456"}, "ERR905: Invalid user."),
        ({"serial": "alice-token"}, "ERR905: Missing parameter: pass"),
        ({"user": "alice", "realm": "a@b", "pass": "1"}, "ERR905: realm must not contain @."),
        (
            {"user": "al(ce", "pass": "1"},
            "ERR905: user must be printable text without * ( ) \\ or NUL.",
        ),
        (
            {"user": "alice", "pass": "1", "transaction_id": "1", "state": "2"},
            "ERR905: transaction_id and state differ.",
        ),
    ],
)
def test_missing_or_contradictory_parameters_get_privacyideas_error(
    client, key, totp, form, message
):
    assert_error(client.post("/validate/check", data=form, headers=key), 400, 905, message)


def test_a_parameter_given_twice_differently_is_refused(client, key, totp):
    response = client.post(
        "/validate/check?pass=111111", data={"serial": "alice-token", "pass": "222222"}, headers=key
    )
    message = "ERR905: The parameter pass is given twice, with different values."
    assert_error(response, 400, 905, message)


@pytest.mark.parametrize(
    ("content", "kind", "message"),
    [
        (b"{not json", "application/json", "ERR905: The request body is not valid JSON."),
        (  # deeper than Python's json module can go
            b'{"serial": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "application/json",
            "ERR905: The request body is not valid JSON.",
        ),
        (b"[1, 2]", "application/json", "ERR905: The JSON body must be an object."),
        (
            b'{"serial": "alice-token", "pass": [1]}',
            "application/json",
            "ERR905: The parameter pass must be text.",
        ),
        (
            b"serial=alice-token&pass=%FF",
            "application/x-www-form-urlencoded",
            "ERR905: The form is not URL-encoded UTF-8.",
        ),
        (
            b"<x/>",
            "text/xml",
            "ERR905: Send the parameters as a query, a form (application/x-www-form-urlencoded) "
            "or a JSON object.",
        ),
    ],
)
def test_unreadable_bodies_get_privacyideas_error(client, key, totp, content, kind, message):
    response = client.post(
        "/validate/check", content=content, headers={**key, "Content-Type": kind}
    )
    assert_error(response, 400, 905, message)


PARAMETER = st.sampled_from(
    ["user", "realm", "pass", "serial", "otponly", "transaction_id", "state", "x"]
)
TEXT = st.text(max_size=12) | st.sampled_from(["alice-token", "alice", "corp", "123456", ""])


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """One verifier for every example (a store per example would take most of the run)."""
    verifier = Verifier(data_dir=tmp_path_factory.mktemp("fuzz"))
    verifier.enrol("alice-token", os.urandom(20))
    verifier.add_user("alice@corp")
    verifier.assign("alice-token", "alice@corp", override=True)
    yield TestClient(create_app(verifier)), verifier.create_api_key("fuzz", ["validate"])
    verifier.close()


@given(form=st.dictionaries(PARAMETER, TEXT, max_size=6), as_json=st.booleans())
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_parameters_get_an_answer_or_a_4xx_error_never_a_5xx(fuzz_client, form, as_json):
    client, key = fuzz_client
    sent = {"json": form} if as_json else {"data": form}
    response = client.post("/validate/check", headers={"Authorization": key}, **sent)
    body = response.json()
    if response.status_code == 200:
        assert set(body) == TOP_KEYS and body["result"]["status"] is True
    else:
        assert response.status_code in (400, 404), response.text
        assert set(body) == ERROR_KEYS and body["result"]["status"] is False
        assert body["result"]["error"]["code"] in (905, 601)


def test_a_store_out_of_reach_is_privacyideas_error_shape_with_503(postgres_server, tmp_path):
    """privacyIDEA answers an error of its own with its error shape (code -500); a client that
    parses only that shape must not meet Baoling's own error body."""
    url = postgres_server.create_database()
    v = Verifier(url, data_dir=tmp_path)
    v.enrol("alice-token", os.urandom(20))
    v.add_user("alice@corp")
    v.assign("alice-token", "alice@corp", override=True)
    key = {"Authorization": v.create_api_key("keycloak", ["validate"])}
    client = TestClient(create_app(v))
    database = sa.make_url(url).database
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
    for path in ("/validate/check", "/validate/radiuscheck"):
        for who in ({"serial": "alice-token"}, {"user": "alice", "realm": "corp"}):
            response = client.post(path, data={**who, "pass": "123456"}, headers=key)
            assert response.status_code == 503, response.text
            body = response.json()
            assert set(body) == ERROR_KEYS and body["id"] == 1 and body["detail"] is None
            error = body["result"]["error"]
            assert body["result"]["status"] is False and error["code"] == -500
            assert error["message"].startswith("database postgresql+psycopg://postgres@")
    v.close()


# ----------------------------------------------------------------------------- admission


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "not-a-key"}, {"PI-Authorization": "not-a-key"}],
)
def test_without_a_valid_key_privacyideas_policy_error(client, totp, headers):
    form = {"serial": "alice-token", "pass": totp.now()}
    response = client.post("/validate/check", data=form, headers=headers)
    assert_error(response, 403, 303, "No valid API key was passed.")


def test_an_admin_key_is_not_a_validate_key(client, verifier, totp):
    headers = {"Authorization": verifier.create_api_key("ops", ["admin"])}
    response = client.post(
        "/validate/check", data={"serial": "alice-token", "pass": totp.now()}, headers=headers
    )
    assert_error(response, 403, 303, "No valid API key was passed.")


@pytest.mark.parametrize("header", ["Authorization", "PI-Authorization"])
@pytest.mark.parametrize("bearer", ["", "Bearer "])
def test_the_key_is_read_as_privacyidea_clients_send_it(client, verifier, totp, header, bearer):
    headers = {header: bearer + verifier.create_api_key("radius", ["validate"])}
    response = client.post(
        "/validate/check", data={"serial": "alice-token", "pass": totp.now()}, headers=headers
    )
    assert_result(response.json(), True, ACCEPTED)


def test_an_allow_list_without_the_callers_address_still_needs_a_key(verifier, totp):
    app = create_app(verifier, privacyidea_allow=[ipaddress.ip_network("10.0.0.0/8")])
    response = TestClient(app).post(
        "/validate/check", data={"serial": "alice-token", "pass": totp.now()}
    )
    assert_error(response, 403, 303, "No valid API key was passed.")


def test_the_allow_list_setting_names_a_bad_entry():
    with pytest.raises(SettingsError) as error:
        load({"privacyidea_allow": "10.0.0.0/8, 10.0.0.300"})
    assert str(error.value) == (
        "privacyidea_allow: '10.0.0.300' is not an IP address or network (such as 10.0.0.1 or "
        "10.0.0.0/24): '10.0.0.0/8, 10.0.0.300'"
    )
    assert load({"privacyidea_allow": "10.0.0.0/8, ::1"}).privacyidea_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1"),
    )


def test_the_routes_are_not_in_the_openapi_description(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/validate/")]


# ---------------------------------------------------------------------------- served node


def test_a_served_node_admits_its_allow_list_without_a_key(tmp_path):
    secret = base64.b32encode(os.urandom(20)).decode()
    verifier = Verifier(data_dir=tmp_path)
    verifier.enrol("alice-token", base64.b32decode(secret))
    verifier.add_user("alice@corp")
    verifier.assign("alice-token", "alice@corp", override=True)
    verifier.close()
    totp = pyotp.TOTP(secret)
    allow = ["--privacyidea-allow", "127.0.0.1, ::1"]
    with ServerProcess(["--data-dir", str(tmp_path)], allow) as server:
        form = {"user": "alice", "realm": "corp", "pass": totp.now()}
        response = httpx.post(f"{server.url}/validate/check", data=form, timeout=30)
        assert response.status_code == 200
        assert_result(response.json(), True, ACCEPTED)
        replay = httpx.post(f"{server.url}/validate/radiuscheck", data=form, timeout=30)
        assert (replay.status_code, replay.content) == (400, b"")


def test_a_served_node_reads_the_allow_list_by_the_tcp_peer_never_x_forwarded_for(tmp_path):
    """An X-Forwarded-For naming an allowed address admits nothing, even from a proxy the
    node trusts for its rate limits (docs/integrations/privacyidea.md)."""
    Verifier(data_dir=tmp_path).close()
    flags = ["--privacyidea-allow", "10.0.0.0/8", "--http-trusted-proxies", "127.0.0.1, ::1"]
    with ServerProcess(["--data-dir", str(tmp_path)], flags) as server:
        for path in ("/validate/check", "/validate/radiuscheck"):
            response = httpx.post(
                f"{server.url}{path}",
                data={"serial": "alice-token", "pass": "123456"},
                headers={"X-Forwarded-For": "10.1.2.3"},
                timeout=30,
            )
            assert_error(response, 403, 303, "No valid API key was passed.")
