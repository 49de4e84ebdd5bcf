"""The LDAP resolver's connection pool, its cache of resolutions and refreshing directory users
(docs/users.md), against a real OpenLDAP slapd (tests/fixtures_ldap.py)."""

import gc
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import ldap3
import pytest
from fastapi.testclient import TestClient

from baoling.verifier.errors import BulkImportError, DirectoryError, UnknownUser
from baoling.verifier.http import create_app
from baoling.verifier.ldap_config import load
from baoling.verifier.ldap_resolver import LdapResolver
from baoling.verifier.resolution_cache import ResolutionCache
from baoling.verifier.resolvers import Account
from baoling.verifier.service import Verifier
from baoling.verifier.settings import SettingsError
from baoling.verifier.user_names import UserName
from tests.fixtures_ldap import PEOPLE_SEEDED, LdapServer
from tests.test_ldap_resolver import REALM, SECRET, TOKEN, audit_rows, ldap_config
from tests.test_users import baoling
from tests.test_verifier_service import T0, code_at

ALICE = PEOPLE_SEEDED[0]
TTL_S = 2


def corp_verifier(
    make_verifier: Callable[..., Verifier], tmp_path: Path, server: LdapServer, **more: str
) -> Verifier:
    """A verifier whose realm corp is the directory, alice added with a token (imported)."""
    v = make_verifier(ldap_config=ldap_config(tmp_path, server, **more))
    v.add_user(f"alice@{REALM}")
    serial, slot = TOKEN.split("-")
    token_csv = f"serial,slot,secret_hex,user\n{serial},{slot},{SECRET.hex()},alice@{REALM}\n"
    v.import_tokens(token_csv.encode(), file_format="csv")
    return v


# ------------------------------------------------------------------------------ the cache


def test_the_cache_keeps_an_account_for_its_time_only() -> None:
    now = [100.0]
    cache = ResolutionCache(30, clock=lambda: now[0], max_entries=2)
    alice, bob, carol = (UserName(n, "corp") for n in ("alice", "bob", "carol"))
    account = Account(alice, True, "Alice", "", "", "id-1")
    assert cache.get(alice) is None
    cache.put(account)
    now[0] = 129.9
    assert cache.get(alice) == account
    now[0] = 130.0  # not a moment longer
    assert cache.get(alice) is None
    assert (cache.hits, cache.misses) == (1, 2)
    cache.put(account)
    cache.put(Account(bob, True, "", "", "", "id-2"))
    cache.get(alice)  # alice is now the most recently used
    cache.put(Account(carol, True, "", "", "", "id-3"))
    assert cache.get(bob) is None and cache.get(alice) == account  # bob left first
    off = ResolutionCache(0)
    off.put(account)
    assert off.get(alice) is None


def test_cached_validation_skips_the_directory_until_the_time_is_up_then_fails_closed(
    make_verifier: Callable[..., Verifier], tmp_path: Path, ldap_server: LdapServer
) -> None:
    v = corp_verifier(make_verifier, tmp_path, ldap_server, cache_seconds=str(TTL_S))
    assert v.validate_user("alice@corp", code_at(SECRET, T0), now=T0)  # asks, and keeps
    found = time.monotonic()
    ldap_server.stop()
    # Within the time the directory's answer is kept, no search is needed.
    assert v.validate_user("alice@corp", code_at(SECRET, T0 + 30), now=T0 + 30)
    assert time.monotonic() - found < TTL_S, "the machine was too slow for this test"
    time.sleep(TTL_S + 0.2)
    refused = v.check_user("alice@corp", code_at(SECRET, T0 + 60), now=T0 + 60)
    assert refused.reason == "directory_error"
    assert v.show(TOKEN)["last_step"] == (T0 + 30) // 30  # the code was not tried
    ldap_server.start()
    assert v.validate_user("alice@corp", code_at(SECRET, T0 + 90), now=T0 + 90)


def test_a_deleted_user_is_refused_once_the_cached_answer_expires(
    make_verifier: Callable[..., Verifier], tmp_path: Path, ldap_server: LdapServer
) -> None:
    v = corp_verifier(make_verifier, tmp_path, ldap_server, cache_seconds=str(TTL_S))
    assert v.validate_user("alice@corp", code_at(SECRET, T0), now=T0)
    ldap_server.delete(ALICE.dn)
    time.sleep(TTL_S + 0.2)
    refused = v.check_user("alice@corp", code_at(SECRET, T0 + 30), now=T0 + 30)
    assert refused.reason == "user_deactivated"
    assert audit_rows(v, "user_deactivate") == [
        {"user": "alice@corp", "reason": "gone_from_directory"}
    ]


def test_reactivating_asks_the_directory_afresh_whatever_the_cache_holds(
    make_verifier: Callable[..., Verifier], tmp_path: Path, ldap_server: LdapServer
) -> None:
    """A user deactivated, then deleted from the directory, is not reactivated on the answer
    the cache kept from before: the helpdesk would have given the old account back its
    tokens, and validations would accept them for the rest of cache_seconds."""
    v = corp_verifier(make_verifier, tmp_path, ldap_server, cache_seconds="600")
    assert v.validate_user("alice@corp", code_at(SECRET, T0), now=T0)  # alice is now cached
    v.deactivate_user("alice@corp")
    ldap_server.delete(ALICE.dn)
    with pytest.raises(UnknownUser) as refused:
        v.reactivate_user("alice@corp", keep_tokens=True)
    assert str(refused.value) == "the directory of realm 'corp' has no active user 'alice'"
    assert v.show_user("alice@corp")["active"] is False
    assert not v.validate_user("alice@corp", code_at(SECRET, T0 + 30), now=T0 + 30)


def test_without_cache_seconds_every_validation_asks_the_directory(
    make_verifier: Callable[..., Verifier], tmp_path: Path, ldap_server: LdapServer
) -> None:
    v = corp_verifier(make_verifier, tmp_path, ldap_server)
    assert v.validate_user("alice@corp", code_at(SECRET, T0), now=T0)
    ldap_server.delete(ALICE.dn)
    assert v.check_user("alice@corp", code_at(SECRET, T0 + 30), now=T0 + 30).reason == (
        "user_deactivated"
    )


def test_a_name_the_directory_lacks_is_not_kept(tmp_path: Path, ldap_server: LdapServer) -> None:
    settings = load(ldap_config(tmp_path, ldap_server, cache_seconds="600"))[REALM]
    resolver = LdapResolver(REALM, settings)
    try:
        dave = UserName("dave", REALM)
        assert resolver.lookup(dave) is None
        ldap_server.add(ALICE.ldif().replace("alice", "dave"))
        assert resolver.lookup(dave) is not None  # created in the directory: found at once
        assert resolver.cache.misses == 2 and resolver.cache.get(dave) is not None
    finally:
        resolver.close_connection()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "cache_seconds = 3601",
            "realms.corp.cache_seconds: Input should be less than or equal to 3600",
        ),
        (
            "cache_seconds = -1",
            "realms.corp.cache_seconds: Input should be greater than or equal to 0",
        ),
        ("pool_size = 0", "realms.corp.pool_size: Input should be greater than or equal to 1"),
    ],
)
def test_cache_and_pool_settings_are_checked(
    tmp_path: Path, ldap_server: LdapServer, setting: str, message: str
) -> None:
    key, value = setting.split(" = ")
    config = ldap_config(tmp_path, ldap_server, **{key: value})
    with pytest.raises(SettingsError, match=f"^{config}: {message}$"):
        load(config)


# ------------------------------------------------------------------------------- the pool


def test_concurrent_lookups_share_a_pool_of_at_most_pool_size_connections(
    tmp_path: Path, ldap_server: LdapServer
) -> None:
    settings = load(ldap_config(tmp_path, ldap_server, pool_size="3"))[REALM]
    resolver = LdapResolver(REALM, settings)
    names = [UserName(person.uid, REALM) for person in PEOPLE_SEEDED] * 40
    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            found = list(pool.map(resolver.lookup, names))
        assert [account.user for account in found if account is not None] == names
        assert 1 <= ldap_server.connections_from_this_process() <= 3
        ldap_server.stop()  # every pooled connection is now dead
        ldap_server.start()
        assert resolver.lookup(names[0]) is not None  # reconnects once, on a fresh one
        resolver.close_connection()
        assert ldap_server.connections_from_this_process() == 0
    finally:
        resolver.close_connection()


def test_a_pool_that_cannot_bind_fails_closed_and_frees_its_slots(
    tmp_path: Path, ldap_server: LdapServer
) -> None:
    settings = load(ldap_config(tmp_path, ldap_server, password="wrong", pool_size="1"))[REALM]
    resolver = LdapResolver(REALM, settings)
    for _ in range(3):  # a slot taken by a failed bind would leave the next waiting
        with pytest.raises(DirectoryError, match=r"refused the bind"):
            resolver.lookup(UserName("alice", REALM))


def ldap3_connections_alive() -> int:
    """How many ldap3 Connection objects this process still holds, after a full collection."""
    gc.collect()
    return sum(1 for thing in gc.get_objects() if isinstance(thing, ldap3.Connection))


def test_lookups_while_the_directory_is_down_keep_no_connection_each(
    tmp_path: Path, ldap_server: LdapServer
) -> None:
    settings = load(ldap_config(tmp_path, ldap_server, pool_size="2"))[REALM]
    resolver = LdapResolver(REALM, settings)
    alice = UserName("alice", REALM)
    try:
        assert resolver.lookup(alice) is not None
        before = ldap3_connections_alive()
        ldap_server.stop()
        for _ in range(50):  # an outage under logins: each attempt opens a connection, and fails
            with pytest.raises(DirectoryError, match=r"cannot reach the directory"):
                resolver.lookup(alice)
        assert ldap3_connections_alive() <= before  # none of the failed ones is kept
        ldap_server.start()
        assert resolver.lookup(alice) is not None
    finally:
        resolver.close_connection()


# ---------------------------------------------------------------- refreshing attributes


def test_refresh_copies_changed_attributes_and_deactivates_the_gone(
    make_verifier: Callable[..., Verifier], tmp_path: Path, ldap_server: LdapServer
) -> None:
    v = corp_verifier(make_verifier, tmp_path, ldap_server, cache_seconds="600")
    v.add_user("bob@corp")
    v.add_user("carol@corp")
    v.add_user("zoe@default")  # a local user: left alone
    ldap_server.replace(ALICE.dn, "mail", "alice.liddell@example.org")
    ldap_server.replace(ALICE.dn, "displayName", "Alice P. Liddell")
    ldap_server.delete(PEOPLE_SEEDED[2].dn)
    # The refresh asks the directory itself, not the cache that holds alice's old entry.
    assert v.refresh_users() == [
        {"user": "alice@corp", "result": "updated", "changed": ["display_name", "email"]},
        {"user": "bob@corp", "result": "unchanged", "changed": []},
        {"user": "carol@corp", "result": "deactivated", "reason": "gone_from_directory"},
    ]
    alice = v.show_user("alice@corp")
    assert (alice["display_name"], alice["email"]) == (
        "Alice P. Liddell",
        "alice.liddell@example.org",
    )
    assert not v.show_user("carol@corp")["active"] and v.show_user("zoe@default")["active"]
    rows = [
        row for row in reversed(v.audit(20)) if row["action"] in ("user_refresh", "user_deactivate")
    ]
    assert [(row["action"], row["detail"]) for row in rows] == [
        ("user_refresh", {"user": "alice@corp", "changed": ["display_name", "email"]}),
        ("user_deactivate", {"user": "carol@corp", "reason": "gone_from_directory"}),
    ]
    assert v.refresh_users("alice@corp") == [
        {"user": "alice@corp", "result": "unchanged", "changed": []}
    ]
    assert v.validate_user("alice@corp", code_at(SECRET, T0), now=T0)
    with pytest.raises(UnknownUser, match=r"^no user 'dave@corp'$"):
        v.refresh_users("dave@corp")


def test_refresh_with_the_directory_down_changes_nothing(
    make_verifier: Callable[..., Verifier], tmp_path: Path, ldap_server: LdapServer
) -> None:
    v = corp_verifier(make_verifier, tmp_path, ldap_server)
    before = v.list_users(), v.verify_audit().head
    ldap_server.stop()
    with pytest.raises(DirectoryError, match=r"^realm 'corp': cannot reach the directory at "):
        v.refresh_users()
    assert (v.list_users(), v.verify_audit().head) == before


def test_refresh_from_the_command_line_and_http(tmp_path: Path, ldap_server: LdapServer) -> None:
    data = tmp_path / "data"
    config = ldap_config(tmp_path / "conf", ldap_server)
    with closing(Verifier(data_dir=data, ldap_config=config)) as v:
        v.add_user("alice@corp")
        key = v.create_api_key("ops", ["admin"])
    ldap_server.replace(ALICE.dn, "telephoneNumber", "+44 1865 270001")
    done = baoling(data, "--ldap-config", str(config), "user", "refresh")
    assert (done.returncode, done.stdout, done.stderr) == (0, "alice@corp: updated phone\n", "")
    again = baoling(data, "--ldap-config", str(config), "user", "refresh", "alice@corp", "--json")
    assert json.loads(again.stdout) == [
        {"user": "alice@corp", "result": "unchanged", "changed": []}
    ]
    with closing(Verifier(data_dir=data, ldap_config=config)) as v:
        client = TestClient(create_app(v))
        ldap_server.replace(ALICE.dn, "telephoneNumber", "+44 1865 270002")
        answer = client.post(
            "/v1/users/refresh", json={}, headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 200
        assert answer.json() == {
            "users": [{"user": "alice@corp", "result": "updated", "changed": ["phone"]}]
        }
        assert v.show_user("alice@corp")["phone"] == "+44 1865 270002"


def test_an_import_adds_directory_users_with_the_directorys_attributes(
    make_verifier: Callable[..., Verifier], tmp_path: Path, ldap_server: LdapServer
) -> None:
    v = make_verifier(ldap_config=ldap_config(tmp_path, ldap_server))
    data = f"serial,slot,secret_hex,user\nBL1,1,{SECRET.hex()},bob@corp\n"
    assert v.import_tokens(data.encode(), file_format="csv")["users_added"] == ["bob@corp"]
    bob = v.show_user("bob@corp")
    assert (bob["resolver"], bob["display_name"], bob["email"]) == (
        "ldap",
        PEOPLE_SEEDED[1].display_name,
        PEOPLE_SEEDED[1].mail,
    )
    assert v.validate_user("bob@corp", code_at(SECRET, T0), now=T0)
    before = v.list_users(), v.list_tokens()
    secret = SECRET.hex()
    bad = f"serial,slot,secret_hex,user\nBL2,1,{secret},carol@corp\nBL3,1,{secret},dave@corp\n"
    with pytest.raises(
        BulkImportError, match=r"^line 3: the directory of realm 'corp' has no user 'dave'$"
    ):
        v.import_tokens(bad.encode(), file_format="csv")
    assert (v.list_users(), v.list_tokens()) == before
