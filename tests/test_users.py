"""Users (docs/users.md): the rules of a user name and its realm, the default realm setting,
adding, listing, showing and deactivating users and assigning tokens to them, on both stores,
from Python, the command line and HTTP."""

import base64
import json
import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from baoling.verifier.errors import (
    AssignmentConflict,
    InvalidRequest,
    UnknownToken,
    UnknownUser,
    UserExists,
)
from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier
from baoling.verifier.settings import SettingsError, load
from baoling.verifier.user_names import UserName, check_realm, parse_user_name

SECRET = bytes(range(1, 21))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice@corp", UserName("alice", "corp")),
        ("alice", UserName("alice", "home")),
        ("alice@example.org@corp", UserName("alice@example.org", "corp")),
        ("Ålice Müller@Corp", UserName("Ålice Müller", "Corp")),
        ("a" * 251 + "@corp", UserName("a" * 251, "corp")),
        ("alice liddell@corp one", UserName("alice liddell", "corp one")),
    ],
)
def test_a_name_splits_at_the_last_at_and_defaults_its_realm(text, expected):
    assert parse_user_name(text, "home") == expected
    assert str(expected) == (text if "@" in text else f"{text}@home")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "user name must not be empty"),
        ("a*", "user must be printable text without * ( ) \\ or NUL"),
        ("(uid=*)", "user must be printable text without * ( ) \\ or NUL"),
        ("a)(|(uid=b", "user must be printable text without * ( ) \\ or NUL"),
        ("a\\2a", "user must be printable text without * ( ) \\ or NUL"),
        ("a\0", "user must be printable text without * ( ) \\ or NUL"),
        ("a\nb", "user must be printable text without * ( ) \\ or NUL"),
        ("a\x7f", "user must be printable text without * ( ) \\ or NUL"),
        ("a\u200bb", "user must be printable text without * ( ) \\ or NUL"),
        ("a" * 252 + "@corp", "user must be at most 256 bytes in UTF-8"),
        ("é" * 129, "user must be at most 256 bytes in UTF-8"),
        ("@corp", "user name must not be empty"),
        ("alice@", "user realm must not be empty"),
        # Two spellings of alice@corp: a local user of a realm "corp " reads as alice@corp.
        ("alice@corp ", "user realm must not begin or end with a space"),
        ("alice@ corp", "user realm must not begin or end with a space"),
        ("alice @corp", "user name must not begin or end with a space"),
        (" alice", "user name must not begin or end with a space"),
        (None, "user must be printable text without * ( ) \\ or NUL"),
    ],
)
def test_a_malformed_name_is_refused_saying_which_rule(text, message):
    with pytest.raises(InvalidRequest) as refused:
        parse_user_name(text, "home")
    assert str(refused.value) == message


def test_a_realm_follows_the_name_rules_and_holds_no_at():
    assert check_realm("corp.example") == "corp.example"
    for realm, message in [
        ("a@b", "realm must not contain @"),
        ("", "realm must not be empty"),
        ("c*", "realm must be printable text without * ( ) \\ or NUL"),
        ("corp ", "realm must not begin or end with a space"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            check_realm(realm)
        assert str(refused.value) == message


def test_the_default_realm_setting_is_checked_and_named(monkeypatch):
    monkeypatch.delenv("BAOLING_CONFIG", raising=False)
    monkeypatch.setenv("BAOLING_DEFAULT_REALM", "corp")
    assert load().default_realm == "corp"
    monkeypatch.setenv("BAOLING_DEFAULT_REALM", "a@b")
    with pytest.raises(SettingsError) as refused:
        load()
    assert str(refused.value) == "BAOLING_DEFAULT_REALM: realm must not contain @: 'a@b'"
    monkeypatch.delenv("BAOLING_DEFAULT_REALM")
    assert load().default_realm == "default"


def audit_rows(v: Verifier, actions: set[str]) -> list[tuple[str, str | None, dict]]:
    """(action, token, detail) of the audit rows with these actions, oldest first."""
    rows = [r for r in reversed(v.audit(limit=1000)) if r["action"] in actions]
    return [(r["action"], r["token"], r["detail"]) for r in rows]


@pytest.mark.parametrize(
    "email",
    [
        "alice",
        "alice@corp.example, mallory@evil.example",
        "alice@corp.example\nBcc: x@y.z",
        "@corp",
    ],
    ids=["no-domain", "two-addresses", "line-break", "no-local-part"],
)
def test_an_email_that_is_not_one_address_is_refused_and_no_user_added(make_verifier, email):
    # Alerts go to a user's e-mail (docs/events.md): a second address would get them too.
    v = make_verifier()
    with pytest.raises(InvalidRequest):
        v.add_user("alice", email=email)
    assert v.list_users() == []
    assert v.add_user("张三", email="张三@例子.中国")["email"] == "张三@例子.中国"


def test_add_show_and_list_users(make_verifier):
    v = make_verifier(default_realm="corp")
    added = v.add_user(
        "alice", display_name="Alice Liddell", email="alice@corp.example", phone="+44 1865 000"
    )
    assert added == {
        "user": "alice@corp",
        "name": "alice",
        "realm": "corp",
        "resolver": "local",
        "display_name": "Alice Liddell",
        "email": "alice@corp.example",
        "phone": "+44 1865 000",
        "active": True,
        "created": added["created"],
        "deactivated": None,
        "notify_accepted": False,
        "login_rounds": "client",
        "tokens": [],
    }
    v.add_user("bob@lab")
    assert v.show_user("alice@corp") == added
    assert [u["user"] for u in v.list_users()] == ["alice@corp", "bob@lab"]
    with pytest.raises(UserExists) as taken:
        v.add_user("alice@corp")
    assert str(taken.value) == "user 'alice@corp' already exists"
    with pytest.raises(UnknownUser) as unknown:
        v.show_user("carol")
    assert str(unknown.value) == "no user 'carol@corp'"
    assert audit_rows(v, {"user_add"}) == [
        ("user_add", None, {"user": "alice@corp"}),
        ("user_add", None, {"user": "bob@lab"}),
    ]


def test_a_malformed_name_is_refused_by_every_operation(make_verifier):
    v = make_verifier()
    v.enrol("hw-1", SECRET)
    for call in (
        lambda: v.add_user("a*"),
        lambda: v.show_user("a*"),
        lambda: v.deactivate_user("a*"),
        lambda: v.assign("hw-1", "a*"),
    ):
        with pytest.raises(InvalidRequest) as refused:
            call()
        assert str(refused.value) == "user must be printable text without * ( ) \\ or NUL"
    with pytest.raises(InvalidRequest) as refused:
        v.add_user("alice", email="a\nb")
    assert str(refused.value) == "email must be printable text of at most 256 characters"
    assert v.list_users() == []


def test_two_spellings_of_one_name_in_unicode_are_one_user(make_verifier):
    """José typed with a combining accent (as macOS sends it) is the José stored with é, not
    a second user who lists the same; the audit names him in one spelling."""
    composed, decomposed = "Jos\u00e9@corp", "Jose\u0301@corp"
    assert parse_user_name("Jose\u0301@Sa\u0303o", "home") == UserName("Jos\u00e9", "S\u00e3o")
    v = make_verifier()
    v.enrol("BL0001-1", SECRET)
    v.add_user(composed)
    with pytest.raises(UserExists):
        v.add_user(decomposed)
    v.assign("BL0001-1", decomposed, override=True)
    assert [(u["user"], u["tokens"]) for u in v.list_users()] == [
        (composed, [{"token": "BL0001-1", "role": "primary"}])
    ]
    code = pyotp.TOTP(base64.b32encode(SECRET).decode()).now()
    assert v.validate_user(decomposed, code)
    assert not v.validate_user(composed, code)  # one user: the code is used up
    named = {detail["user"] for _, _, detail in audit_rows(v, {"user_add", "assign", "validate"})}
    assert named == {composed}


def test_assign_and_unassign_tokens_with_roles(make_verifier):
    v = make_verifier()
    v.enrol("hw-1", SECRET)
    v.enrol("phone-1", SECRET)
    v.add_user("alice")
    v.add_user("bob")
    v.assign("phone-1", "alice", role="spare", override=True)
    shown = v.assign("hw-1", "alice@default", override=True)
    assert shown["tokens"] == [
        {"token": "hw-1", "role": "primary"},
        {"token": "phone-1", "role": "spare"},
    ]
    with pytest.raises(AssignmentConflict) as conflict:
        v.assign("hw-1", "bob")
    assert str(conflict.value) == (
        "token 'hw-1' is already assigned to 'alice@default'; unassign it first"
    )
    with pytest.raises(InvalidRequest) as refused:
        v.assign("hw-1", "bob", role="backup")
    assert str(refused.value) == "role must be primary or spare"
    with pytest.raises(UnknownToken):
        v.assign("nope", "bob")
    with pytest.raises(UnknownUser):
        v.assign("hw-1", "carol")
    v.unassign("hw-1")
    with pytest.raises(AssignmentConflict) as conflict:
        v.unassign("hw-1")
    assert str(conflict.value) == "token 'hw-1' is not assigned to a user"
    v.assign("hw-1", "bob", override=True)
    v.delete("phone-1")  # a deleted token leaves its user
    assert v.show_user("alice")["tokens"] == []
    assert v.show_user("bob")["tokens"] == [{"token": "hw-1", "role": "primary"}]
    assert audit_rows(v, {"assign", "unassign"}) == [
        (
            "assign",
            "phone-1",
            {"user": "alice@default", "role": "spare", "possession": "overridden"},
        ),
        (
            "assign",
            "hw-1",
            {"user": "alice@default", "role": "primary", "possession": "overridden"},
        ),
        ("unassign", "hw-1", {"user": "alice@default"}),
        ("assign", "hw-1", {"user": "bob@default", "role": "primary", "possession": "overridden"}),
    ]


def test_a_deactivated_user_keeps_its_tokens_and_gets_no_new_one(make_verifier):
    v = make_verifier()
    v.enrol("hw-1", SECRET)
    v.enrol("hw-2", SECRET)
    v.add_user("alice")
    v.assign("hw-1", "alice", override=True)
    shown = v.deactivate_user("alice")
    assert (shown["active"], shown["tokens"]) == (False, [{"token": "hw-1", "role": "primary"}])
    assert shown["deactivated"] >= shown["created"]
    assert v.deactivate_user("alice") == shown  # once is enough
    with pytest.raises(AssignmentConflict) as conflict:
        v.assign("hw-2", "alice")
    assert str(conflict.value) == "user 'alice@default' is deactivated"
    with pytest.raises(UserExists):
        v.add_user("alice")  # never deleted, so never re-created
    assert audit_rows(v, {"user_deactivate"}) == [
        ("user_deactivate", None, {"user": "alice@default"})
    ]


def test_a_deactivated_users_token_is_refused_by_its_id_too(admin):
    """Deactivating a user (someone who left) ends its logins at every door: a code given with
    the token's id (POST /v1/validate {"token"}, RADIUS users of the TOML table) was still
    accepted. Reactivated with its tokens, it works again; another user's token never
    stopped."""
    v, client, auth = admin
    key = v.create_api_key("vpn", ["validate"])
    door = {"Authorization": f"Bearer {key}"}
    v.enrol("hw-1", SECRET)
    v.enrol("hw-2", SECRET)
    v.add_user("alice@corp")
    v.add_user("bob@corp")
    v.assign("hw-1", "alice@corp", override=True)
    v.assign("hw-2", "bob@corp", override=True)
    otp = pyotp.TOTP(base64.b32encode(SECRET).decode())
    v.deactivate_user("alice@corp")
    code = otp.now()
    answer = client.post("/v1/validate", json={"token": "hw-1", "code": code}, headers=door)
    assert (answer.status_code, answer.json()["result"]) == (200, "reject")
    assert v.check("hw-1", code).reason == "disabled"
    assert v.show("hw-1")["fail_count"] == 0  # refused untried, as a disabled token is
    assert v.validate("hw-2", code)
    v.reactivate_user("alice@corp", keep_tokens=True)
    answer = client.post("/v1/validate", json={"token": "hw-1", "code": code}, headers=door)
    assert answer.json()["result"] == "accept"
    refused = [d for _, t, d in audit_rows(v, {"validate"}) if t == "hw-1"]
    assert [(d["result"], d["reason"]) for d in refused] == [
        ("reject", "disabled"),
        ("reject", "disabled"),
        ("accept", "accepted"),
    ]


# -------------------------------------------------------------------------- command line


def baoling(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """The real entry point in a child process (no BAOLING_ setting of this suite reaches it)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("BAOLING_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "baoling.host_tools",
            "verifier",
            "--data-dir",
            str(data_dir),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_cli_users_and_assignments(tmp_path):
    data = tmp_path / "data"
    with closing(Verifier(data_dir=data)) as v:
        v.enrol("BL0001-1", SECRET)
        v.enrol("alice-phone", SECRET)
    added = baoling(
        data, "--default-realm", "corp", "user", "add", "alice", "--email", "a@c.example"
    )
    assert (added.returncode, added.stdout, added.stderr) == (0, "Added alice@corp.\n", "")
    assigned = baoling(data, "assign", "BL0001-1", "alice@corp", "--override")
    assert assigned.stdout == "Assigned BL0001-1 to alice@corp (primary).\n"
    spare = baoling(
        data, "assign", "alice-phone", "alice@corp", "--role", "spare", "--override", "--json"
    )
    assert json.loads(spare.stdout)["tokens"] == [
        {"token": "BL0001-1", "role": "primary"},
        {"token": "alice-phone", "role": "spare"},
    ]
    listed = baoling(data, "user", "list")
    assert listed.stdout == (
        "USER        STATE   TOKENS\nalice@corp  active  BL0001-1 (primary), alice-phone (spare)\n"
    )
    shown = baoling(data, "--default-realm", "corp", "user", "show", "alice")
    assert shown.stdout.splitlines()[:8] == [
        "User:          alice@corp",
        "Display name:  -",
        "E-mail:        a@c.example",
        "Phone:         -",
        "Resolver:      local",
        "State:         active",
        "RADIUS login:  as its client entry says",
        "Tokens:        BL0001-1 (primary), alice-phone (spare)",
    ]
    unassigned = baoling(data, "unassign", "alice-phone")
    assert (unassigned.returncode, unassigned.stderr) == (0, "Unassigned alice-phone.\n")
    deactivated = baoling(data, "user", "deactivate", "alice@corp", "--json")
    assert json.loads(deactivated.stdout)["active"] is False
    assert (
        baoling(data, "user", "list")
        .stdout.splitlines()[1]
        .startswith("alice@corp  deactivated 20")
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add", "a)(uid=*"], "user must be printable text without * ( ) \\ or NUL"),
        (["user", "show", "carol@corp"], "no user 'carol@corp'"),
        (["user", "add", "alice@"], "user realm must not be empty"),
        (["user", "add", "alice@corp "], "user realm must not begin or end with a space"),
        (["assign", "BL0001-1", "bob"], "no user 'bob@default'"),
        (["assign", "nope", "alice@corp"], "no token 'nope' is enrolled"),
        (["unassign", "BL0001-1"], "token 'BL0001-1' is not assigned to a user"),
    ],
)
def test_cli_refusals_are_one_line(tmp_path, args, message):
    data = tmp_path / "data"
    with closing(Verifier(data_dir=data)) as v:
        v.enrol("BL0001-1", SECRET)
        v.add_user("alice@corp")
    proc = baoling(data, *args)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"Error: {message}\n")


def test_login_rounds_are_set_shown_and_refused_in_one_line(tmp_path):
    """docs/users.md, "Login rounds": the Python API, the CLI; a value other than client, one
    or two is refused, and changes nothing."""
    data = tmp_path / "data"
    with closing(Verifier(data_dir=data)) as v:
        v.add_user("alice@corp")
        assert v.set_login_rounds("alice@corp", "two")["login_rounds"] == "two"
        with pytest.raises(InvalidRequest) as bad:
            v.set_login_rounds("alice@corp", "2")
        assert str(bad.value) == "login rounds must be one of client, one, two, not '2'"
        with pytest.raises(UnknownUser):
            v.set_login_rounds("carol@corp", "one")
    shown = baoling(data, "user", "show", "alice@corp")
    assert "RADIUS login:  in two rounds" in shown.stdout.splitlines()
    done = baoling(data, "user", "login-rounds", "alice@corp", "one", "--json")
    assert json.loads(done.stdout)["login_rounds"] == "one"
    wrong = baoling(data, "user", "login-rounds", "alice@corp", "three")
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.splitlines()[-1] == (
        "Error: Invalid value for '{client|one|two}': 'three' is not one of 'client', 'one', 'two'."
    )
    missing = baoling(data, "user", "login-rounds", "carol@corp", "two")
    assert (missing.returncode, missing.stderr) == (1, "Error: no user 'carol@corp'\n")
    # Setting what is already set writes no audit row.
    assert baoling(data, "user", "login-rounds", "alice@corp", "one").returncode == 0
    with closing(Verifier(data_dir=data)) as v:
        assert v.show_user("alice@corp")["login_rounds"] == "one"
        rows = [r["detail"] for r in reversed(v.audit(50)) if r["action"] == "user_login_rounds"]
    assert [(r["user"], r["rounds"]) for r in rows] == [
        ("alice@corp", "two"),
        ("alice@corp", "one"),
    ]


# ----------------------------------------------------------------------- HTTP admin routes


@pytest.fixture
def admin(make_verifier):
    v = make_verifier()
    key = v.create_api_key("ops", ["admin"])
    return v, TestClient(create_app(v)), {"Authorization": f"Bearer {key}"}


def test_http_user_routes(admin):
    v, client, auth = admin
    v.enrol("BL0001-1", SECRET)
    added = client.post(
        "/v1/users", json={"user": "alice@corp", "display_name": "Alice"}, headers=auth
    )
    assert added.status_code == 201
    assert (added.json()["user"], added.json()["display_name"]) == ("alice@corp", "Alice")
    again = client.post("/v1/users", json={"user": "alice@corp"}, headers=auth)
    assert (again.status_code, again.json()) == (
        409,
        {"error": "user_exists", "message": "user 'alice@corp' already exists"},
    )
    assigned = client.post(
        "/v1/tokens/BL0001-1/assign",
        json={"user": "alice@corp", "role": "spare", "override": True},
        headers=auth,
    )
    assert assigned.json()["tokens"] == [{"token": "BL0001-1", "role": "spare"}]
    taken = client.post("/v1/tokens/BL0001-1/assign", json={"user": "alice@corp"}, headers=auth)
    assert (taken.status_code, taken.json()["error"]) == (409, "assignment_conflict")
    shown = client.get("/v1/users/show", params={"user": "alice@corp"}, headers=auth)
    assert shown.json() == assigned.json()
    listed = client.get("/v1/users", headers=auth)
    assert listed.json() == {"users": [assigned.json()]}
    assert client.post("/v1/tokens/BL0001-1/unassign", headers=auth).status_code == 204
    gone = client.post("/v1/tokens/BL0001-1/unassign", headers=auth)
    assert (gone.status_code, gone.json()["error"]) == (409, "assignment_conflict")
    off = client.post("/v1/users/deactivate", json={"user": "alice@corp"}, headers=auth)
    assert (off.status_code, off.json()["active"]) == (200, False)
    unknown = client.get("/v1/users/show", params={"user": "carol@corp"}, headers=auth)
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"error": "unknown_user", "message": "no user 'carol@corp'"},
    )


@pytest.mark.parametrize(
    "user", ["a*", "(uid=*)", "a\\5c", "x\x00", "a\tb", "alice@", "@corp", "alice@corp ", " alice"]
)
def test_http_a_malformed_user_name_is_a_422_on_every_route(admin, user):
    v, client, auth = admin
    v.enrol("BL0001-1", SECRET)
    for answer in (
        client.post("/v1/users", json={"user": user}, headers=auth),
        client.get("/v1/users/show", params={"user": user}, headers=auth),
        client.post("/v1/users/deactivate", json={"user": user}, headers=auth),
        client.post("/v1/tokens/BL0001-1/assign", json={"user": user}, headers=auth),
    ):
        assert answer.status_code == 422
        assert answer.json()["error"] == "invalid_request"
        assert answer.json()["message"].startswith("user: must be name@realm or name")
    assert v.list_users() == []


def test_http_login_rounds(admin):
    v, client, auth = admin
    v.add_user("alice@corp")
    set_two = client.post(
        "/v1/users/login-rounds", json={"user": "alice@corp", "rounds": "two"}, headers=auth
    )
    assert (set_two.status_code, set_two.json()["login_rounds"]) == (200, "two")
    assert v.show_user("alice@corp")["login_rounds"] == "two"
    bad = client.post(
        "/v1/users/login-rounds", json={"user": "alice@corp", "rounds": "2"}, headers=auth
    )
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_request")
    assert bad.json()["message"].startswith("rounds: ")
    unknown = client.post(
        "/v1/users/login-rounds", json={"user": "carol@corp", "rounds": "one"}, headers=auth
    )
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_user")
    desk = v.create_api_key("desk", ["helpdesk"])
    refused = client.post(
        "/v1/users/login-rounds",
        json={"user": "alice@corp", "rounds": "one"},
        headers={"Authorization": f"Bearer {desk}"},
    )
    assert refused.status_code == 403
    assert v.show_user("alice@corp")["login_rounds"] == "two"


def test_http_user_routes_need_the_admin_scope(admin):
    v, client, _ = admin
    key = v.create_api_key("gateway", ["validate"])
    answer = client.get("/v1/users", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403
