"""Users (docs/users.md): the rules of a user name and its realm, the default realm setting,
adding, listing, showing and deactivating users and assigning tokens to them, on both stores."""

import pytest

from baoling.verifier.errors import (
    AssignmentConflict,
    InvalidRequest,
    UnknownToken,
    UnknownUser,
    UserExists,
)
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
        (" alice@corp", "user name must not begin or end with a space"),
        ("alice @corp", "user name must not begin or end with a space"),
        ("alice@ corp", "user realm must not begin or end with a space"),
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


def test_assign_and_unassign_tokens_with_roles(make_verifier):
    v = make_verifier()
    v.enrol("hw-1", SECRET)
    v.enrol("phone-1", SECRET)
    v.add_user("alice")
    v.add_user("bob")
    v.assign("phone-1", "alice", role="spare")
    shown = v.assign("hw-1", "alice@default")
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
    v.assign("hw-1", "bob")
    v.delete("phone-1")  # a deleted token leaves its user
    assert v.show_user("alice")["tokens"] == []
    assert v.show_user("bob")["tokens"] == [{"token": "hw-1", "role": "primary"}]
    assert audit_rows(v, {"assign", "unassign"}) == [
        (
            "assign",
            "phone-1",
            {"user": "alice@default", "role": "spare", "possession": "not checked"},
        ),
        (
            "assign",
            "hw-1",
            {"user": "alice@default", "role": "primary", "possession": "not checked"},
        ),
        ("unassign", "hw-1", {"user": "alice@default"}),
        ("assign", "hw-1", {"user": "bob@default", "role": "primary", "possession": "not checked"}),
    ]


def test_a_deactivated_user_keeps_its_tokens_and_gets_no_new_one(make_verifier):
    v = make_verifier()
    v.enrol("hw-1", SECRET)
    v.enrol("hw-2", SECRET)
    v.add_user("alice")
    v.assign("hw-1", "alice")
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
