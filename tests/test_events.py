"""Events through the outbox to a real webhook receiver on 127.0.0.1 (docs/events.md): written
with the change they report or not at all, signed so that docs/events.md's snippet verifies
them, retried with backoff, dead after the maximum age and replayable, delivered after a kill -9
of the node, once between two nodes, and never holding a secret, code or key."""

import base64
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.channels import Channels
from baoling.verifier.channels_config import EventsConfig
from baoling.verifier.delivery import Delivery, Retry
from baoling.verifier.engine import Policy
from baoling.verifier.errors import InvalidRequest, TokenExists, UnknownEvent
from baoling.verifier.events import EVENT_TYPES, EventRules, burst_reached
from baoling.verifier.service import Verifier
from baoling.verifier.store import audit
from baoling.verifier.webhook import Webhook, read_secret
from tests.test_audit_chain import tamper
from tests.test_radius_radclient import SHARED_SECRET, radclient

REPO = Path(__file__).resolve().parent.parent
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HTTP_TIMEOUT_S = 30
PIN = "pin-7Kq2"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
ALL_TYPES = frozenset(EVENT_TYPES)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers `status` (or holds the request while `hang`
    is set), and records every request it got."""

    status: int = 200
    got: list[Received] = field(default_factory=list)
    hang: threading.Event = field(default_factory=threading.Event)
    hung: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    location: str = ""

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.got]

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["content-length"]))
            if state.hang.is_set():
                state.hung.set()
                while state.hang.is_set():
                    time.sleep(0.05)
                return  # the sender has given up or died: answer nothing
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.got.append(Received(headers, body, time.time()))
            self.send_response(state.status)
            if state.location:
                self.send_header("location", state.location)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.hang.clear()
    server.shutdown()
    server.server_close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "webhook.secret"
    path.write_text(WEBHOOK_SECRET + "\n")
    return path


def docs_verify() -> Callable[..., bool]:
    """The receiver's verification snippet of docs/events.md, run as it is written there."""
    text = (REPO / "docs/events.md").read_text()
    snippet = re.search(r"<!-- verify -->\s*```python\n(.*?)```", text, re.S)
    assert snippet is not None, "docs/events.md has no verification snippet"
    scope: dict[str, Any] = {}
    exec(snippet[1], scope)  # noqa: S102 (our own documentation)
    return scope["verify"]


def delivery(
    verifier: Verifier,
    receiver: Receiver,
    secret_file: Path,
    retry: Retry | None = None,
    timeout_s: float = 5.0,
) -> Delivery:
    webhook = Webhook(receiver.url, read_secret(secret_file), timeout_s)
    routes = Channels(
        EventsConfig(), unsubscribed=ALL_TYPES, contact=verifier.outbox.contact, webhook=webhook
    )
    return Delivery(
        verifier.outbox, routes.send, retry or Retry(0.2, 60), lease_s=2 * timeout_s + 1
    )


def wrong(code: str, n: int = 1) -> str:
    """A code that differs from `code` in its first digit."""
    return str((int(code[0]) + n) % 10) + code[1:]


def deliver_all(worker: Delivery, until: Callable[[], bool], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not until():
        assert time.monotonic() < deadline, "events were not delivered in time"
        if worker.run_once() == 0:
            time.sleep(0.05)


def test_every_event_type_is_documented_with_an_example_that_validates():
    docs = (REPO / "docs/events.md").read_text()
    for name, model in EVENT_TYPES.items():
        assert f"`{name}`" in docs
        model(**model.example)
        assert json.dumps(model.example, indent=2) in docs, name


def test_an_accepted_validation_and_a_lock_arrive_signed(tmp_path, receiver, secret_file):
    verify = docs_verify()
    policy = Policy(lockout_after_fails=3)
    v = Verifier(data_dir=tmp_path / "data", event_types=ALL_TYPES, policy=policy)
    try:
        v.enrol("alice", base64.b32decode(SECRET))
        now = time.time()
        code = pyotp.TOTP(SECRET).at(now)
        assert v.validate("alice", code, now)
        assert not v.validate("alice", code, now)  # replay
        for n in range(3):
            v.validate("alice", wrong(code, n + 1), now + 1)
        worker = delivery(v, receiver, secret_file)
        deliver_all(worker, lambda: len(receiver.got) == 4)
    finally:
        v.close()
    types = [body["type"] for body in receiver.bodies()]
    assert types == ["token.enrolled", "validation.accepted", "validation.replay", "token.locked"]
    for got in receiver.got:
        assert verify(WEBHOOK_SECRET, got.headers, got.body)
        assert not verify(WEBHOOK_SECRET, got.headers, got.body.replace(b"alice", b"mallory"))
        other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        assert not verify(other, got.headers, got.body)
        assert got.headers["webhook-id"] == json.loads(got.body)["id"]
        # The snippet checks Baoling-Signature; Standard Webhooks' libraries read the same value.
        assert got.headers["webhook-signature"] == got.headers["baoling-signature"]
        unsigned = {k: v for k, v in got.headers.items() if k != "baoling-signature"}
        with pytest.raises(KeyError):
            verify(WEBHOOK_SECRET, unsigned, got.body)
    locked = receiver.bodies()[3]["data"]
    assert (locked["token"], locked["fail_count"]) == ("alice", 3)
    assert locked["locked_until"] > now
    assert receiver.bodies()[1]["data"] == {
        "token": "alice",
        "user": None,
        "door": "python",  # the Python API: no client, no address
        "client": None,
        "source": None,
    }
    assert [e["state"] for e in v_events(tmp_path)] == ["delivered"] * 4


def v_events(tmp_path: Path) -> list[dict[str, Any]]:
    v = Verifier(data_dir=tmp_path / "data")
    try:
        return v.list_events()
    finally:
        v.close()


def test_accepted_validations_are_reported_only_when_asked_for(tmp_path):
    v = Verifier(data_dir=tmp_path / "data", event_types=ALL_TYPES - {"validation.accepted"})
    try:
        v.enrol("alice", base64.b32decode(SECRET))
        assert v.validate("alice", pyotp.TOTP(SECRET).now())
        assert [e["type"] for e in v.list_events()] == ["token.enrolled"]
    finally:
        v.close()
    quiet = Verifier(data_dir=tmp_path / "quiet", event_types=())
    try:
        quiet.enrol("alice", base64.b32decode(SECRET))
        assert quiet.list_events() == []
    finally:
        quiet.close()


def test_a_rolled_back_change_reports_nothing(tmp_path):
    """An import whose second key is taken rolls back the first key's enrolment: its event too."""
    v = Verifier(data_dir=tmp_path / "data", event_types=ALL_TYPES)
    try:
        v.enrol("taken", base64.b32decode(SECRET))
        with pytest.raises(TokenExists):
            v.import_pskc(pskc(["fresh", "taken"]))
        assert [e["event"]["data"]["token"] for e in v.list_events()] == ["taken"]
        assert [t["token"] for t in v.list_tokens()] == ["taken"]
    finally:
        v.close()


def pskc(serials: list[str]) -> bytes:
    """A plain PSKC file (RFC 6030) of TOTP keys with these ids."""
    keys = "".join(
        f"""<KeyPackage><DeviceInfo><SerialNo>{serial}</SerialNo></DeviceInfo>
        <Key Id="{serial}" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
        <AlgorithmParameters><ResponseFormat Length="6" Encoding="DECIMAL"/></AlgorithmParameters>
        <Data><Secret><PlainValue>{base64.b64encode(os.urandom(20)).decode()}</PlainValue></Secret>
        <TimeInterval><PlainValue>30</PlainValue></TimeInterval></Data></Key></KeyPackage>"""
        for serial in serials
    )
    return (
        f'<?xml version="1.0"?><KeyContainer Version="1.0" '
        f'xmlns="urn:ietf:params:xml:ns:keyprov:pskc">{keys}</KeyContainer>'
    ).encode()


def test_a_receiver_down_gets_retries_with_backoff_then_the_event_is_dead_and_replays(
    tmp_path, receiver, secret_file
):
    receiver.status = 503
    v = Verifier(data_dir=tmp_path / "data", event_types=ALL_TYPES)
    try:
        v.enrol("alice", base64.b32decode(SECRET))
        worker = delivery(v, receiver, secret_file, Retry(first_delay_s=0.2, max_age_s=2.5))
        deliver_all(worker, lambda: v.list_events("dead") != [])
        gaps = [b.at - a.at for a, b in itertools.pairwise(receiver.got)]
        assert len(receiver.got) >= 3
        # Each wait is first_delay * 2**n with up to half taken off: never shorter than half.
        for n, gap in enumerate(gaps):
            assert gap >= 0.2 * 2**n / 2 - 0.05, gaps
        assert gaps[-1] > gaps[0]
        assert len(set(receiver.ids())) == 1
        (dead,) = v.list_events("dead")
        assert dead["last_error"] == "webhook: the receiver answered 503"
        assert dead["attempts"] == len(receiver.got)
        assert v.list_events("pending") == []

        receiver.status = 204
        v.replay_event(dead["id"])
        deliver_all(worker, lambda: v.list_events("delivered") != [])
        assert receiver.got[-1].headers["webhook-id"] == dead["id"]
        with pytest.raises(InvalidRequest, match="is delivered, not dead"):
            v.replay_event(dead["id"])
        with pytest.raises(UnknownEvent, match="no event 'evt_nope' is in the outbox"):
            v.replay_event("evt_nope")
    finally:
        v.close()


def test_a_receiver_down_for_a_while_gets_retries_with_backoff_and_the_event_when_it_is_back(
    tmp_path, receiver, secret_file
):
    receiver.status = 503
    v = Verifier(data_dir=tmp_path / "data", event_types=ALL_TYPES)
    try:
        v.enrol("alice", base64.b32decode(SECRET))
        worker = delivery(v, receiver, secret_file, Retry(first_delay_s=0.2, max_age_s=60))
        deliver_all(worker, lambda: len(receiver.got) == 4)
        (pending,) = v.list_events("pending")
        assert (pending["attempts"], pending["last_error"]) == (
            4,
            "webhook: the receiver answered 503",
        )
        receiver.status = 204  # back
        deliver_all(worker, lambda: v.list_events("delivered") != [])
        assert v.list_events("pending") == v.list_events("dead") == []
    finally:
        v.close()
    gaps = [b.at - a.at for a, b in itertools.pairwise(receiver.got)]
    for n, gap in enumerate(gaps):  # first_delay * 2**n, up to half of it taken off
        assert gap >= 0.2 * 2**n / 2 - 0.05, gaps
    assert len(receiver.got) == 5
    assert set(receiver.ids()) == {pending["id"]}


def test_a_redirect_is_not_followed_and_a_hanging_receiver_is_cut_by_the_timeout(
    tmp_path, receiver, secret_file
):
    receiver.status = 307
    receiver.location = "http://127.0.0.1:9/elsewhere"
    v = Verifier(data_dir=tmp_path / "data", event_types=ALL_TYPES)
    try:
        v.enrol("alice", base64.b32decode(SECRET))
        worker = delivery(v, receiver, secret_file, Retry(first_delay_s=60, max_age_s=600))
        assert worker.run_once() == 1
        (pending,) = v.list_events("pending")
        assert (pending["attempts"], pending["last_error"]) == (
            1,
            "webhook: the receiver answered 307",
        )
        assert len(receiver.got) == 1

        v.enrol("bob", base64.b32decode(SECRET))
        receiver.hang.set()
        hanging = delivery(v, receiver, secret_file, timeout_s=0.5)
        started = time.monotonic()
        assert hanging.run_once() == 1
        assert time.monotonic() - started < 5
        bob = [e for e in v.list_events("pending") if e["event"]["data"]["token"] == "bob"]
        assert bob[0]["last_error"] == "webhook: no answer within the timeout"
    finally:
        v.close()


def test_a_4xx_refusal_is_not_retried(tmp_path, receiver, secret_file):
    receiver.status = 410
    v = Verifier(data_dir=tmp_path / "data", event_types=ALL_TYPES)
    try:
        v.enrol("alice", base64.b32decode(SECRET))
        worker = delivery(v, receiver, secret_file)
        deliver_all(worker, lambda: v.list_events("dead") != [])
        assert len(receiver.got) == 1
    finally:
        v.close()


def baoling(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", *args],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("BAOLING_")},
    )


def test_the_admin_lists_dead_events_and_replays_one(tmp_path, receiver, secret_file):
    receiver.status = 410
    data_dir = str(tmp_path / "data")
    v = Verifier(data_dir=tmp_path / "data", event_types=ALL_TYPES)
    try:
        v.enrol("alice", base64.b32decode(SECRET))
        deliver_all(delivery(v, receiver, secret_file), lambda: v.list_events("dead") != [])
    finally:
        v.close()
    listed = baoling("verifier", "--data-dir", data_dir, "events", "list", "--dead", "--json")
    assert listed.returncode == 0, listed.stderr
    (dead,) = json.loads(listed.stdout)
    assert (dead["type"], dead["state"], dead["attempts"]) == ("token.enrolled", "dead", 1)
    assert dead["last_error"] == "webhook: the receiver answered 410"
    assert dead["event"]["data"]["token"] == "alice"
    text = baoling("verifier", "--data-dir", data_dir, "events", "list", "--dead").stdout
    assert text.startswith(f"{dead['id']}  token.enrolled       dead        1 tries  ")
    assert text.endswith("  (webhook: the receiver answered 410)\n")

    replayed = baoling("verifier", "--data-dir", data_dir, "events", "replay", dead["id"])
    assert (replayed.returncode, replayed.stderr) == (
        0,
        f"Event {dead['id']} will be delivered again.\n",
    )
    assert baoling("verifier", "--data-dir", data_dir, "events", "list", "--dead").stdout == (
        "No events.\n"
    )
    again = baoling("verifier", "--data-dir", data_dir, "events", "replay", dead["id"])
    assert (again.returncode, again.stderr) == (
        1,
        f"Error: event {dead['id']!r} is pending, not dead: only dead ones replay\n",
    )
    unknown = baoling("verifier", "--data-dir", data_dir, "events", "replay", "evt_nope")
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "Error: no event 'evt_nope' is in the outbox\n",
    )


@pytest.mark.parametrize(
    ("args", "secret", "message"),
    [
        (
            ["--events-webhook-url", "ftp://hooks.example.com/"],
            None,
            "Error: --events-webhook-url: not an http:// or https:// URL: "
            "'ftp://hooks.example.com'",
        ),
        (
            ["--events-webhook-url", "https://hooks.example.com/"],
            None,
            "Error: events_webhook_url is set but events_webhook_secret_file is not: a "
            "webhook's events are always signed (docs/events.md)",
        ),
        (
            ["--events-webhook-url", "https://hooks.example.com/"],
            "not-a-whsec-secret",
            "Error: the webhook secret file {path} does not hold whsec_ and the base64 of 24 to "
            "64 random bytes",
        ),
    ],
)
def test_a_bad_webhook_setting_stops_serve_with_one_line(tmp_path, args, secret, message):
    path = tmp_path / "hook.secret"
    if secret is not None:
        path.write_text(secret)
        args = [*args, "--events-webhook-secret-file", str(path)]
    proc = baoling("verifier", "--data-dir", str(tmp_path / "d"), "serve", *args)
    assert (proc.returncode, proc.stderr) == (1, message.format(path=path) + "\n")
    assert secret is None or secret not in proc.stderr


def test_two_nodes_deliver_each_event_once(store_url, data_dir, receiver, secret_file):
    nodes = [Verifier(store_url, data_dir=data_dir, event_types=ALL_TYPES) for _ in range(2)]
    try:
        for n in range(40):
            nodes[n % 2].enrol(f"t{n}")
        workers = [delivery(node, receiver, secret_file) for node in nodes]
        stop = threading.Event()
        threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(nodes[0].list_events("delivered")) < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        for node in nodes:
            node.close()
    assert sorted(receiver.ids()) == sorted(set(receiver.ids()))
    assert len(receiver.ids()) == 40


def test_kill_9_mid_delivery_loses_no_event(tmp_path, receiver, secret_file):
    data_dir = tmp_path / "data"
    admin = Verifier(data_dir=data_dir)
    key = admin.create_api_key("test", ["admin"])
    admin.close()
    auth = {"Authorization": f"Bearer {key}"}
    serve_args = [
        "--events-webhook-url",
        receiver.url,
        "--events-webhook-secret-file",
        str(secret_file),
        "--events-webhook-timeout-seconds",
        "1",
    ]
    receiver.hang.set()
    with ServerProcess(["--data-dir", str(data_dir)], serve_args) as server:
        answer = httpx.post(
            f"{server.url}/v1/tokens", json={"token": "bob"}, headers=auth, timeout=HTTP_TIMEOUT_S
        )
        assert answer.status_code == 201
        assert receiver.hung.wait(30), "the node never tried to deliver"
        server.kill()
    receiver.hang.clear()
    with ServerProcess(["--data-dir", str(data_dir)], serve_args):
        deadline = time.monotonic() + 30
        while not receiver.got and time.monotonic() < deadline:
            time.sleep(0.1)
    assert [body["type"] for body in receiver.bodies()][:1] == ["token.enrolled"]
    assert receiver.bodies()[0]["data"]["token"] == "bob"
    # Exactly once per event id after de-duplication: the outbox's one event for bob, delivered.
    (event,) = v_events(tmp_path)
    assert event["state"] == "delivered"
    assert set(receiver.ids()) == {event["id"]}


def test_a_hanging_receiver_never_slows_validations(tmp_path, receiver, secret_file):
    """Delivery is off the request path: validations complete while every attempt hangs."""
    data_dir = tmp_path / "data"
    admin = Verifier(data_dir=data_dir)
    admin.enrol("alice", base64.b32decode(SECRET))
    key = admin.create_api_key("test", ["validate"])
    admin.close()
    receiver.hang.set()
    serve_args = [
        "--events-webhook-url",
        receiver.url,
        "--events-webhook-secret-file",
        str(secret_file),
        "--events-validation-accepted",
    ]
    code = pyotp.TOTP(SECRET).now()

    def validate(server: ServerProcess, code: str) -> str:
        answer = httpx.post(
            f"{server.url}/v1/validate",
            json={"token": "alice", "code": code},
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        )
        return answer.json()["result"]

    with ServerProcess(["--data-dir", str(data_dir)], serve_args) as server:
        assert validate(server, code) == "accept"
        assert receiver.hung.wait(30), "the node never tried to deliver"
        for n in range(5):
            assert validate(server, wrong(code, n + 1)) == "reject"


def test_an_accepted_or_replayed_code_says_which_door_client_and_address_it_came_through(
    tmp_path, receiver, secret_file
):
    """ "Your token was used at 10:02 by VPN from 10.1.2.3": over HTTP the API key's name and
    the client's address, over RADIUS the client's name and the NAS's address."""
    data_dir = tmp_path / "data"
    admin = Verifier(data_dir=data_dir)
    for token in ("alice", "bob"):
        admin.enrol(token, base64.b32decode(SECRET))
    key = admin.create_api_key("web-login", ["validate"])
    admin.close()
    radius = tmp_path / "radius.toml"
    radius.write_text(
        f'port = 0\n[clients.vpn]\naddress = "127.0.0.1"\nsecret = "{SHARED_SECRET}"\n'
    )
    in_url = "url-secret-7f3a"  # a webhook URL may carry its own secret (Slack's do)
    serve_args = [
        "--events-webhook-url",
        f"{receiver.url}?key={in_url}",
        "--events-webhook-secret-file",
        str(secret_file),
        "--events-validation-accepted",
        "--radius",
        "--radius-config",
        str(radius),
    ]
    code = pyotp.TOTP(SECRET).now()
    with ServerProcess(["--data-dir", str(data_dir)], serve_args) as server:
        for _ in range(2):  # accepted, then replayed
            httpx.post(
                f"{server.url}/v1/validate",
                json={"token": "alice", "code": code},
                headers={"Authorization": f"Bearer {key}"},
                timeout=HTTP_TIMEOUT_S,
            )
        assert radclient(server.radius_port, "bob", code) == "accept"
        lag = re.compile(r"^baoling_event_delivery_lag_seconds_count (\S+)$", re.M)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the lag is observed once an event is finished
            found = lag.search(httpx.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT_S).text)
            if found and float(found[1]) == 3:
                break
            time.sleep(0.1)
        assert found is not None and float(found[1]) == 3  # change to delivery, per event
        assert "/hook" not in server.log() and in_url not in server.log()
    came = {(body["type"], body["data"]["token"]): body["data"] for body in receiver.bodies()}
    http = {"user": None, "door": "http", "client": "web-login", "source": "127.0.0.1"}
    assert came == {
        ("validation.accepted", "alice"): {"token": "alice", **http},
        ("validation.replay", "alice"): {"token": "alice", **http},
        ("validation.accepted", "bob"): {
            "token": "bob",
            "user": None,
            "door": "radius",
            "client": "vpn",
            "source": "127.0.0.1",
        },
    }


def test_each_event_type_comes_from_its_action_and_holds_no_secret_code_or_key(
    tmp_path, receiver, secret_file
):
    """Every type is emitted by the action that causes it, and no payload holds a secret,
    code, PIN or key (searched for in every body delivered)."""
    secret = os.urandom(20)
    rules = EventRules(failed_burst=2, failed_burst_window_s=300, drift_far_s=60)
    v = Verifier(
        data_dir=tmp_path / "data",
        event_types=ALL_TYPES,
        event_rules=rules,
        policy=Policy(lockout_after_fails=4),
    )
    b32 = base64.b32encode(secret).decode().rstrip("=")
    totp = pyotp.TOTP(b32)
    now = time.time()
    try:
        key = v.create_api_key("vpn-gateway", ["validate"])
        uri = v.enrol("alice-token", secret)
        v.add_user("alice@bank.example", email="alice@bank.example")
        v.assign("alice-token", "alice@bank.example", override=True)
        v.set_user_pin("alice@bank.example", PIN)
        login = v.login(  # PIN and the previous step's code in one round, as RADIUS sends them
            "alice@bank.example",
            PIN + totp.at(now - 30),
            door="vpn",
            two_rounds=False,
            timeout_s=60,
        )
        assert login.result == "accept"
        code = totp.at(now)
        v.validate("alice-token", code, now)
        v.validate("alice-token", code, now)  # replay
        wrong_codes = [wrong(code, n) for n in range(1, 5)]
        for attempt in wrong_codes:  # bursts at 2 and 4 failures; the lock at 4
            v.validate("alice-token", attempt, now + 1)
        v.unlock("alice-token")
        # The token's clock runs 120 s ahead: a resync (two consecutive codes) learns it.
        ahead = [totp.at(now + 120 + 30 * n) for n in (0, 1)]
        assert v.resync("alice-token", *ahead, now + 2)
        v.disable("alice-token")
        backup, _ = v.issue_backup_codes("alice@bank.example", date.today() + timedelta(days=7))
        assert v.validate_user("alice@bank.example", backup[0], now + 3)
        assert not v.validate_user("alice@bank.example", backup[0], now + 4)  # used: no event
        v.delete("alice-token")
        tamper(
            None,
            tmp_path / "data",
            audit.update().where(audit.c.seq == 2).values(action="tampered"),
        )
        report = v.verify_audit()
        assert not report.ok
        worker = delivery(v, receiver, secret_file)
        deliver_all(worker, lambda: len(receiver.got) == 16)
    finally:
        v.close()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for body in receiver.bodies():
        by_type.setdefault(body["type"], []).append(body["data"])
    assert set(by_type) == ALL_TYPES
    assert by_type["admin.key_created"] == [
        {"key_id": key.split("_")[1], "key_name": "vpn-gateway", "scopes": ["validate"]}
    ]
    assert by_type["token.assigned"] == [
        {"token": "alice-token", "user": "alice@bank.example", "role": "primary"}
    ]
    bursts = by_type["validation.failed_burst"]
    assert [b["failures"] for b in bursts] == [2, 4]
    assert [b["window_start"] for b in bursts] == [pytest.approx(now + 1)] * 2
    (far,) = by_type["token.drift_far"]
    assert far["threshold_seconds"] == 60
    # The codes of steps 120 s and 150 s ahead, seen 2 s in: the offset is within a step of them.
    assert 90 <= far["offset_seconds"] <= 180
    (issued,) = by_type["backup_codes.issued"]
    assert (issued["user"], issued["count"]) == ("alice@bank.example", 10)
    assert by_type["backup_code.used"] == [
        {"user": "alice@bank.example", "left": 9, "door": "python", "client": None, "source": None}
    ]
    (broken,) = by_type["audit.chain_broken"]
    assert broken["problem"] == report.problem
    assert broken["rows_checked"] == report.rows
    forbidden = [
        PIN,
        totp.at(now - 30),
        code,
        *wrong_codes,
        *ahead,
        *backup,
        b32,
        b32.lower(),
        secret.hex(),
        base64.b64encode(secret).decode(),
        key,
        key.split("_", 2)[2],  # the secret part, which may hold "_" itself
        uri,
        WEBHOOK_SECRET,
    ]
    for got in receiver.got:
        text = got.body.decode()
        for value in forbidden:
            assert value not in text


def test_a_storm_of_failures_is_a_handful_of_burst_events_each_with_its_count(tmp_path):
    """10,000 failures of one token in a window: the threshold and each doubling, no more."""
    assert [n for n in range(1, 10_001) if burst_reached(n, 20)] == [
        20,
        40,
        80,
        160,
        320,
        640,
        1280,
        2560,
        5120,
    ]
    rules = EventRules(failed_burst=10, failed_burst_window_s=60)
    v = Verifier(
        data_dir=tmp_path / "data",
        event_types=ALL_TYPES,
        event_rules=rules,
        policy=Policy(lockout_after_fails=1000),
    )
    try:
        v.enrol("alice", base64.b32decode(SECRET))
        code = pyotp.TOTP(SECRET).now()
        for n in range(200):
            assert not v.validate("alice", wrong(code, 1 + n % 9))
        bursts = [e["event"]["data"] for e in v.list_events()][::-1]
        bursts = [b for b in bursts if "failures" in b]
    finally:
        v.close()
    assert [b["failures"] for b in bursts] == [10, 20, 40, 80, 160]
