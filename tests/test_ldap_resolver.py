"""The LDAP / Active Directory resolver (docs/users.md) against a real OpenLDAP slapd
(tests/fixtures_ldap.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from baoling.verifier import ldap_config as ldap_config_module
from baoling.verifier.errors import DirectoryError, InvalidRequest, UnknownUser
from baoling.verifier.http import create_app
from baoling.verifier.ldap_resolver import LdapResolver
from baoling.verifier.service import Verifier
from baoling.verifier.settings import SettingsError
from baoling.verifier.user_names import UserName
from tests.fixtures_ldap import (
    PEOPLE,
    PEOPLE_SEEDED,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SUFFIX,
    LdapServer,
)
from tests.test_verifier_service import T0, code_at, wrong_code


def _search(server: LdapServer, *bind: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ldapsearch", "-x", "-H", server.url, *bind, "-LLL", "-b", SUFFIX, "(uid=alice)", "mail"],
        capture_output=True,
        text=True,
    )


def test_the_directory_answers_only_a_bound_client_and_survives_a_restart(
    ldap_server: LdapServer,
) -> None:
    anonymous = _search(ldap_server)
    assert "alice@example.org" not in anonymous.stdout
    bound = ("-D", SERVICE_DN, "-w", SERVICE_PASSWORD)
    assert f"mail: {PEOPLE_SEEDED[0].mail}" in _search(ldap_server, *bound).stdout
    ldap_server.stop()
    assert _search(ldap_server, *bound).returncode != 0
    ldap_server.start()
    assert f"mail: {PEOPLE_SEEDED[0].mail}" in _search(ldap_server, *bound).stdout


# ------------------------------------------------------------------ the resolver, end to end

REALM = "corp"
SECRET = bytes(range(1, 21))
TOKEN = "BL0042-1"


def ldap_config(
    tmp_path: Path,
    server: LdapServer,
    password: str = SERVICE_PASSWORD,
    tls: str = "none",
    **more: str,
) -> Path:
    """An ldap_config file naming the fixture's directory for the realm `corp`."""
    tmp_path.mkdir(exist_ok=True)
    password_file = tmp_path / "bind-password"
    password_file.write_text(password + "\n")
    extra = "".join(f"{key} = {value}\n" for key, value in more.items())
    config = tmp_path / "ldap.toml"
    config.write_text(
        f'[realms.{REALM}]\nurls = ["{server.url}"]\nbind_dn = "{SERVICE_DN}"\n'
        f'bind_password_file = "{password_file}"\nbase_dn = "{PEOPLE}"\ntls = "{tls}"\n'
        f"timeout_seconds = 2\n{extra}"
    )
    return config


def audit_rows(v: Verifier, action: str) -> list[dict[str, Any]]:
    return [row["detail"] for row in reversed(v.audit(1000)) if row["action"] == action]


@pytest.fixture
def alice(make_verifier: Callable[..., Verifier], tmp_path: Path, ldap_server: LdapServer):
    """A verifier whose realm corp is the directory, with alice added and holding a token."""
    v = make_verifier(ldap_config=ldap_config(tmp_path, ldap_server))
    v.enrol(TOKEN, SECRET)
    v.add_user(f"alice@{REALM}")
    v.assign(TOKEN, f"alice@{REALM}", override=True)
    return v


def test_a_directory_user_is_added_with_the_directorys_attributes_and_validates_by_name(
    alice: Verifier,
) -> None:
    shown = alice.show_user("alice@corp")
    person = PEOPLE_SEEDED[0]
    assert (shown["resolver"], shown["active"]) == ("ldap", True)
    assert (shown["display_name"], shown["email"], shown["phone"]) == (
        person.display_name,
        person.mail,
        person.phone,
    )
    assert shown["tokens"] == [{"token": TOKEN, "role": "primary"}]
    assert not alice.validate_user("alice@corp", wrong_code(SECRET, T0), now=T0)
    assert alice.validate_user("alice@corp", code_at(SECRET, T0), now=T0)
    assert alice.check_user("alice@corp", code_at(SECRET, T0), now=T0 + 1).reason == "replay"
    # In the directory but never added: no token to try.
    assert alice.check_user("bob@corp", code_at(SECRET, T0 + 60), now=T0 + 60).reason == "no_token"
    assert alice.check_user("nobody@corp", "123456", now=T0 + 60).reason == "unknown_user"


def test_adding_a_directory_user_takes_only_names_the_directory_has(alice: Verifier) -> None:
    with pytest.raises(UnknownUser, match=r"^the directory of realm 'corp' has no user 'dave'$"):
        alice.add_user("dave@corp")
    # The directory matches uid without regard to case; Baoling's names are exact.
    with pytest.raises(UnknownUser, match=r"^the directory of realm 'corp' has no user 'Bob'$"):
        alice.add_user("Bob@corp")
    with pytest.raises(InvalidRequest, match=r"^the attributes of 'bob@corp' come from its"):
        alice.add_user("bob@corp", email="other@example.org")
    assert [user["user"] for user in alice.list_users()] == ["alice@corp"]


def test_a_user_deleted_from_the_directory_is_refused_and_stays_deactivated(
    alice: Verifier, ldap_server: LdapServer
) -> None:
    assert alice.validate_user("alice@corp", code_at(SECRET, T0), now=T0)
    ldap_server.delete(PEOPLE_SEEDED[0].dn)
    right = code_at(SECRET, T0 + 30)
    assert alice.check_user("alice@corp", right, now=T0 + 30).reason == "user_deactivated"
    assert audit_rows(alice, "user_deactivate") == [
        {"user": "alice@corp", "reason": "gone_from_directory"}
    ]
    shown = alice.show_user("alice@corp")
    assert not shown["active"] and shown["tokens"] == [{"token": TOKEN, "role": "primary"}]
    assert alice.show(TOKEN)["last_step"] == T0 // 30  # the code was never tried
    # The account comes back (a new entry of the same name): still refused, still kept.
    ldap_server.add_person(PEOPLE_SEEDED[0])
    assert alice.check_user("alice@corp", right, now=T0 + 31).reason == "user_deactivated"
    assert len(audit_rows(alice, "user_deactivate")) == 1


def test_a_recreated_account_does_not_inherit_the_old_ones_tokens(
    alice: Verifier, ldap_server: LdapServer
) -> None:
    old = ldap_server.entry_uuid(PEOPLE_SEEDED[0].dn)
    ldap_server.delete(PEOPLE_SEEDED[0].dn)
    ldap_server.add_person(PEOPLE_SEEDED[0])
    assert ldap_server.entry_uuid(PEOPLE_SEEDED[0].dn) != old
    assert alice.check_user("alice@corp", code_at(SECRET, T0), now=T0).reason == (
        "user_deactivated"
    )
    assert audit_rows(alice, "user_deactivate") == [
        {"user": "alice@corp", "reason": "directory_entry_replaced"}
    ]
    assert alice.show(TOKEN)["last_step"] is None


def test_a_stopped_directory_rejects_says_why_in_the_audit_and_recovers(
    alice: Verifier, ldap_server: LdapServer
) -> None:
    key = alice.create_api_key("gateway", ["validate"])
    client = TestClient(create_app(alice))
    auth = {"Authorization": f"Bearer {key}"}

    def validate(code: str) -> Any:
        body = {"user": "alice@corp", "code": code}
        return client.post("/v1/validate", json=body, headers=auth)

    assert validate("000000").json() == {"result": "reject"}  # the connection is now open
    ldap_server.stop()
    right = code_at(SECRET, time.time())
    started = time.monotonic()
    answer = validate(right)
    took = time.monotonic() - started
    assert (answer.status_code, answer.json()) == (200, {"result": "reject"})
    # Refused connections fail at once: no wait of ldap3's server pool (10 s by default).
    assert took < 3, f"a stopped directory held the validation for {took:.1f} s"
    refused = audit_rows(alice, "validate")[-1]
    assert (refused["reason"], refused["result"]) == ("directory_error", "reject")
    assert refused["problem"].startswith(
        f"realm 'corp': cannot reach the directory at {ldap_server.url}: "
    )
    assert alice.show(TOKEN)["last_step"] is None  # nothing was tried, nothing accepted
    assert alice.show_user("alice@corp")["active"]  # a directory down deactivates nobody
    ldap_server.start()
    assert validate(right).json() == {"result": "accept", "amr": ["hwk", "otp"]}


def wait_stopped(pid: int) -> None:
    """Return once every thread of `pid` is stopped: SIGSTOP takes effect after os.kill
    returns, so a request sent at once may still be answered."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tasks = Path(f"/proc/{pid}/task")
        states = {
            (task / "stat").read_text().rsplit(")", 1)[1].split()[0] for task in tasks.iterdir()
        }
        if states == {"T"}:
            return
        time.sleep(0.01)
    raise AssertionError(f"slapd ({pid}) did not stop within 10 s of SIGSTOP")


def test_a_hung_directory_fails_closed_within_the_timeout_and_recovers(
    alice: Verifier, ldap_server: LdapServer
) -> None:
    """A directory that takes connections but never answers (slapd stopped with SIGSTOP: the
    kernel still completes the TCP handshake) costs a validation at most two timeouts (the
    pooled connection's read, then a fresh connection's bind), never a hang."""
    assert alice.check_user("alice@corp", "000000").reason == "wrong_code"  # pool now warm
    assert ldap_server.process is not None
    ldap_server.process.send_signal(signal.SIGSTOP)
    try:
        wait_stopped(ldap_server.process.pid)
        right = code_at(SECRET, time.time())
        started = time.monotonic()
        decision = alice.check_user("alice@corp", right)
        took = time.monotonic() - started
    finally:
        ldap_server.process.send_signal(signal.SIGCONT)
    assert (decision.accepted, decision.reason) == (False, "directory_error")
    assert took < 2 * 2 + 3, f"a hung directory held the validation for {took:.1f} s"
    refused = audit_rows(alice, "validate")[-1]
    assert refused["reason"] == "directory_error"
    assert "timed out" in refused["problem"] or "timeout" in refused["problem"], refused
    assert alice.show_user("alice@corp")["active"]  # nobody is deactivated by a hang
    assert alice.validate_user("alice@corp", right)  # answering again: accepted


@pytest.mark.parametrize("name", ["*", "alice)(uid=*", "*)(|(uid=*", "alice\0", "\\2a"])
def test_an_injection_in_the_user_name_is_refused_before_the_directory(
    alice: Verifier, ldap_server: LdapServer, name: str
) -> None:
    with pytest.raises(InvalidRequest, match=r"^user must be printable text without"):
        alice.validate_user(f"{name}@corp", code_at(SECRET, T0), now=T0)


@pytest.mark.parametrize("name", ["*", "alice)(uid=*", "*)(|(uid=*", "alice\0", "al*"])
def test_the_resolver_escapes_what_reaches_it_so_an_injection_finds_nobody(
    tmp_path: Path, ldap_server: LdapServer, name: str
) -> None:
    settings = ldap_config_module.load(ldap_config(tmp_path, ldap_server))[REALM]
    resolver = LdapResolver(REALM, settings)
    try:
        assert resolver.lookup(UserName(name, REALM)) is None
        assert resolver.lookup(UserName("alice", REALM)) is not None
    finally:
        resolver.close_connection()


def test_a_wrong_bind_password_is_an_administrators_error_never_an_accept(
    make_verifier: Callable[..., Verifier],
    tmp_path: Path,
    ldap_server: LdapServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "not-the-service-password"
    v = make_verifier(ldap_config=ldap_config(tmp_path, ldap_server, password=wrong))
    said = (
        f"realm 'corp': the directory refused the bind as '{SERVICE_DN}' "
        "(wrong bind DN or password, or the account is locked)"
    )
    with pytest.raises(DirectoryError) as refused:
        v.add_user("alice@corp")
    assert str(refused.value) == said
    assert v.check_user("alice@corp", "123456").reason == "directory_error"
    assert audit_rows(v, "validate")[-1]["problem"] == said
    assert f"validation for alice@corp rejected: {said}" in caplog.messages
    assert wrong not in caplog.text and wrong not in json.dumps(v.audit(1000))


def test_a_wrong_ldap_config_stops_the_verifier_with_one_line(
    tmp_path: Path, ldap_server: LdapServer
) -> None:
    config = ldap_config(tmp_path, ldap_server)
    (tmp_path / "bind-password").unlink()
    with pytest.raises(SettingsError, match=r"^cannot read bind_password_file .*bind-password: "):
        Verifier(data_dir=tmp_path / "data", ldap_config=config)
    config.write_text(config.read_text() + 'user_filter = "objectClass=person"\n')
    with pytest.raises(SettingsError) as wrong:
        Verifier(data_dir=tmp_path / "data", ldap_config=config)
    assert str(wrong.value) == (
        f"{config}: realms.corp.user_filter: "
        "must be an LDAP filter in parentheses, e.g. (objectClass=person)"
    )


def test_starttls_checks_the_directorys_certificate(
    make_verifier: Callable[..., Verifier], tmp_path: Path, ldap_server: LdapServer
) -> None:
    trusting = ldap_config(
        tmp_path, ldap_server, tls="starttls", ca_file=f'"{ldap_server.ca_file}"'
    )
    v = make_verifier(ldap_config=trusting)
    assert v.add_user("alice@corp")["email"] == PEOPLE_SEEDED[0].mail
    # The default: StartTLS, checked against the system's CAs, which do not know this one.
    untrusting = ldap_config(tmp_path, ldap_server, tls="starttls")
    other = Verifier(data_dir=tmp_path / "other", ldap_config=untrusting)
    try:
        with pytest.raises(DirectoryError, match=r"^realm 'corp': StartTLS with .* failed: "):
            other.add_user("alice@corp")
    finally:
        other.close()


def baoling(data_dir: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point in a child process, with this suite's BAOLING_ settings kept out."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("BAOLING_")}
    command = ["verifier", "--data-dir", str(data_dir), "--ldap-config", str(config), *args]
    return subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_the_command_line_adds_directory_users_and_names_a_refused_bind_in_one_line(
    tmp_path: Path, ldap_server: LdapServer
) -> None:
    data = tmp_path / "data"
    good = ldap_config(tmp_path / "good", ldap_server)
    added = baoling(data, good, "user", "add", "carol@corp")
    assert (added.returncode, added.stdout, added.stderr) == (0, "Added carol@corp.\n", "")
    shown = json.loads(baoling(data, good, "user", "show", "carol@corp", "--json").stdout)
    assert (shown["resolver"], shown["display_name"]) == ("ldap", PEOPLE_SEEDED[2].display_name)
    wrong = ldap_config(tmp_path / "wrong", ldap_server, password="not-it")
    refused = baoling(data, wrong, "user", "add", "bob@corp")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        f"Error: realm 'corp': the directory refused the bind as '{SERVICE_DN}' "
        "(wrong bind DN or password, or the account is locked)\n"
    )


def test_concurrent_validations_share_the_directory_connection_and_accept_once(
    alice: Verifier,
) -> None:
    right = code_at(SECRET, T0)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: alice.check_user("alice@corp", right, now=T0), range(40)))
    reasons = sorted(result.reason for result in results)
    # Each later one is a replay, counted as a failure, so the token locks on the way.
    assert reasons[0] == "accepted" and set(reasons[1:]) <= {"replay", "locked"}
    assert [result.accepted for result in results].count(True) == 1
    assert not any(row["reason"] == "directory_error" for row in audit_rows(alice, "validate"))
