"""privacyIDEA's `/validate/check` for a user with a first factor (docs/integrations/privacyidea.md,
docs/users.md "PINs and passwords"): `pass` is PIN + code in one request, or the PIN alone,
answered with privacyIDEA's CHALLENGE, then the code with the `transaction_id` (or `state`).

The expected bodies are written from privacyIDEA 3.x, not from Baoling's output: a challenge
answer as privacyIDEA's client libraries receive it from a TOTP/HOTP challenge-response token
(detail: client_mode "interactive", message "please enter otp: ", messages, multi_challenge
with client_mode, message, serial, transaction_id and type per token, preferred_client_mode,
serial, transaction_id, transaction_ids, type; result.authentication "CHALLENGE", value false),
lib/token.py check_token_list's "Found matching challenge" (with the serial) and "Response did
not match the challenge.", and the answers of tests/test_privacyidea_compat.py for one round.
"""

import base64
import os
import re
import time

import pyotp
import pytest
from fastapi.testclient import TestClient
from test_privacyidea_compat import (
    ACCEPTED,
    LOCKOUT_AFTER,
    WRONG,
    assert_result,
    wrong_code,
)
from test_radius_by_user import ldap_config

from baoling.verifier.engine import Policy
from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier
from tests.fixtures_ldap import Person

PIN = "4711"
CHALLENGE_DETAIL_KEYS = {
    "client_mode",
    "message",
    "messages",
    "multi_challenge",
    "preferred_client_mode",
    "serial",
    "transaction_id",
    "transaction_ids",
    "type",
}
NO_MATCH = {"message": "Response did not match the challenge."}
WRONG_PIN = {"message": "wrong otp pin"}


@pytest.fixture
def verifier(tmp_path) -> Verifier:
    v = Verifier(data_dir=tmp_path, policy=Policy(lockout_after_fails=LOCKOUT_AFTER))
    yield v
    v.close()


@pytest.fixture
def client(verifier: Verifier) -> TestClient:
    return TestClient(create_app(verifier))


@pytest.fixture
def key(verifier: Verifier) -> dict[str, str]:
    return {"Authorization": verifier.create_api_key("keycloak", ["validate"])}


@pytest.fixture
def alice(verifier: Verifier) -> pyotp.TOTP:
    """alice@corp with one TOTP token and the PIN 4711."""
    secret = base64.b32encode(os.urandom(20)).decode()
    verifier.enrol("alice-token", base64.b32decode(secret))
    verifier.add_user("alice@corp")
    verifier.assign("alice-token", "alice@corp", override=True)
    verifier.set_user_pin("alice@corp", PIN)
    return pyotp.TOTP(secret)


def check(client: TestClient, key: dict[str, str], **form: str) -> dict:
    response = client.post("/validate/check", data=form, headers=key)
    assert response.status_code == 200, response.text
    return response.json()


def assert_challenge(body: dict, serials: list[str]) -> str:
    """privacyIDEA's CHALLENGE answer, field by field; returns its transaction_id."""
    assert body["jsonrpc"] == "2.0" and body["id"] == 2
    assert body["result"] == {"status": True, "value": False, "authentication": "CHALLENGE"}
    detail = body["detail"]
    assert set(detail) == CHALLENGE_DETAIL_KEYS
    transaction = detail["transaction_id"]
    assert re.fullmatch(r"[0-9]{20,}", transaction)
    assert detail == {
        "client_mode": "interactive",
        "message": "please enter otp: ",
        "messages": ["please enter otp: "],
        "multi_challenge": [
            {
                "client_mode": "interactive",
                "message": "please enter otp: ",
                "serial": serial,
                "transaction_id": transaction,
                "type": "totp",
            }
            for serial in serials
        ],
        "preferred_client_mode": "interactive",
        "serial": serials[0],
        "transaction_id": transaction,
        "transaction_ids": [transaction] * len(serials),
        "type": "totp",
    }
    return transaction


# ----------------------------------------------------------------------------- one round


def test_pin_and_code_in_one_pass_is_accept(client, key, alice):
    body = check(client, key, user="alice", realm="corp", **{"pass": PIN + alice.now()})
    assert_result(body, True, ACCEPTED)


def test_pin_and_a_wrong_code_is_reject_naming_the_token(client, key, alice):
    body = check(client, key, user="alice@corp", **{"pass": PIN + wrong_code(alice)})
    assert_result(body, False, WRONG)


def test_a_wrong_pin_or_no_pin_is_wrong_otp_pin_and_leaves_the_code_unused(
    client, key, alice, verifier
):
    code = alice.now()
    for password in ("4712" + code, code):
        assert_result(check(client, key, user="alice@corp", **{"pass": password}), False, WRONG_PIN)
    wrong = [row["detail"]["reason"] for row in verifier.audit(limit=2)]
    assert wrong == ["wrong_pin", "wrong_pin"]
    body = check(client, key, user="alice@corp", **{"pass": PIN + code})
    assert_result(body, True, ACCEPTED)


# ---------------------------------------------------------------------------- challenge


@pytest.mark.parametrize("answer_as", ["transaction_id", "state"])
def test_the_pin_alone_gets_a_challenge_the_code_answers_it_once(
    client, key, alice, verifier, answer_as
):
    transaction = assert_challenge(
        check(client, key, user="alice", realm="corp", **{"pass": PIN}), ["alice-token"]
    )
    answer = {"user": "alice", "realm": "corp", "pass": alice.now(), answer_as: transaction}
    body = check(client, key, **answer)
    assert_result(body, True, {"message": "Found matching challenge", "serial": "alice-token"})
    # The transaction is used up, and the code with it.
    assert_result(check(client, key, **answer), False, NO_MATCH)
    later = {**answer, "pass": alice.at(time.time() + 30)}
    assert_result(check(client, key, **later), False, NO_MATCH)
    row = verifier.audit(limit=10)
    accepted = [r for r in row if r["action"] == "validate" and r["detail"]["result"] == "accept"]
    assert [r["detail"]["user"] for r in accepted] == ["alice@corp"]


def test_a_wrong_code_uses_the_challenge_up(client, key, alice, verifier):
    transaction = assert_challenge(
        check(client, key, user="alice@corp", **{"pass": PIN}), ["alice-token"]
    )
    answer = {"user": "alice@corp", "transaction_id": transaction}
    assert_result(check(client, key, **answer, **{"pass": wrong_code(alice)}), False, NO_MATCH)
    row = verifier.audit(limit=1)[0]
    assert (row["action"], row["token"], row["detail"]["reason"]) == (
        "validate",
        "alice-token",
        "wrong_code",
    )
    assert_result(check(client, key, **answer, **{"pass": alice.now()}), False, NO_MATCH)


def test_a_wrong_pin_gets_no_challenge(client, key, alice, verifier):
    assert_result(check(client, key, user="alice@corp", **{"pass": "4712"}), False, WRONG_PIN)
    row = verifier.audit(limit=1)[0]
    assert (row["action"], row["detail"]["result"], row["detail"]["reason"]) == (
        "validate",
        "reject",
        "wrong_pin",
    )


def test_a_challenge_is_bound_to_its_user(client, key, alice, verifier):
    verifier.enrol("bob-token", os.urandom(20))
    verifier.add_user("bob@corp")
    verifier.assign("bob-token", "bob@corp", override=True)
    transaction = assert_challenge(
        check(client, key, user="alice@corp", **{"pass": PIN}), ["alice-token"]
    )
    stolen = {"user": "bob@corp", "transaction_id": transaction, "pass": alice.now()}
    assert_result(check(client, key, **stolen), False, NO_MATCH)
    # Taken by bob's attempt: alice must start again.
    mine = {"user": "alice@corp", "transaction_id": transaction, "pass": alice.now()}
    assert_result(check(client, key, **mine), False, NO_MATCH)


def test_a_challenge_is_bound_to_its_door(client, key, alice, verifier):
    """A transaction_id is not a RADIUS State and a RADIUS State is not a transaction_id
    (docs/integrations/privacyidea.md): each is refused through the other door, and used up."""
    transaction = assert_challenge(
        check(client, key, user="alice@corp", **{"pass": PIN}), ["alice-token"]
    )
    state = int(transaction).to_bytes(16, "big")
    code = alice.now()
    login = verifier.answer_challenge(state, "alice@corp", code, door="vpn")
    assert (login.result, login.decision) == ("reject", None)
    mine = {"user": "alice@corp", "transaction_id": transaction, "pass": code}
    assert_result(check(client, key, **mine), False, NO_MATCH)
    # The other way: a State issued to the RADIUS client `vpn`, presented here.
    login = verifier.login("alice@corp", PIN, door="vpn", two_rounds=True, timeout_s=60)
    assert login.result == "challenge" and login.state is not None
    presented = f"{int.from_bytes(login.state, 'big'):039d}"
    assert_result(check(client, key, **{**mine, "transaction_id": presented}), False, NO_MATCH)
    assert verifier.answer_challenge(login.state, "alice@corp", code, door="vpn").decision is None
    assert verifier.show("alice-token")["last_step"] is None


@pytest.mark.parametrize("transaction", ["1234", "x" * 39, "9" * 39, "0" * 39])
def test_a_made_up_transaction_id_matches_nothing(client, key, alice, transaction):
    form = {"user": "alice@corp", "transaction_id": transaction, "pass": alice.now()}
    assert_result(check(client, key, **form), False, NO_MATCH)


def test_every_fit_token_of_the_user_is_challenged_under_one_transaction(
    client, key, alice, verifier
):
    secret = os.urandom(20)
    verifier.enrol("alice-phone", secret)
    verifier.assign("alice-phone", "alice@corp", "spare", override=True)
    verifier.enrol("alice-old", os.urandom(20))
    verifier.assign("alice-old", "alice@corp", "spare", override=True)
    verifier.disable("alice-old")
    transaction = assert_challenge(
        check(client, key, user="alice@corp", **{"pass": PIN}), ["alice-token", "alice-phone"]
    )
    phone = pyotp.TOTP(base64.b32encode(secret).decode())
    form = {"user": "alice@corp", "transaction_id": transaction, "pass": phone.now()}
    body = check(client, key, **form)
    assert_result(body, True, {"message": "Found matching challenge", "serial": "alice-phone"})


def test_a_locked_token_gets_no_challenge_and_says_nothing_of_the_pin(client, key, alice, verifier):
    for _ in range(LOCKOUT_AFTER):  # by serial: wrong codes given with a name lock nothing
        check(client, key, serial="alice-token", **{"pass": wrong_code(alice)})
    assert verifier.show("alice-token")["locked_until"] is not None
    for password in (PIN, "4712"):
        assert_result(check(client, key, user="alice@corp", **{"pass": password}), False, WRONG_PIN)
    body = check(client, key, user="alice@corp", **{"pass": PIN + alice.now()})
    assert_result(body, False, {"message": "Failcounter exceeded"})


def test_a_user_without_a_pin_sends_the_code_alone_and_gets_no_challenge(
    client, key, alice, verifier
):
    verifier.clear_user_pin("alice@corp")
    assert_result(
        check(client, key, user="alice@corp", **{"pass": PIN}), False, {"message": "wrong otp pin"}
    )
    assert_result(check(client, key, user="alice@corp", **{"pass": alice.now()}), True, ACCEPTED)


def test_serial_only_checks_the_code_alone(client, key, alice):
    """With `serial` and no user the token is checked as privacyIDEA's otponly does: the PIN
    belongs to the user, not to the token (docs/integrations/privacyidea.md)."""
    body = check(client, key, serial="alice-token", **{"pass": alice.now()})
    assert_result(body, True, ACCEPTED)
    answered = check(client, key, serial="alice-token", transaction_id="1" * 39, **{"pass": "1"})
    assert_result(answered, False, NO_MATCH)


def test_otponly_with_a_user_does_not_skip_the_pin(client, key, alice, verifier):
    """privacyIDEA reads otponly only with `serial`; with `user` the PIN is still asked for."""
    code = alice.now()
    body = check(client, key, user="alice@corp", otponly="1", **{"pass": code})
    assert_result(body, False, WRONG_PIN)
    assert verifier.audit(limit=1)[0]["detail"]["reason"] == "wrong_pin"
    body = check(client, key, user="alice@corp", otponly="1", **{"pass": PIN + code})
    assert_result(body, True, ACCEPTED)


def test_radiuscheck_answers_a_challenge_with_400(client, key, alice):
    """radiuscheck has no body for a challenge (privacyIDEA's construct_radius_response gives
    400 for anything but an accept)."""
    response = client.post(
        "/validate/radiuscheck", data={"user": "alice@corp", "pass": PIN}, headers=key
    )
    assert (response.status_code, response.content) == (400, b"")


def test_a_directory_password_gets_a_challenge_as_privacyideas_userstore_pin(tmp_path, ldap_server):
    """privacyIDEA's otppin=userstore: the user's directory password (checked by an LDAP bind
    against a real slapd, tests/fixtures_ldap.py) takes the PIN's place, alone for a
    challenge or followed by the code in one pass."""
    password = "dora's directory password"
    ldap_server.add(
        Person("dora", "Dora Dir", "dora@example.org", "+1 202 555 0102").ldif()
        + f"userPassword: {password}\n"
    )
    secret = os.urandom(20)
    verifier = Verifier(data_dir=tmp_path / "data", ldap_config=ldap_config(tmp_path, ldap_server))
    try:
        verifier.enrol("dora-token", secret)
        verifier.add_user("dora@staff")  # staff: first factor ldap_bind
        verifier.assign("dora-token", "dora@staff", override=True)
        client = TestClient(create_app(verifier))
        key = {"Authorization": verifier.create_api_key("keycloak", ["validate"])}
        totp = pyotp.TOTP(base64.b32encode(secret).decode())
        who = {"user": "dora", "realm": "staff"}
        assert_result(check(client, key, **who, **{"pass": "wrong password"}), False, WRONG_PIN)
        transaction = assert_challenge(
            check(client, key, **who, **{"pass": password}), ["dora-token"]
        )
        body = check(client, key, **who, transaction_id=transaction, **{"pass": totp.now()})
        assert_result(body, True, {"message": "Found matching challenge", "serial": "dora-token"})
        later = totp.at(time.time() + 30)
        body = check(client, key, **who, **{"pass": password + later})
        assert_result(body, True, dict(ACCEPTED, serial="dora-token"))
    finally:
        verifier.close()
