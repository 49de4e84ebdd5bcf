"""Round trips between a node and PostgreSQL per validation (issue 14 item 2), counted on the
wire: a relay between the verifier and the real server counts each time the client speaks
after the server has answered. No pre-ping per request; a node reconnects by itself after its
connections die, the request that meets a dead one failing closed."""

import contextlib
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from baoling.verifier.engine import LOCKED, REPLAY, WRONG_CODE, Policy
from baoling.verifier.errors import StoreError
from baoling.verifier.events import EventRules
from baoling.verifier.service import Verifier
from tests.fixtures_postgres import PostgresServer
from tests.test_verifier_service import SECRET, T0, code_at, wrong_code

# The token's SELECT, then its conditional UPDATE with the audit row, each committing alone.
VALIDATION_ROUND_TRIPS = 2


class CountingRelay:
    """A TCP relay to `target` on a free local port that counts round trips: client sends
    that follow an answer of the server (or open the connection)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.round_trips = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            turn = {"client": True}  # whether the client's next send starts a round trip
            threading.Thread(target=self._pipe, args=(client, server, turn, True)).start()
            threading.Thread(target=self._pipe, args=(server, client, turn, False)).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, turn: dict, upstream: bool) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    if upstream and turn["client"]:
                        self.round_trips += 1
                    turn["client"] = not upstream
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Break every connection relayed so far, as a database restart does."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        self.cut()


@contextlib.contextmanager
def relayed_verifier(
    postgres_server: PostgresServer, data_dir: Path, **options: Any
) -> Iterator[tuple[Verifier, CountingRelay]]:
    """A Verifier (with `options`) that reaches PostgreSQL through a CountingRelay."""
    url = sa.make_url(postgres_server.create_database())
    relay = CountingRelay((postgres_server.host, postgres_server.port))
    v = Verifier(
        url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False),
        data_dir=data_dir,
        **options,
    )
    try:
        yield v, relay
    finally:
        v.close()
        relay.close()


@pytest.fixture
def relayed(postgres_server: PostgresServer, tmp_path) -> Iterator[tuple[Verifier, CountingRelay]]:
    with relayed_verifier(postgres_server, tmp_path / "data") as pair:
        yield pair


def round_trips(relay: CountingRelay, operation) -> int:  # noqa: ANN001 (any callable)
    before = relay.round_trips
    operation()
    return relay.round_trips - before


def test_a_validation_takes_few_round_trips(relayed):
    v, relay = relayed
    v.enrol("alice", SECRET, now=T0)
    v.validate("alice", code_at(SECRET, T0), now=T0)  # connections opened, statements prepared
    v.validate("alice", code_at(SECRET, T0), now=T0)
    v.validate("alice", wrong_code(SECRET, T0), now=T0)
    accepted = round_trips(
        relay, lambda: v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)
    )
    wrong = round_trips(relay, lambda: v.validate("alice", wrong_code(SECRET, T0), now=T0 + 30))
    replayed = round_trips(
        relay, lambda: v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)
    )
    assert (accepted, wrong, replayed) == (VALIDATION_ROUND_TRIPS,) * 3
    assert v.verify_audit().rows == 7


def test_a_node_reconnects_after_its_connections_die(relayed):
    v, relay = relayed
    v.enrol("alice", SECRET, now=T0)
    assert v.validate("alice", code_at(SECRET, T0), now=T0)
    relay.cut()
    with pytest.raises(StoreError, match="failed"):  # fails closed, never an accept
        v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)
    assert v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)
    assert not v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)  # a replay


# The channels' events a validation by token may record: each is written by the statement
# that changes the token, so these validations take no more round trips than the others.
EVENTS = ("validation.accepted", "validation.replay", "token.locked", "token.drift_far")
USER = "alice@bank.example"


def test_a_validation_that_records_events_or_locks_takes_as_few_round_trips(
    postgres_server, tmp_path
):
    policy = Policy(lockout_after_fails=2)
    rules = EventRules(drift_far_s=60)
    options = {"event_types": EVENTS, "policy": policy, "event_rules": rules}
    with relayed_verifier(postgres_server, tmp_path / "data", **options) as (v, relay):
        v.enrol("alice", SECRET, now=T0)
        v.add_user(USER)
        v.assign("alice", USER, override=True)
        # Every statement once: connections opened, statements prepared.
        for code in (code_at(SECRET, T0), code_at(SECRET, T0), *[wrong_code(SECRET, T0)] * 3):
            v.validate("alice", code, now=T0)
        v.unlock("alice")
        t = T0 + 30
        accepted = round_trips(relay, lambda: v.validate("alice", code_at(SECRET, t), now=t))
        replayed = round_trips(relay, lambda: v.validate("alice", code_at(SECRET, t), now=t))
        # The token's clock runs 120 s ahead: a resync learns it, reported as drift_far.
        ahead = [code_at(SECRET, t + 120 + 30 * n) for n in (0, 1)]
        resync = round_trips(relay, lambda: v.resync("alice", ahead[0], ahead[1], now=t))
        failed = [
            round_trips(relay, lambda: v.validate("alice", wrong_code(SECRET, t), now=t))
            for _ in range(3)  # the second locks, the third meets the lock
        ]
        assert [accepted, replayed, resync, *failed] == [VALIDATION_ROUND_TRIPS] * 6
        events = list(reversed(v.list_events()))
        audit_rows = list(reversed(v.search_audit(token="alice", since=t)))
        report = v.verify_audit()
    warm_up = ["validation.accepted", "validation.replay", "token.locked"]
    measured = ["validation.accepted", "validation.replay", "token.drift_far", "token.locked"]
    assert [(e["type"], e["realm"], e["user"]) for e in events] == [
        (kind, "bank.example", "alice") for kind in warm_up + measured
    ]
    lock_end = policy.lock_end(t)
    assert events[-1]["event"]["data"] == {
        "token": "alice",
        "fail_count": 2,
        "locked_until": lock_end,
    }
    assert [(row["action"], row["detail"].get("reason")) for row in audit_rows] == [
        ("validate", "accepted"),
        ("validate", REPLAY),
        ("resync", "resynced"),
        ("validate", WRONG_CODE),
        ("validate", WRONG_CODE),
        ("lock", None),
        ("validate", LOCKED),
    ]
    assert audit_rows[5]["detail"] == {"fail_count": 2, "locked_until": lock_end}
    assert report.ok


def test_an_accept_is_reported_to_a_user_only_when_they_asked_in_the_same_round_trips(
    postgres_server, tmp_path
):
    options = {"event_types": (), "per_user_types": ("validation.accepted",)}
    with relayed_verifier(postgres_server, tmp_path / "data", **options) as (v, relay):
        for token, user in (("alice", USER), ("bob", "bob@bank.example")):
            v.enrol(token, SECRET, now=T0)
            v.add_user(user)
            v.assign(token, user, override=True)
        v.set_notify_accepted(USER, True)
        v.validate("alice", code_at(SECRET, T0), now=T0)  # prepared
        t = T0 + 30
        trips = [
            round_trips(relay, lambda token=token: v.validate(token, code_at(SECRET, t), now=t))
            for token in ("alice", "bob")
        ]
        events = v.list_events()
    assert trips == [VALIDATION_ROUND_TRIPS] * 2
    assert [(e["type"], e["user"], e["event"]["data"]["token"]) for e in events] == [
        ("validation.accepted", "alice", "alice")
    ] * 2


def test_failures_racing_on_two_nodes_lock_the_token_once(postgres_server, tmp_path):
    """Wrong codes sent at once to two nodes: the token locks after exactly three, one lock
    row and one token.locked event, however the failures interleave."""
    url = postgres_server.create_database()
    options: dict[str, Any] = {
        "event_types": ("token.locked",),
        "policy": Policy(lockout_after_fails=3),
    }
    nodes = [Verifier(url, data_dir=tmp_path / "data", **options) for _ in range(2)]
    try:
        nodes[0].enrol("alice", SECRET, now=T0)
        with ThreadPoolExecutor(8) as pool:
            reasons = list(
                pool.map(
                    lambda i: nodes[i % 2].check("alice", wrong_code(SECRET, T0), now=T0).reason,
                    range(24),
                )
            )
        locks = nodes[1].search_audit(token="alice", action="lock")
        events = nodes[0].list_events()
        token = nodes[0].show("alice")
        report = nodes[1].verify_audit()
    finally:
        for node in nodes:
            node.close()
    assert sorted(reasons) == sorted([WRONG_CODE] * 3 + [LOCKED] * 21)
    assert len(locks) == 1
    assert [e["type"] for e in events] == ["token.locked"]
    assert events[0]["event"]["data"]["fail_count"] == locks[0]["detail"]["fail_count"] == 3
    assert token["fail_count"] == 3
    assert report.ok


# A validation by user name: the account's SELECT (no transaction); then one transaction:
# BEGIN, the lock on the user's attempts (rate limits), the rate-limit rows, the user's row,
# its directory entry, its tokens, the token's conditional UPDATE with its audit row, COMMIT.
USER_VALIDATION_ROUND_TRIPS = 9


def test_a_validation_by_user_name_reads_the_account_without_a_transaction(relayed):
    v, relay = relayed
    v.enrol("alice", SECRET, now=T0)
    v.add_user(USER)
    v.assign("alice", USER, override=True)
    for _ in range(2):  # an accept and a replay: prepared
        v.validate_user(USER, code_at(SECRET, T0), now=T0)
    t = T0 + 30
    accepted = round_trips(relay, lambda: v.check_user(USER, code_at(SECRET, t), now=t))
    replayed = round_trips(relay, lambda: v.check_user(USER, code_at(SECRET, t), now=t))
    assert (accepted, replayed) == (USER_VALIDATION_ROUND_TRIPS,) * 2
    assert [row["detail"]["reason"] for row in v.search_audit(token="alice", since=t)] == [
        REPLAY,
        "accepted",
    ]


def test_an_accept_or_replay_by_user_name_writes_its_event_in_the_same_round_trips(
    postgres_server, tmp_path
):
    options = {"event_types": ("validation.accepted", "validation.replay")}
    with relayed_verifier(postgres_server, tmp_path / "data", **options) as (v, relay):
        v.enrol("alice", SECRET, now=T0)
        v.add_user(USER)
        v.assign("alice", USER, override=True)
        for _ in range(2):  # an accept and a replay: prepared
            v.validate_user(USER, code_at(SECRET, T0), now=T0)
        t = T0 + 30
        trips = [
            round_trips(relay, lambda: v.check_user(USER, code_at(SECRET, t), now=t))
            for _ in range(2)
        ]
        events = v.list_events()
    assert trips == [USER_VALIDATION_ROUND_TRIPS] * 2
    assert [(e["type"], e["user"], e["event"]["data"]["user"]) for e in reversed(events)] == [
        (kind, "alice", USER) for kind in ("validation.accepted", "validation.replay") * 2
    ]
