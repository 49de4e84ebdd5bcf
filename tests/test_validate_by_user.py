"""Validate by user name (docs/users.md) through the Python API and HTTP, on both stores: the
code is tried against each active token of the user, each code is accepted once across them
(under 50 concurrent threads, and from two processes sharing the store), and every refusal
of the user itself is only a "reject" whose reason the audit trail names."""

import base64
import re
import threading
import time

import pyotp
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from baoling.verifier.errors import InvalidRequest
from baoling.verifier.http import create_app
from baoling.verifier.http.schemas import USER_PATTERN
from baoling.verifier.user_names import parse_user_name
from tests.test_verifier_concurrency import NODE, _node
from tests.test_verifier_service import T0, code_at, wrong_code

ATTEMPTS = 50
HARDWARE_SECRET = bytes(range(1, 21))
HARDWARE_TOKEN = "BL0001-1"  # a Baoling token's serial and slot


def alice_with_two_tokens(v, now: float | None = T0) -> bytes:
    """alice@corp with a hardware token (primary) and a phone token enrolled from a generated
    secret, read back from its otpauth URI as an authenticator app would (spare), both at `now`
    (the tests' T0; None: the clock, for a server that validates by it). Returns the phone's
    secret."""
    v.enrol(HARDWARE_TOKEN, HARDWARE_SECRET, now=now)
    uri = v.enrol("alice-phone", issuer="Corp", label="alice@corp", now=now)
    v.add_user("alice@corp")
    v.assign(HARDWARE_TOKEN, "alice@corp", override=True)
    v.assign("alice-phone", "alice@corp", role="spare", override=True)
    return base64.b32decode(pyotp.parse_uri(uri).secret)


def validations(v) -> list[tuple[str | None, dict]]:
    """(token, detail) of the validate audit rows, oldest first."""
    return [(r["token"], r["detail"]) for r in reversed(v.audit(1000)) if r["action"] == "validate"]


def test_a_code_from_either_token_is_accepted_once(make_verifier):
    v = make_verifier()
    phone = alice_with_two_tokens(v)
    hardware_code = code_at(HARDWARE_SECRET, T0)
    assert v.validate_user("alice@corp", hardware_code, now=T0)
    assert v.check_user("alice@corp", hardware_code, now=T0 + 1).reason == "replay"
    phone_code = code_at(phone, T0 + 30)
    assert v.validate_user("alice@corp", phone_code, now=T0 + 30)
    assert not v.validate_user("alice@corp", phone_code, now=T0 + 31)
    assert v.show(HARDWARE_TOKEN)["last_step"] == T0 // 30
    assert v.show("alice-phone")["last_step"] == T0 // 30 + 1
    user = {"user": "alice@corp"}
    assert validations(v) == [
        (HARDWARE_TOKEN, {**user, "result": "accept", "reason": "accepted"}),
        (HARDWARE_TOKEN, {**user, "result": "reject", "reason": "replay"}),
        ("alice-phone", {**user, "result": "reject", "reason": "wrong_code"}),
        ("alice-phone", {**user, "result": "accept", "reason": "accepted"}),
        (HARDWARE_TOKEN, {**user, "result": "reject", "reason": "wrong_code"}),
        ("alice-phone", {**user, "result": "reject", "reason": "replay"}),
    ]


def test_a_wrong_code_given_with_the_user_name_counts_on_no_token(make_verifier):
    # It counts in the rate limits instead (tests/test_rate_limits.py): a token's lock, which
    # lasts the day, is no weapon for whoever knows the user's name.
    v = make_verifier()
    alice_with_two_tokens(v)
    assert not v.validate_user("alice@corp", wrong_code(HARDWARE_SECRET, T0), now=T0)
    assert [v.show(t)["fail_count"] for t in (HARDWARE_TOKEN, "alice-phone")] == [0, 0]
    assert v.validate_user("alice@corp", code_at(HARDWARE_SECRET, T0), now=T0)


def test_two_tokens_sharing_a_secret_accept_a_code_once(make_verifier):
    v = make_verifier()
    v.enrol("primary", HARDWARE_SECRET, now=T0)
    v.enrol("copy", HARDWARE_SECRET, now=T0)
    v.add_user("bob")
    v.assign("primary", "bob", override=True)
    v.assign("copy", "bob", role="spare", override=True)
    code = code_at(HARDWARE_SECRET, T0)
    assert v.validate_user("bob", code, now=T0)
    assert v.check_user("bob", code, now=T0 + 1).reason == "replay"
    assert v.show("copy")["last_step"] is None


def test_a_disabled_token_refuses_and_the_others_still_accept(make_verifier):
    v = make_verifier()
    phone = alice_with_two_tokens(v)
    v.disable(HARDWARE_TOKEN)
    assert not v.validate_user("alice@corp", code_at(HARDWARE_SECRET, T0), now=T0)
    assert v.validate_user("alice@corp", code_at(phone, T0 + 30), now=T0 + 30)
    user = {"user": "alice@corp"}
    assert validations(v) == [
        (HARDWARE_TOKEN, {**user, "result": "reject", "reason": "disabled"}),
        ("alice-phone", {**user, "result": "reject", "reason": "wrong_code"}),
        ("alice-phone", {**user, "result": "accept", "reason": "accepted"}),
    ]
    assert v.show(HARDWARE_TOKEN)["fail_count"] == 0


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ("alice@elsewhere", "unknown_realm"),
        ("carol@corp", "unknown_user"),
        ("nobody", "unknown_user"),  # the default realm always exists
        ("dave@corp", "no_token"),
        ("erin@corp", "user_deactivated"),
    ],
)
def test_refusals_of_the_user_are_only_a_reject_with_the_reason_audited(
    make_verifier, user, reason
):
    v = make_verifier()
    alice_with_two_tokens(v)
    v.add_user("dave@corp")
    v.enrol("erin-token", HARDWARE_SECRET, now=T0)
    v.add_user("erin@corp")
    v.assign("erin-token", "erin@corp", override=True)
    v.deactivate_user("erin@corp")
    decision = v.check_user(user, code_at(HARDWARE_SECRET, T0), now=T0)
    assert (decision.accepted, decision.reason, decision.decisions) == (False, reason, ())
    shown = user if "@" in user else f"{user}@default"
    assert validations(v) == [(None, {"user": shown, "result": "reject", "reason": reason})]
    assert v.show("erin-token")["fail_count"] == 0


def test_a_malformed_user_name_is_refused_before_anything_is_looked_up(make_verifier):
    v = make_verifier()
    with pytest.raises(InvalidRequest) as refused:
        v.validate_user("*)(uid=*", "123456")
    assert str(refused.value) == "user must be printable text without * ( ) \\ or NUL"
    assert validations(v) == []


def test_50_threads_one_right_code_for_the_user_exactly_one_accept(make_verifier):
    v = make_verifier()
    alice_with_two_tokens(v)
    code = code_at(HARDWARE_SECRET, T0)
    barrier = threading.Barrier(ATTEMPTS)
    results: list[bool] = []

    def attempt() -> None:
        barrier.wait()
        results.append(v.validate_user("alice@corp", code, now=T0))

    threads = [threading.Thread(target=attempt) for _ in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * (ATTEMPTS - 1) + [True]
    accepted = [d for _, d in validations(v) if d["result"] == "accept"]
    assert len(accepted) == 1


def test_two_nodes_50_submissions_for_the_user_exactly_one_accept(
    make_verifier, store_url, data_dir
):
    alice_with_two_tokens(make_verifier())
    code = code_at(HARDWARE_SECRET, T0)
    args = ("validate_user", "alice@corp", code, T0, ATTEMPTS // 2)
    nodes = [_node(NODE, store_url, data_dir, *args) for _ in range(2)]
    for node in nodes:
        assert node.stdout.readline() == "ready\n"
    for node in nodes:
        node.stdin.write("go\n")
        node.stdin.flush()
    accepts = [int(node.communicate(timeout=120)[0]) for node in nodes]
    assert sum(accepts) == 1
    assert make_verifier().verify_audit().ok


# ----------------------------------------------------------------------------------- HTTP


@pytest.fixture
def http(make_verifier):
    v = make_verifier()
    key = v.create_api_key("gateway", ["validate"])
    return v, TestClient(create_app(v)), {"Authorization": f"Bearer {key}"}


def test_http_validate_by_user(http):
    v, client, auth = http
    alice_with_two_tokens(v, now=None)
    body = {"user": "alice@corp", "code": code_at(HARDWARE_SECRET, time.time())}  # server's now
    first = client.post("/v1/validate", json=body, headers=auth)
    assert (first.status_code, first.json()) == (200, {"result": "accept", "amr": ["hwk", "otp"]})
    again = client.post("/v1/validate", json=body, headers=auth)
    assert (again.status_code, again.json()) == (200, {"result": "reject"})


@pytest.mark.parametrize("user", ["alice@elsewhere", "carol@corp", "dave@corp"])
def test_http_refusals_of_the_user_are_a_plain_reject(http, user):
    v, client, auth = http
    alice_with_two_tokens(v, now=None)
    v.add_user("dave@corp")
    answer = client.post("/v1/validate", json={"user": user, "code": "123456"}, headers=auth)
    assert (answer.status_code, answer.json()) == (200, {"result": "reject"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"user": "*", "code": "123456"}, "user: must be name@realm or name"),
        ({"user": "a\x00b", "code": "123456"}, "user: must be name@realm or name"),
        ({"user": "(uid=*)", "code": "123456"}, "user: must be name@realm or name"),
        ({"user": "a\\2a", "code": "123456"}, "user: must be name@realm or name"),
        ({"user": "a\nb", "code": "123456"}, "user: must be name@realm or name"),
        ({"user": "alice@", "code": "123456"}, "user: must be name@realm or name"),
        ({"user": "a" * 257, "code": "123456"}, "user: String should have at most 256"),
        ({"user": "é" * 129, "code": "123456"}, "user must be at most 256 bytes in UTF-8"),
        ({"user": "alice", "token": "alice", "code": "123456"}, "give exactly one of"),
        ({"code": "123456"}, "give exactly one of token and user"),
        ({"user": None, "code": "123456"}, "give exactly one of token and user"),
    ],
)
def test_http_a_malformed_user_name_is_a_422(http, body, message):
    v, client, auth = http
    answer = client.post("/v1/validate", json=body, headers=auth)
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_request"
    assert answer.json()["message"].startswith(message)
    assert validations(v) == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab @*()\\\x00\n\u00e9\u200b"), max_size=8))
def test_the_http_schema_takes_exactly_the_names_the_service_takes(text):
    try:
        parse_user_name(text, "default")
        taken = True
    except InvalidRequest:
        taken = False
    assert bool(re.fullmatch(USER_PATTERN, text)) == taken
