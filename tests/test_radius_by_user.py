"""RADIUS by user name (issue 12 item 2; docs/verifier.md, "Who User-Name names"): FreeRADIUS's
`radclient` against `baoling verifier serve --radius`, whose users come from a real OpenLDAP
slapd (tests/fixtures_ldap.py). User-Name `alice` or `alice@corp` is the user; the code is
tried against the user's tokens; a user with a PIN sends PIN + code in one round, or the PIN
and then, after an Access-Challenge, the code; in a realm whose first factor is the directory
password the first round is checked by an LDAP bind as the user (verifier/logins.py)."""

import base64
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pyotp
import pytest
from test_http_api import wrong_code
from test_radius_challenge import first_round, radclient, second_round
from test_users import baoling

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.ldap_config import load
from baoling.verifier.ldap_resolver import LdapResolver
from baoling.verifier.service import Verifier
from baoling.verifier.user_names import UserName
from tests.fixtures_ldap import PEOPLE, SERVICE_DN, SERVICE_PASSWORD, LdapServer, Person

SHARED_SECRET = "by-user-shared-secret"
ALICE, BOB, CAROL = (base64.b32encode(bytes([n]) * 20).decode() for n in (1, 2, 3))
PIN = "4711"
CAROL_PASSWORD = "carol's directory password"
CHALLENGE_CLIENT = "127.0.0.3"  # its users with a first factor log in in two rounds


def ldap_config(folder: Path, server: LdapServer) -> Path:
    """Two realms in one directory: corp (first factor: the PIN in the store) and staff
    (first factor: the directory password). A short timeout: a stopped directory costs a
    request up to two of them (the idle connection's read, then a fresh one), within
    radclient's patience."""
    password_file = folder / "bind-password"
    password_file.write_text(SERVICE_PASSWORD + "\n")
    common = (
        f'urls = ["{server.url}"]\nbind_dn = "{SERVICE_DN}"\n'
        f'bind_password_file = "{password_file}"\nbase_dn = "{PEOPLE}"\ntls = "none"\n'
        "timeout_seconds = 1\n"
    )
    config = folder / "ldap.toml"
    config.write_text(
        f'[realms.corp]\n{common}\n[realms.staff]\n{common}first_factor = "ldap_bind"\n'
    )
    return config


@pytest.fixture
def served(tmp_path: Path, ldap_server: LdapServer) -> Iterator[tuple[ServerProcess, Path]]:
    """A verifier serving RADIUS whose default realm is corp: alice@corp holds a token and no
    PIN, bob@corp a token and a PIN, carol@staff a token and a directory password."""
    carol = Person("carol2", "Carol Second", "carol2@example.org", "+1 202 555 0101")
    ldap_server.add(carol.ldif() + f"userPassword: {CAROL_PASSWORD}\n")
    data_dir, config = tmp_path / "data", ldap_config(tmp_path, ldap_server)
    with closing(Verifier(data_dir=data_dir, default_realm="corp", ldap_config=config)) as v:
        for user, token, secret in (
            ("alice@corp", "alice-token", ALICE),
            ("bob@corp", "bob-token", BOB),
            ("carol2@staff", "carol-token", CAROL),
        ):
            v.enrol(token, base64.b32decode(secret))
            v.add_user(user)
            v.assign(token, user, override=True)
        v.set_user_pin("bob@corp", PIN)
    radius = tmp_path / "radius.toml"
    radius.write_text(
        f'port = 0\n[clients."127.0.0.1"]\nsecret = "{SHARED_SECRET}"\n'
        f'[clients.vpn]\naddress = "{CHALLENGE_CLIENT}"\nsecret = "{SHARED_SECRET}"\n'
        "challenge = true\n"
    )
    group = ["--data-dir", str(data_dir), "--default-realm", "corp", "--ldap-config", str(config)]
    with ServerProcess(group, ["--radius", "--radius-config", str(radius)]) as running:
        yield running, data_dir


def answer(port: int, user: str, password: str, **how: str) -> str:
    return radclient(
        port, f"User-Name = {user}, User-Password = {password}", secret=SHARED_SECRET, **how
    )[0]


def validations(data_dir: Path) -> list[tuple[str | None, dict]]:
    """Every validation's audit row, oldest first: (token, detail)."""
    with closing(Verifier(data_dir=data_dir)) as v:
        return [
            (row["token"], row["detail"])
            for row in reversed(v.audit(1000))
            if row["action"] == "validate"
        ]


def test_user_name_with_or_without_realm_is_the_directory_user(served) -> None:
    server, data_dir = served
    totp = pyotp.TOTP(ALICE)
    code = totp.now()
    assert answer(server.radius_port, "alice", code) == "Access-Accept"
    # The same user under its full name: the code is used up.
    assert answer(server.radius_port, "alice@corp", code) == "Access-Reject"
    assert answer(server.radius_port, "alice@corp", wrong_code(totp)) == "Access-Reject"
    # In the directory, never added: no token; not in the directory: nobody.
    assert answer(server.radius_port, "bob@staff", code) == "Access-Reject"
    assert answer(server.radius_port, "nobody", code) == "Access-Reject"
    # The NAS is the source the rate limits count by (docs/users.md, "Abuse control").
    origin = {"radius_client": "127.0.0.1", "source": "127.0.0.1"}
    assert validations(data_dir) == [
        (
            "alice-token",
            {
                "result": "accept",
                "reason": "accepted",
                "user": "alice@corp",
                **origin,
                "radius_user": "alice",
            },
        ),
        (
            "alice-token",
            {
                "result": "reject",
                "reason": "replay",
                "user": "alice@corp",
                **origin,
                "radius_user": "alice@corp",
            },
        ),
        (
            "alice-token",
            {
                "result": "reject",
                "reason": "wrong_code",
                "user": "alice@corp",
                **origin,
                "radius_user": "alice@corp",
            },
        ),
        (
            None,
            {
                "result": "reject",
                "reason": "no_token",
                "user": "bob@staff",
                **origin,
                "radius_user": "bob@staff",
            },
        ),
        (
            None,
            {
                "result": "reject",
                "reason": "unknown_user",
                "user": "nobody@corp",
                **origin,
                "radius_user": "nobody",
            },
        ),
    ]


def test_a_deactivated_user_an_unknown_realm_and_a_malformed_name_get_access_reject(
    served,
) -> None:
    """The issue's bad input through RADIUS: only Access-Reject, the reason in the audit."""
    server, data_dir = served
    code = pyotp.TOTP(ALICE).now()
    with closing(Verifier(data_dir=data_dir)) as v:
        v.deactivate_user("alice@corp")
    assert answer(server.radius_port, "alice@corp", code) == "Access-Reject"
    assert answer(server.radius_port, "alice@elsewhere", code) == "Access-Reject"
    # Not a user name (docs/verifier.md, "Who User-Name names"): a token id only.
    assert answer(server.radius_port, '"alice)(uid=*"', code) == "Access-Reject"
    origin = {"radius_client": "127.0.0.1", "source": "127.0.0.1"}
    rows = validations(data_dir)
    assert rows[:2] == [
        (
            None,
            {
                "result": "reject",
                "reason": "user_deactivated",
                "user": "alice@corp",
                **origin,
                "radius_user": "alice@corp",
            },
        ),
        (
            None,
            {
                "result": "reject",
                "reason": "unknown_realm",
                "user": "alice@elsewhere",
                **origin,
                "radius_user": "alice@elsewhere",
            },
        ),
    ]
    # No token has that id, and no user was looked up (that would be a row naming its reason).
    assert rows[2:] == []


def test_with_a_pin_one_round_is_pin_then_code(served) -> None:
    server, data_dir = served
    totp = pyotp.TOTP(BOB)
    assert answer(server.radius_port, "bob", totp.now()) == "Access-Reject"
    assert answer(server.radius_port, "bob", "4712" + totp.now()) == "Access-Reject"
    assert answer(server.radius_port, "bob@corp", PIN + totp.now()) == "Access-Accept"
    reasons = [detail["reason"] for token, detail in validations(data_dir)]
    assert reasons == ["wrong_pin", "wrong_pin", "accepted"]
    with closing(Verifier(data_dir=data_dir)) as v:
        assert v.show("bob-token")["fail_count"] == 0


def test_with_a_pin_two_rounds_are_pin_then_code(served) -> None:
    server, data_dir = served
    totp = pyotp.TOTP(BOB)
    port, vpn = server.radius_port, {"source": CHALLENGE_CLIENT}
    kind, state = first_round(port, "bob", PIN, secret=SHARED_SECRET, **vpn)
    assert kind == "Access-Challenge" and state is not None
    assert second_round(port, "bob", state, totp.now(), secret=SHARED_SECRET, **vpn) == (
        "Access-Accept"
    )
    # A wrong PIN never gets a challenge, and counts as a failed attempt in the rate limits,
    # not in the token's lock (tests/test_rate_limits.py).
    assert first_round(port, "bob", "4712", secret=SHARED_SECRET, **vpn) == ("Access-Reject", None)
    with closing(Verifier(data_dir=data_dir)) as v:
        assert v.show("bob-token")["fail_count"] == 0
    assert validations(data_dir)[-1] == (
        None,
        {
            "result": "reject",
            "reason": "wrong_pin",
            "user": "bob@corp",
            "radius_client": "vpn",
            "radius_user": "bob",
            "source": CHALLENGE_CLIENT,
        },
    )
    # The State was issued to bob, under this name, on this client: used up.
    assert second_round(port, "bob", state, totp.now(), secret=SHARED_SECRET, **vpn) == (
        "Access-Reject"
    )


def test_a_user_chooses_its_own_rounds_whatever_the_client_says(served) -> None:
    """docs/verifier.md, "Password, then code": "two" challenges the user through a client
    without `challenge = true`, "one" takes PIN + code in one password through a client with
    it, "client" (the default) follows the client again."""
    server, data_dir = served
    totp = pyotp.TOTP(BOB)
    port, plain = server.radius_port, {"secret": SHARED_SECRET}
    vpn = {"source": CHALLENGE_CLIENT, "secret": SHARED_SECRET}
    # Codes of two consecutive steps from now: the second is right after the first is accepted,
    # wherever in its step the first landed (drift learning moves the window's centre there).
    step = int(time.time()) // totp.interval
    codes = iter([totp.at(step * totp.interval), totp.at((step + 1) * totp.interval)])

    def rounds(choice: str) -> str:
        done = baoling(data_dir, "user", "login-rounds", "bob@corp", choice)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert rounds("two") == "bob@corp logs in at RADIUS in two rounds.\n"
    # Through the plain client: PIN + code in one password is now a wrong first factor.
    assert first_round(port, "bob", PIN + totp.now(), **plain) == ("Access-Reject", None)
    kind, state = first_round(port, "bob", PIN, **plain)
    assert kind == "Access-Challenge" and state is not None
    assert second_round(port, "bob", state, next(codes), **plain) == "Access-Accept"

    assert rounds("one") == "bob@corp logs in at RADIUS in one round.\n"
    # Through the challenge client: the PIN alone earns no challenge; PIN + code is accepted.
    assert first_round(port, "bob", PIN, **vpn) == ("Access-Reject", None)
    assert first_round(port, "bob", PIN + next(codes), **vpn) == ("Access-Accept", None)

    assert rounds("client") == "bob@corp logs in at RADIUS as its client entry says.\n"
    # As before (tests above): a challenge through the challenge client, none through the other.
    assert first_round(port, "bob", PIN, **vpn)[0] == "Access-Challenge"
    assert first_round(port, "bob", PIN, **plain) == ("Access-Reject", None)
    # A user without a first factor sends the code alone, whatever it chose.
    assert baoling(data_dir, "user", "login-rounds", "alice@corp", "two").returncode == 0
    assert first_round(port, "alice", totp_now(ALICE), **plain) == ("Access-Accept", None)

    with closing(Verifier(data_dir=data_dir)) as v:
        changes = [
            row["detail"] for row in reversed(v.audit(1000)) if row["action"] == "user_login_rounds"
        ]
        assert v.show_user("bob@corp")["login_rounds"] == "client"
    assert changes == [
        {"user": "bob@corp", "rounds": "two", "by": changes[0]["by"]},
        {"user": "bob@corp", "rounds": "one", "by": changes[0]["by"]},
        {"user": "bob@corp", "rounds": "client", "by": changes[0]["by"]},
        {"user": "alice@corp", "rounds": "two", "by": changes[0]["by"]},
    ]
    assert changes[0]["by"].startswith("cli:")


def totp_now(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def test_a_users_state_replayed_from_another_client_is_rejected(served) -> None:
    """The State is bound to the client entry it was issued through: presented through
    another, it is refused and used up; the code was never tried."""
    server, _ = served
    totp = pyotp.TOTP(BOB)
    port, vpn = server.radius_port, {"source": CHALLENGE_CLIENT, "secret": SHARED_SECRET}
    kind, state = first_round(port, "bob", PIN, **vpn)
    assert kind == "Access-Challenge" and state is not None
    code = totp.now()
    assert second_round(port, "bob", state, code, secret=SHARED_SECRET) == "Access-Reject"
    assert second_round(port, "bob", state, code, **vpn) == "Access-Reject"
    kind, state = first_round(port, "bob", PIN, **vpn)
    assert kind == "Access-Challenge" and state is not None
    assert second_round(port, "bob", state, code, **vpn) == "Access-Accept"


def test_the_directory_password_is_checked_by_a_bind(served, ldap_server: LdapServer) -> None:
    server, data_dir = served
    totp = pyotp.TOTP(CAROL)
    port, vpn = server.radius_port, {"source": CHALLENGE_CLIENT, "secret": SHARED_SECRET}
    assert first_round(port, "carol2@staff", '"wrong password"', **vpn) == ("Access-Reject", None)
    kind, state = first_round(port, "carol2@staff", f'"{CAROL_PASSWORD}"', **vpn)
    assert kind == "Access-Challenge" and state is not None
    code = totp.now()
    assert second_round(port, "carol2@staff", state, code, **vpn) == "Access-Accept"
    # One round: the directory password followed by the code.
    later = totp.at(time.time() + 30)
    assert answer(port, "carol2@staff", f'"{CAROL_PASSWORD}{later}"') == "Access-Accept"
    assert answer(port, "carol2@staff", f'"{CAROL_PASSWORD}x{totp.at(time.time() + 60)}"') == (
        "Access-Reject"
    )
    reasons = [(token, detail["reason"]) for token, detail in validations(data_dir)]
    assert reasons == [
        (None, "wrong_pin"),
        ("carol-token", "accepted"),
        ("carol-token", "accepted"),
        (None, "wrong_pin"),
    ]
    # A directory that cannot be asked refuses the first round: no challenge.
    ldap_server.stop()
    output = subprocess.run(
        ["radclient", "-x", "-r", "1", "-t", "20", f"127.0.0.1:{port}", "auth", SHARED_SECRET],
        input=f'User-Name = carol2@staff, User-Password = "{CAROL_PASSWORD}", '
        f"Message-Authenticator = 0x00, Packet-Src-IP-Address = {CHALLENGE_CLIENT}\n",
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "Received Access-Reject" in output and "State" not in output
    assert validations(data_dir)[-1] == (
        None,
        {
            "result": "reject",
            "reason": "directory_error",
            "user": "carol2@staff",
            "problem": validations(data_dir)[-1][1]["problem"],
            "radius_client": "vpn",
            "radius_user": "carol2@staff",
            "source": CHALLENGE_CLIENT,  # as on every attempt by user name
        },
    )
    assert CAROL_PASSWORD not in validations(data_dir)[-1][1]["problem"]


def test_an_empty_password_is_never_sent_to_the_directory(tmp_path, ldap_server) -> None:
    settings = load(ldap_config(tmp_path, ldap_server))["staff"]
    ldap_server.add(
        Person("dave", "Dave Null", "dave@example.org", "+1").ldif() + "userPassword: pw\n"
    )
    resolver = LdapResolver("staff", settings)
    try:
        assert resolver.check_password(UserName("dave", "staff"), "pw")
        assert not resolver.check_password(UserName("dave", "staff"), "")
        assert not resolver.check_password(UserName("dave", "staff"), "pW")
        assert not resolver.check_password(UserName("nobody", "staff"), "pw")
    finally:
        resolver.close_connection()
