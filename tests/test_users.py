"""Users (docs/users.md): the rules of a user name and its realm, the default realm setting."""

import pytest

from baoling.verifier.errors import InvalidRequest
from baoling.verifier.settings import SettingsError, load
from baoling.verifier.user_names import UserName, check_realm, parse_user_name


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
