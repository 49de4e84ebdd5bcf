"""RADIUS front end checked with FreeRADIUS's own client, `radclient`, against
`baoling verifier serve --radius`; codes from pyotp, the HTTP side through httpx."""

import base64
import itertools
import socket
import subprocess
from pathlib import Path

import httpx
import pyotp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pyrad import packet
from pyrad.dictionary import Dictionary
from test_http_api import wrong_code

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.radius import (
    DICTIONARY_PATH,
    RadiusConfigError,
    RadiusServer,
    hash_pin,
    parse_config,
)
from baoling.verifier.service import Verifier

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HTTP_TIMEOUT_S = 30  # generous: the suite may share two cores with other test runs
SHARED_SECRET = "testing123"
PIN = "4321"
LOCKOUT_AFTER = 3


def radclient(
    port: int,
    user: str,
    password: str,
    *,
    secret: str = SHARED_SECRET,
    message_authenticator: bool = True,
    tries: int = 3,
) -> str:
    """ "accept", "reject" or "no reply", as radclient reports it.

    Three tries two seconds apart, as a NAS would: a busy machine can be slow, and a
    retransmitted request gets the first answer again (see the end of this file). A test that
    expects no reply makes one try: the drop counter shows the request arrived."""
    output = radclient_output(
        port,
        user,
        password,
        secret=secret,
        message_authenticator=message_authenticator,
        tries=tries,
    )
    if "Received Access-Accept" in output:
        return "accept"
    if "Received Access-Reject" in output:
        return "reject"
    return "no reply"


def radclient_output(
    port: int,
    user: str,
    password: str,
    *,
    secret: str = SHARED_SECRET,
    message_authenticator: bool = True,
    tries: int = 3,
    extra: str = "",
) -> str:
    """What `radclient -x` prints: the request's and the answer's attributes, in order.

    `Message-Authenticator = 0x00` among the attributes makes radclient sign the request."""
    attributes = f"User-Name = {user}, User-Password = {password}{extra}"
    if message_authenticator:
        attributes += ", Message-Authenticator = 0x00"
    proc = subprocess.run(
        ["radclient", "-x", "-r", str(tries), "-t", "2", f"127.0.0.1:{port}", "auth", secret],
        input=attributes + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    return proc.stdout


def radius_counts(server: ServerProcess, series: str) -> dict[str, float]:
    """One RADIUS counter from the server's /metrics, by its label's value: `series` is
    "baoling_radius_dropped" (by reason) or "baoling_radius_answers" (by result)."""
    text = httpx.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT_S).text
    return {
        next(iter(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == f"{series}_total"
    }


def dropped(server: ServerProcess, reason: str) -> float:
    return radius_counts(server, "baoling_radius_dropped")[reason]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder of this test's own, with token alice."""
    enrol(tmp_path / "data", "alice")
    return tmp_path / "data"


def enrol(data_dir: Path, *token_ids: str) -> None:
    v = Verifier(data_dir=data_dir)
    for token_id in token_ids:
        v.enrol(token_id, base64.b32decode(SECRET))
    v.close()


def start(data_dir: Path, config: str) -> ServerProcess:
    path = data_dir.parent / "radius.toml"
    path.write_text(config)
    return ServerProcess(
        ["--data-dir", str(data_dir)],
        ["--radius", "--radius-config", str(path), "--lockout-after", str(LOCKOUT_AFTER)],
    )


BASIC = f'port = 0\n[clients."127.0.0.1"]\nsecret = "{SHARED_SECRET}"\n'
_fresh_ids = itertools.count()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):
    """One server for the tests that need only the basic configuration (starting one is the
    slow part); each test gets a token of its own through `user`."""
    data_dir = tmp_path_factory.mktemp("radius") / "data"
    enrol(data_dir)
    with start(data_dir, BASIC) as running:
        yield running, data_dir


@pytest.fixture
def server(shared) -> ServerProcess:
    return shared[0]


@pytest.fixture
def user(shared) -> str:
    """A token enrolled for this test only, on the shared server; its user name is its id."""
    token_id = f"user-{next(_fresh_ids)}"
    enrol(shared[1], token_id)
    return token_id


@pytest.fixture
def totp() -> pyotp.TOTP:
    return pyotp.TOTP(SECRET)


def test_right_code_gets_access_accept(server, user, totp):
    assert radclient(server.radius_port, user, totp.now()) == "accept"


def test_same_code_again_gets_access_reject(server, user, totp):
    code = totp.now()
    radclient(server.radius_port, user, code)
    assert radclient(server.radius_port, user, code) == "reject"


def test_wrong_code_gets_access_reject(server, user, totp):
    assert radclient(server.radius_port, user, wrong_code(totp)) == "reject"


def test_unknown_user_gets_access_reject(server, totp):
    assert radclient(server.radius_port, "mallory", totp.now()) == "reject"


def test_wrong_shared_secret_is_dropped_and_counted(server, user, totp):
    before = dropped(server, "bad_message_authenticator")
    result = radclient(server.radius_port, user, totp.now(), secret="not-the-secret", tries=1)
    assert result == "no reply"
    assert dropped(server, "bad_message_authenticator") == before + 1
    assert (
        "RADIUS datagram from 127.0.0.1 dropped: wrong Message-Authenticator "
        "(is client 127.0.0.1's secret the same?)"
    ) in server.log()


def test_request_without_message_authenticator_gets_no_answer_and_is_counted(server, user, totp):
    before = radius_counts(server, "baoling_radius_dropped")
    result = radclient(server.radius_port, user, totp.now(), message_authenticator=False, tries=1)
    assert result == "no reply"
    after = radius_counts(server, "baoling_radius_dropped")
    assert after["missing_message_authenticator"] == before["missing_message_authenticator"] + 1
    assert {k: v for k, v in after.items() if k != "missing_message_authenticator"} == {
        k: v for k, v in before.items() if k != "missing_message_authenticator"
    }
    assert "dropped: no Message-Authenticator" in server.log()


def test_radclient_gets_message_authenticator_as_the_first_attribute_of_an_answer(
    server, user, totp
):
    # radclient checks a Message-Authenticator in an answer and ignores an answer whose one
    # does not verify; -x lists the answer's attributes in the order they came.
    output = radclient_output(server.radius_port, user, totp.now(), extra=", Proxy-State = 0x07")
    answer = output.split("Received Access-Accept", 1)[1].splitlines()[1:]
    names = [line.split(" = ")[0].strip() for line in answer if line.startswith("\t")]
    assert names == ["Message-Authenticator", "Proxy-State"]


def test_answers_are_counted_by_result(server, user, totp):
    before = radius_counts(server, "baoling_radius_answers")
    radclient(server.radius_port, user, wrong_code(totp))
    radclient(server.radius_port, user, totp.now())
    after = radius_counts(server, "baoling_radius_answers")
    assert after == {
        "accept": before["accept"] + 1,
        "reject": before["reject"] + 1,
        "challenge": before["challenge"],
    }


def test_lockout_after_failures_holds_for_radius(server, user, totp):
    for _ in range(LOCKOUT_AFTER):
        radclient(server.radius_port, user, wrong_code(totp))
    assert radclient(server.radius_port, user, totp.now()) == "reject"


def test_code_accepted_over_radius_is_rejected_over_http(shared, user, totp):
    server, data_dir = shared
    v = Verifier(data_dir=data_dir)
    key = v.create_api_key("web", ["validate"])
    v.close()
    code = totp.now()
    assert radclient(server.radius_port, user, code) == "accept"
    response = httpx.post(
        f"{server.url}/v1/validate",
        json={"token": user, "code": code},
        headers={"Authorization": f"Bearer {key}"},
        timeout=HTTP_TIMEOUT_S,
    )
    assert response.json() == {"result": "reject"}


def test_the_log_holds_no_code(server, user, totp):
    code = totp.now()
    radclient(server.radius_port, user, code)
    radclient(server.radius_port, user, code + "99")
    assert f"RADIUS {user} from 127.0.0.1: accept" in server.log()
    assert code not in server.log()


def test_a_second_server_on_a_running_ones_port_is_refused(shared, user, totp):
    server, data_dir = shared
    v = Verifier(data_dir=data_dir)
    try:
        config = parse_config(
            {"port": server.radius_port, "clients": {"127.0.0.1": {"secret": SHARED_SECRET}}}
        )
        with pytest.raises(RadiusConfigError) as err:
            RadiusServer(v, config, CollectorRegistry())
    finally:
        v.close()
    assert str(err.value) == (
        f"cannot listen on udp 127.0.0.1:{server.radius_port}: the port is already in use "
        "(is another RADIUS server running?)"
    )
    # The running server still gets every request.
    assert radclient(server.radius_port, user, totp.now()) == "accept"


def test_requests_from_unknown_clients_are_dropped(data_dir, totp):
    config = f'port = 0\n[clients."127.0.0.2"]\nsecret = "{SHARED_SECRET}"\n'
    with start(data_dir, config) as server:
        assert radclient(server.radius_port, "alice", totp.now(), tries=1) == "no reply"
        assert dropped(server, "unknown_client") == 1
        expected = "RADIUS datagram from 127.0.0.1 dropped: not from a configured client"
        assert expected in server.log()


def test_a_client_opted_out_of_message_authenticator_is_answered_without_one(data_dir, totp):
    config = BASIC + "require_message_authenticator = false\n"
    with start(data_dir, config) as server:
        assert radclient(server.radius_port, "alice", totp.now(), message_authenticator=False) == (
            "accept"
        )
        assert (
            "RADIUS client 127.0.0.1 accepts Access-Requests without Message-Authenticator: "
            "unsafe, open to Blast-RADIUS (CVE-2024-3596)"
        ) in server.log()
        # A wrong one is still dropped: the opt-out is for clients that cannot sign.
        result = radclient(server.radius_port, "alice", totp.now(), secret="wrong", tries=1)
        assert result == "no reply"
        assert dropped(server, "bad_message_authenticator") == 1


def test_configured_user_name_maps_to_its_token(data_dir, totp):
    config = BASIC + '[users."alice@example.com"]\ntoken = "alice"\n'
    with start(data_dir, config) as server:
        assert radclient(server.radius_port, "alice@example.com", totp.now()) == "accept"


PIN_USERS = 8


@pytest.fixture(scope="module")
def pin_shared(tmp_path_factory: pytest.TempPathFactory):
    """One server whose users pin-0 ... pin-7 have the static PIN; one user per test."""
    data_dir = tmp_path_factory.mktemp("radius-pin") / "data"
    names = [f"pin-{n}" for n in range(PIN_USERS)]
    enrol(data_dir, *names)
    pin_hash = hash_pin(PIN)
    config = BASIC + "".join(f'[users."{name}"]\npin_hash = "{pin_hash}"\n' for name in names)
    with start(data_dir, config) as running:
        yield running, iter(names), data_dir


@pytest.fixture
def pin_server(pin_shared) -> ServerProcess:
    return pin_shared[0]


@pytest.fixture
def pin_user(pin_shared) -> str:
    return next(pin_shared[1])


@pytest.fixture
def pin_audit(pin_shared):
    """The audit rows of one token on the PIN server after its enrolment, oldest first:
    (action, detail)."""

    def rows(token_id: str) -> list[tuple[str, dict]]:
        v = Verifier(data_dir=pin_shared[2])
        try:
            return [
                (row["action"], row["detail"])
                for row in reversed(v.audit(1000))
                if row["token"] == token_id and row["action"] != "enrol"
            ]
        finally:
            v.close()

    return rows


def test_pin_then_code_gets_access_accept(pin_server, pin_user, totp):
    assert radclient(pin_server.radius_port, pin_user, PIN + totp.now()) == "accept"


def via(user: str) -> dict[str, str]:
    """What every audit row of a RADIUS request carries: the client entry and User-Name."""
    return {"radius_client": "127.0.0.1", "radius_user": user}


def wrong_pin_row(user: str) -> tuple[str, dict]:
    return ("validate", {"result": "reject", "reason": "wrong_pin", **via(user)})


def test_code_without_its_pin_gets_access_reject(pin_server, pin_user, pin_audit, totp):
    assert radclient(pin_server.radius_port, pin_user, totp.now()) == "reject"
    assert pin_audit(pin_user) == [wrong_pin_row(pin_user)]


def test_wrong_pin_is_audited_as_wrong_pin_without_pin_or_code(
    pin_server, pin_user, pin_audit, totp
):
    # The whole row is compared: it holds the reason, and neither the PIN nor the code.
    assert radclient(pin_server.radius_port, pin_user, "1234" + totp.now()) == "reject"
    assert pin_audit(pin_user) == [wrong_pin_row(pin_user)]


def test_wrong_pins_lock_the_token_as_wrong_codes_do(pin_server, pin_user, pin_audit, totp):
    for guess in range(LOCKOUT_AFTER):
        assert radclient(pin_server.radius_port, pin_user, f"{guess:04d}" + totp.now()) == "reject"
    assert radclient(pin_server.radius_port, pin_user, PIN + totp.now()) == "reject"
    rows = pin_audit(pin_user)
    assert rows[:LOCKOUT_AFTER] == [wrong_pin_row(pin_user)] * LOCKOUT_AFTER
    assert rows[LOCKOUT_AFTER][0] == "lock"  # after the failure that locked
    assert rows[LOCKOUT_AFTER][1]["fail_count"] == LOCKOUT_AFTER
    assert rows[LOCKOUT_AFTER + 1 :] == [
        ("validate", {"result": "reject", "reason": "locked", **via(pin_user)}),
    ]


# A client that lost an answer resends the same request (same id and authenticator) and must get
# the same answer again, not a replay reject (RFC 5080 section 2.2.2). radclient cannot resend
# identical bytes on demand, so these two tests build the request with pyrad.


def access_request(user: str, code: str) -> bytes:
    request = packet.AuthPacket(
        secret=SHARED_SECRET.encode(),
        dict=Dictionary(str(DICTIONARY_PATH)),
        message_authenticator=True,
        User_Name=user,
    )
    request["User-Password"] = request.PwCrypt(code)
    return request.RequestPacket()


def answers(port: int, raw: bytes, times: int) -> list[int]:
    """Send the same bytes `times` times from one socket; the RADIUS code of each answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        codes = []
        for _ in range(times):
            sock.sendto(raw, ("127.0.0.1", port))
            codes.append(sock.recv(4096)[0])
        return codes


def test_a_retransmitted_accept_is_answered_with_accept_again(server, user, totp):
    raw = access_request(user, totp.now())
    assert answers(server.radius_port, raw, 2) == [packet.AccessAccept, packet.AccessAccept]


def test_a_new_request_with_the_same_code_is_a_replay(server, user, totp):
    code = totp.now()
    first = answers(server.radius_port, access_request(user, code), 1)
    again = answers(server.radius_port, access_request(user, code), 1)
    assert first + again == [packet.AccessAccept, packet.AccessReject]
