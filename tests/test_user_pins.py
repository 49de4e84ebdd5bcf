"""Users' static PINs in the store (docs/users.md, "PINs"): set and cleared from Python, the
command line and HTTP, kept as a slow hash, asked before the code by a password-and-code login
(verifier/logins.py), and never shown in a log, an audit row, an error or an answer."""

import json
import logging
import subprocess
import sys
import time
from contextlib import closing

import pytest
from fastapi.testclient import TestClient
from test_users import baoling
from test_verifier_service import code_at, wrong_code

from baoling.verifier import store
from baoling.verifier.errors import InvalidRequest, UnknownUser
from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier
from baoling.verifier.slow_hash import check_secret, is_slow_hash

SECRET = bytes(range(1, 21))
PIN = "s3cret-PIN"
RULE = "the PIN must be 4 to 64 printable characters"


@pytest.fixture
def alice(make_verifier) -> Verifier:
    v = make_verifier()
    v.enrol("BL0001-1", SECRET)
    v.add_user("alice@corp")
    v.assign("BL0001-1", "alice@corp", override=True)
    return v


def stored_pin(v: Verifier, user: str) -> str | None:
    """The PIN column as the database holds it."""
    name, realm = user.split("@")
    with v._store.read() as conn:
        row = store.get_user(conn, realm, name)
        return store.user_pin(conn, row.id)


def login(v: Verifier, password: str, *, two_rounds: bool = False):
    return v.login("alice@corp", password, door="test", two_rounds=two_rounds, timeout_s=60)


def test_a_pin_is_stored_as_a_slow_hash_and_replaced_and_cleared(alice: Verifier) -> None:
    assert not alice.user_has_pin("alice@corp")
    alice.set_user_pin("alice@corp", PIN)
    first = stored_pin(alice, "alice@corp")
    assert first is not None and is_slow_hash(first) and PIN not in first
    assert check_secret(PIN, first)
    alice.set_user_pin("alice@corp", "0000")
    assert check_secret("0000", stored_pin(alice, "alice@corp"))
    assert alice.user_has_pin("alice@corp")
    assert alice.clear_user_pin("alice@corp") is True
    assert alice.clear_user_pin("alice@corp") is False
    assert stored_pin(alice, "alice@corp") is None
    pin_rows = [
        (row["action"], row["token"], row["detail"])
        for row in reversed(alice.audit(100))
        if row["action"].startswith("user_pin")
    ]
    assert pin_rows == [
        ("user_pin_set", None, {"user": "alice@corp"}),
        ("user_pin_set", None, {"user": "alice@corp"}),
        ("user_pin_clear", None, {"user": "alice@corp"}),
    ]


@pytest.mark.parametrize("pin", ["", "123", "x" * 65, "12\n34", "12\x0034"])
def test_a_pin_breaking_the_rules_is_refused_without_echoing_it(alice: Verifier, pin) -> None:
    with pytest.raises(InvalidRequest) as refused:
        alice.set_user_pin("alice@corp", pin)
    assert str(refused.value) == RULE
    assert not alice.user_has_pin("alice@corp")


def test_an_unknown_user_gets_no_pin(alice: Verifier) -> None:
    with pytest.raises(UnknownUser, match=r"^no user 'bob@corp'$"):
        alice.set_user_pin("bob@corp", PIN)
    with pytest.raises(UnknownUser, match=r"^no user 'bob@corp'$"):
        alice.clear_user_pin("bob@corp")


def test_with_a_pin_the_password_is_pin_then_code(alice: Verifier) -> None:
    """Without a PIN the code alone logs in; with one the code alone is a wrong PIN (a
    failed attempt, in the rate limits), PIN + code logs in, and a wrong PIN with the right code
    is refused without using the code up."""
    now = time.time()
    assert login(alice, code_at(SECRET, now - 30)).result == "accept"
    alice.set_user_pin("alice@corp", PIN)
    alone = login(alice, wrong_code(SECRET, now))
    assert (alone.result, alone.reason) == ("reject", "wrong_pin")
    # Counted in the rate limits, not in the token's lock (tests/test_rate_limits.py).
    assert alice.show("BL0001-1")["fail_count"] == 0
    right = code_at(SECRET, now)
    wrong_pin = login(alice, "s3cret-PIM" + right)
    assert (wrong_pin.result, wrong_pin.reason) == ("reject", "wrong_pin")
    row = alice.audit(limit=1)[0]
    assert (row["action"], row["token"]) == ("validate", None)
    assert row["detail"] == {"result": "reject", "reason": "wrong_pin", "user": "alice@corp"}
    accepted = login(alice, PIN + right)
    assert (accepted.result, accepted.reason) == ("accept", "accepted")
    assert alice.show("BL0001-1")["fail_count"] == 0
    replay = login(alice, PIN + right)
    assert (replay.result, replay.reason) == ("reject", "replay")


def test_the_pin_is_never_logged_or_audited(alice: Verifier, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    alice.set_user_pin("alice@corp", PIN)
    login(alice, PIN + "123456")
    login(alice, PIN, two_rounds=True)
    login(alice, PIN + "x", two_rounds=True)
    alice.clear_user_pin("alice@corp")
    assert PIN not in caplog.text
    assert PIN not in json.dumps(alice.audit(1000))


# -------------------------------------------------------------------------- command line


def test_cli_sets_and_clears_a_pin_read_from_stdin(tmp_path) -> None:
    data = tmp_path / "data"
    with closing(Verifier(data_dir=data)) as v:
        v.add_user("alice@corp")

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "baoling.host_tools", "verifier", "--data-dir"]
        return subprocess.run(
            [*command, str(data), *args], input=stdin, capture_output=True, text=True, timeout=60
        )

    done = run("user", "set-pin", "alice@corp", stdin=PIN + "\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "Set the PIN of alice@corp.\n")
    with closing(Verifier(data_dir=data)) as v:
        assert check_secret(PIN, stored_pin(v, "alice@corp"))
    short = run("user", "set-pin", "alice@corp", stdin="12\n")
    assert (short.returncode, short.stdout, short.stderr) == (1, "", f"Error: {RULE}\n")
    cleared = run("user", "clear-pin", "alice@corp")
    assert (cleared.returncode, cleared.stderr) == (0, "Cleared the PIN of alice@corp.\n")
    again = run("user", "clear-pin", "alice@corp")
    assert (again.returncode, again.stderr) == (0, "alice@corp has no PIN.\n")
    unknown = baoling(data, "user", "set-pin", "bob@corp")
    assert (unknown.returncode, unknown.stderr) == (1, "Error: no user 'bob@corp'\n")


# ----------------------------------------------------------------------------------- HTTP


def test_http_sets_and_clears_a_pin_with_a_helpdesk_or_admin_key(alice: Verifier) -> None:
    client = TestClient(create_app(alice))
    admin = {"Authorization": f"Bearer {alice.create_api_key('ops', ['admin'])}"}
    helpdesk = {"Authorization": f"Bearer {alice.create_api_key('desk', ['helpdesk'])}"}
    validate = {"Authorization": f"Bearer {alice.create_api_key('vpn', ['validate'])}"}
    body = {"user": "alice@corp", "pin": PIN}
    forbidden = client.post("/v1/users/set-pin", json=body, headers=validate)
    assert forbidden.status_code == 403
    done = client.post("/v1/users/set-pin", json=body, headers=admin)
    assert (done.status_code, done.content) == (204, b"")
    assert check_secret(PIN, stored_pin(alice, "alice@corp"))
    short = client.post("/v1/users/set-pin", json={"user": "alice@corp", "pin": "1"}, headers=admin)
    assert short.status_code == 422
    assert short.json()["error"] == "invalid_request"
    assert short.json()["message"].startswith("pin: ")
    secret_ish = {"user": "alice@corp", "pin": "ab\ncd-" + PIN}
    refused = client.post("/v1/users/set-pin", json=secret_ish, headers=admin)
    assert refused.status_code == 422 and PIN not in refused.text
    unknown = client.post("/v1/users/set-pin", json={"user": "bob@corp", "pin": PIN}, headers=admin)
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"error": "unknown_user", "message": "no user 'bob@corp'"},
    )
    cleared = client.post("/v1/users/clear-pin", json={"user": "alice@corp"}, headers=helpdesk)
    assert (cleared.status_code, cleared.json()) == (200, {"cleared": True})
    again = client.post("/v1/users/clear-pin", json={"user": "alice@corp"}, headers=admin)
    assert again.json() == {"cleared": False}
    # The helpdesk's own PIN for alice, set through its key (audited as any PIN change).
    by_desk = client.post(
        "/v1/users/set-pin", json={"user": "alice@corp", "pin": "9876"}, headers=helpdesk
    )
    assert by_desk.status_code == 204
    assert check_secret("9876", stored_pin(alice, "alice@corp"))
    # docs/threat-model.md, "A helpdesk acting as the user": each PIN change names its key.
    by = [
        (row["action"], row["detail"].get("by"))
        for row in reversed(alice.audit(100))
        if row["action"].startswith("user_pin")
    ]
    assert by == [
        ("user_pin_set", "api-key:ops"),
        ("user_pin_clear", "api-key:desk"),
        ("user_pin_set", "api-key:desk"),
    ]
