"""Password, then code: the RADIUS challenge (docs/verifier.md, "Password, then code") driven
with FreeRADIUS's `radclient` in both rounds, against `baoling verifier serve --radius`.

The first round sends User-Name and the password; the State of the Access-Challenge is read
from `radclient -x` and sent back as `State = 0x...` with the code. Every request carries
`Message-Authenticator = 0x00` (radclient then signs it); a request from another client's
address is sent with `Packet-Src-IP-Address`."""

import base64
import itertools
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pyotp
import pytest
from test_http_api import wrong_code
from test_radius_radclient import (
    LOCKOUT_AFTER,
    PIN,
    SECRET,
    SHARED_SECRET,
    enrol,
    radius_counts,
    start,
    via,
)

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.radius import RadiusConfigError, hash_pin, parse_config
from baoling.verifier.service import Verifier

OTHER_SECRET = "another shared secret"
PROMPT = "Enter the code shown on your token"  # the issue's wording (issue 13)
USERS = 16  # challenge users ch-0 ... ch-15, one per test
PIN_HASH = hash_pin(PIN)


def config(users: list[str], *, timeout: str = "", plain: list[str] = ()) -> str:
    """127.0.0.1 (challenge for users that ask for it), 127.0.0.2 (another client) and
    127.0.0.3 (a client that asks every user with a PIN for two rounds); `users` log in in two
    rounds from everywhere, `plain` users have a PIN and no challenge setting."""
    text = f"port = 0\n{timeout}\n"
    text += f'[clients."127.0.0.1"]\nsecret = "{SHARED_SECRET}"\n'
    text += f'[clients.other]\naddress = "127.0.0.2"\nsecret = "{OTHER_SECRET}"\n'
    text += f'[clients.vpn]\naddress = "127.0.0.3"\nsecret = "{SHARED_SECRET}"\nchallenge = true\n'
    for name in users:
        text += f'[users."{name}"]\npin_hash = "{PIN_HASH}"\nchallenge = true\n'
    for name in plain:
        text += f'[users."{name}"]\npin_hash = "{PIN_HASH}"\n'
    return text


# ------------------------------------------------------------------------------- radclient


def radclient(
    port: int,
    attributes: str,
    *,
    source: str | None = None,
    secret: str = SHARED_SECRET,
) -> tuple[str, list[tuple[str, str]]]:
    """Send one signed Access-Request; the answer's kind ("Access-Challenge", ...) and its
    attributes in the order they came, or ("no reply", [])."""
    attributes += ", Message-Authenticator = 0x00"
    if source is not None:
        attributes += f", Packet-Src-IP-Address = {source}"
    proc = subprocess.run(
        ["radclient", "-x", "-r", "3", "-t", "2", f"127.0.0.1:{port}", "auth", secret],
        input=attributes + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    received = re.search(r"^Received (Access-\w+) .*\n((?:\t.*\n?)*)", proc.stdout, re.M)
    if received is None:
        return "no reply", []
    pairs = [line.strip().split(" = ", 1) for line in received.group(2).splitlines()]
    return received.group(1), [(name, value) for name, value in pairs]


def first_round(port: int, user: str, password: str, **how: str) -> tuple[str, str | None]:
    """The answer's kind and its State (as radclient prints it, 0x...), if any."""
    kind, attributes = radclient(port, f"User-Name = {user}, User-Password = {password}", **how)
    states = [value for name, value in attributes if name == "State"]
    return kind, states[0] if states else None


def second_round(port: int, user: str, state: str, code: str, **how: str) -> str:
    attributes = f"User-Name = {user}, User-Password = {code}, State = {state}"
    return radclient(port, attributes, **how)[0]


def state_for(port: int, user: str, **how: str) -> str:
    kind, state = first_round(port, user, PIN, **how)
    assert kind == "Access-Challenge"
    assert state is not None
    return state


# ---------------------------------------------------------------------------------- fixtures

_names = (f"ch-{n}" for n in itertools.count())


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    data_dir = tmp_path_factory.mktemp("radius-challenge") / "data"
    users = [f"ch-{n}" for n in range(USERS)]
    enrol(data_dir, *users, "plain")
    with start(data_dir, config(users, plain=["plain"])) as running:
        yield running, data_dir


@pytest.fixture
def port(shared) -> int:
    return shared[0].radius_port


@pytest.fixture
def user(shared) -> str:
    """A challenge user of this test's own (its token is enrolled, unused)."""
    return next(_names)


@pytest.fixture
def totp() -> pyotp.TOTP:
    return pyotp.TOTP(SECRET)


def token_rows(data_dir: Path, token_id: str) -> list[tuple[str, dict]]:
    """The token's audit rows after its enrolment, oldest first: (action, detail)."""
    v = Verifier(data_dir=data_dir)
    try:
        return [
            (row["action"], row["detail"])
            for row in reversed(v.audit(1000))
            if row["token"] == token_id and row["action"] != "enrol"
        ]
    finally:
        v.close()


def logged(server: ServerProcess, line: str) -> bool:
    """Whether the server logs `line` within a few seconds (it logs after it answers, and its
    stderr is read in the background)."""
    deadline = time.monotonic() + 10
    while line not in server.log():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wrong_password_row(user: str) -> tuple[str, dict]:
    return ("validate", {"result": "reject", "reason": "wrong_pin", **via(user)})


# ------------------------------------------------------------------------------ both rounds


def test_right_password_gets_a_challenge_with_state_and_reply_message(shared, port, user):
    before = radius_counts(shared[0], "baoling_radius_answers")["challenge"]
    kind, attributes = radclient(port, f"User-Name = {user}, User-Password = {PIN}")
    assert kind == "Access-Challenge"
    names = [name for name, _ in attributes]
    assert names == ["Message-Authenticator", "State", "Reply-Message"]
    state = dict(attributes)["State"]
    assert re.fullmatch(r"0x[0-9a-f]{32}", state)  # 16 random octets
    assert dict(attributes)["Reply-Message"] == f'"{PROMPT}"'
    assert radius_counts(shared[0], "baoling_radius_answers")["challenge"] == before + 1
    assert token_rows(shared[1], user) == []  # nothing checked or counted yet


def test_state_and_right_code_get_access_accept(shared, port, user, totp):
    state = state_for(port, user)
    assert second_round(port, user, state, totp.now()) == "Access-Accept"
    accepted = {"result": "accept", "reason": "accepted", **via(user)}
    assert token_rows(shared[1], user) == [("validate", accepted)]


def test_a_state_expires_60_seconds_after_it_is_issued_by_default(shared, port, user):
    """The store holds when each pending State expires (the configuration sets no timeout)."""
    issued_from = time.time()
    state_for(port, user)
    issued_by = time.time()
    with closing(sqlite3.connect(shared[1] / "verifier.sqlite3")) as db:
        expiries = [row[0] for row in db.execute("SELECT expires FROM radius_challenges")]
    assert [e for e in expiries if issued_from + 60 <= e <= issued_by + 60] != []
    assert all(e <= issued_by + 60 for e in expiries)


def test_each_challenge_has_a_state_of_its_own(port, user):
    assert state_for(port, user) != state_for(port, user)


def test_state_and_wrong_code_get_access_reject(port, user, totp):
    state = state_for(port, user)
    assert second_round(port, user, state, wrong_code(totp)) == "Access-Reject"


def test_wrong_password_never_gets_a_challenge_and_counts_as_a_failure(shared, port, user, totp):
    assert first_round(port, user, "1234") == ("Access-Reject", None)
    assert first_round(port, user, PIN + totp.now()) == ("Access-Reject", None)  # one round
    assert token_rows(shared[1], user) == [wrong_password_row(user)] * 2


def test_wrong_passwords_lock_the_token_which_then_gets_no_challenge(shared, port, user, totp):
    for guess in range(LOCKOUT_AFTER):
        assert first_round(port, user, f"{guess:04d}") == ("Access-Reject", None)
    assert first_round(port, user, PIN) == ("Access-Reject", None)  # the right one, locked
    rows = token_rows(shared[1], user)
    assert rows[LOCKOUT_AFTER][0] == "lock"  # after the failure that locked
    assert rows[LOCKOUT_AFTER][1]["fail_count"] == LOCKOUT_AFTER


# ------------------------------------------------------------------------- refused States


def test_a_state_used_twice_is_rejected(port, user, totp):
    state = state_for(port, user)
    assert second_round(port, user, state, wrong_code(totp)) == "Access-Reject"
    assert second_round(port, user, state, totp.now()) == "Access-Reject"
    # The code was not the problem: it is accepted after a new challenge.
    assert second_round(port, user, state_for(port, user), totp.now()) == "Access-Accept"


def test_a_state_used_after_an_accept_is_rejected(port, user, totp):
    state = state_for(port, user)
    assert second_round(port, user, state, totp.now()) == "Access-Accept"
    assert second_round(port, user, state, totp.at(time.time() + 30)) == "Access-Reject"


def test_a_state_replayed_from_another_client_is_rejected_and_used_up(shared, port, user, totp):
    state = state_for(port, user)
    other = {"source": "127.0.0.2", "secret": OTHER_SECRET}
    assert second_round(port, user, state, totp.now(), **other) == "Access-Reject"
    assert second_round(port, user, state, totp.now()) == "Access-Reject"
    expected = f"RADIUS {user} from 127.0.0.2: reject (State issued to another client)"
    assert logged(shared[0], expected)
    assert second_round(port, user, state_for(port, user), totp.now()) == "Access-Accept"


def test_a_state_given_with_another_user_name_is_rejected(port, user, totp):
    state = state_for(port, user)
    thief = next(_names)
    assert second_round(port, thief, state, totp.now()) == "Access-Reject"
    assert second_round(port, user, state, totp.now()) == "Access-Reject"


def test_a_made_up_state_is_rejected(port, user, totp):
    assert second_round(port, user, "0x" + "00" * 16, totp.now()) == "Access-Reject"


def test_an_expired_state_is_rejected(tmp_path, totp):
    data_dir = tmp_path / "data"
    enrol(data_dir, "ch-late")
    text = config(["ch-late"], timeout="challenge_timeout_seconds = 1")
    with start(data_dir, text) as server:
        state = state_for(server.radius_port, "ch-late")
        time.sleep(1.5)
        assert second_round(server.radius_port, "ch-late", state, totp.now()) == "Access-Reject"
        assert logged(server, "RADIUS ch-late from 127.0.0.1: reject (State expired)")
        fresh = state_for(server.radius_port, "ch-late")
        assert second_round(server.radius_port, "ch-late", fresh, totp.now()) == "Access-Accept"


def test_the_log_holds_neither_the_state_nor_the_password_nor_the_code(shared, port, user, totp):
    state = state_for(port, user)
    code = totp.now()
    assert second_round(port, user, state, code) == "Access-Accept"
    assert logged(shared[0], f"RADIUS {user} from 127.0.0.1: accept\n")
    log = shared[0].log()
    assert f"RADIUS {user} from 127.0.0.1: challenge\n" in log
    assert state[2:] not in log.lower()
    assert f" {code}" not in log


# --------------------------------------------------------------------- modes and settings


def test_a_challenge_client_asks_users_with_a_pin_for_two_rounds(port, totp):
    vpn = {"source": "127.0.0.3"}
    assert first_round(port, "plain", PIN + totp.now()) == ("Access-Accept", None)  # 127.0.0.1
    state = state_for(port, "plain", **vpn)
    code = totp.at(time.time() + 30)  # the next step's code: the one above is used
    assert second_round(port, "plain", state, code, **vpn) == "Access-Accept"


def test_a_challenge_user_needs_a_pin():
    with pytest.raises(RadiusConfigError) as caught:
        parse_config(
            {"clients": {"127.0.0.1": {"secret": "s"}}, "users": {"eve": {"challenge": True}}}
        )
    assert str(caught.value) == (
        "RADIUS configuration: users.eve.challenge needs a pin_hash (the first round checks it)"
    )


@pytest.mark.parametrize("timeout", [0, -1, "60", True])
def test_the_challenge_timeout_must_be_a_positive_number(timeout):
    with pytest.raises(RadiusConfigError) as caught:
        parse_config(
            {"clients": {"127.0.0.1": {"secret": "s"}}, "challenge_timeout_seconds": timeout}
        )
    assert str(caught.value) == (
        "RADIUS configuration: challenge_timeout_seconds must be a positive number"
    )


def test_the_challenge_setting_is_true_or_false():
    with pytest.raises(RadiusConfigError) as caught:
        parse_config({"clients": {"127.0.0.1": {"secret": "s", "challenge": "yes"}}})
    assert str(caught.value) == (
        "RADIUS configuration: clients.'127.0.0.1'.challenge must be true or false"
    )


# ----------------------------------------------------------------------- two nodes, one store


@pytest.fixture
def two_nodes(postgres_server, tmp_path) -> Iterator[tuple[int, int, ServerProcess]]:
    """Two served verifiers on one PostgreSQL database (one master key), user ch-pg."""
    url = postgres_server.create_database()
    data_dir = tmp_path / "data"
    v = Verifier(url, data_dir=data_dir)
    v.enrol("ch-pg", base64.b32decode(SECRET))
    v.close()
    path = tmp_path / "radius.toml"
    path.write_text(config(["ch-pg"]))
    group = ["--store-url", url, "--data-dir", str(data_dir)]
    with (
        ServerProcess(group, ["--radius", "--radius-config", str(path)]) as one,
        ServerProcess(group, ["--radius", "--radius-config", str(path)]) as two,
    ):
        yield one.radius_port, two.radius_port, two


def test_a_state_issued_by_one_node_is_accepted_once_by_another(two_nodes, totp):
    one, two, second = two_nodes
    state = state_for(one, "ch-pg")
    assert second_round(two, "ch-pg", state, totp.now()) == "Access-Accept"
    assert logged(second, "RADIUS ch-pg from 127.0.0.1: accept")
    later = totp.at(time.time() + 30)
    assert second_round(one, "ch-pg", state, later) == "Access-Reject"
    assert second_round(two, "ch-pg", state, later) == "Access-Reject"


def test_of_two_nodes_redeeming_one_state_at_once_one_succeeds(postgres_server, tmp_path):
    """The store's side alone: 20 threads on two Verifiers present one State together."""
    url = postgres_server.create_database()
    nodes = [Verifier(url, data_dir=tmp_path / "data") for _ in range(2)]
    try:
        state = nodes[0].issue_challenge("carol", "vpn", 60)
        start_line = threading.Barrier(20)
        answers: list[str | None] = []

        def redeem(node: Verifier) -> None:
            start_line.wait()
            answers.append(node.redeem_challenge(state, "carol", "vpn"))

        threads = [threading.Thread(target=redeem, args=(nodes[n % 2],)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers, key=str) == [None] + ["unknown or already used"] * 19
    finally:
        for node in nodes:
            node.close()
