"""Round trips between a node and PostgreSQL per validation (issue 14 item 2), counted on the
wire: a relay between the verifier and the real server counts each time the client speaks
after the server has answered. No pre-ping per request; a node reconnects by itself after its
connections die, the request that meets a dead one failing closed."""

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from baoling.verifier.errors import StoreError
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


@pytest.fixture
def relayed(postgres_server: PostgresServer, tmp_path) -> Iterator[tuple[Verifier, CountingRelay]]:
    url = sa.make_url(postgres_server.create_database())
    relay = CountingRelay((postgres_server.host, postgres_server.port))
    v = Verifier(
        url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False),
        data_dir=tmp_path / "data",
    )
    yield v, relay
    v.close()
    relay.close()


def round_trips(relay: CountingRelay, operation) -> int:  # noqa: ANN001 (any callable)
    before = relay.round_trips
    operation()
    return relay.round_trips - before


def test_a_validation_takes_few_round_trips(relayed):
    v, relay = relayed
    v.enrol("alice", SECRET, now=T0)
    v.validate("alice", code_at(SECRET, T0), now=T0)  # connections opened, statements prepared
    v.validate("alice", wrong_code(SECRET, T0), now=T0)
    accepted = round_trips(
        relay, lambda: v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)
    )
    wrong = round_trips(relay, lambda: v.validate("alice", wrong_code(SECRET, T0), now=T0 + 30))
    replayed = round_trips(
        relay, lambda: v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)
    )
    assert (accepted, wrong, replayed) == (VALIDATION_ROUND_TRIPS,) * 3
    assert v.verify_audit().rows == 6


def test_a_node_reconnects_after_its_connections_die(relayed):
    v, relay = relayed
    v.enrol("alice", SECRET, now=T0)
    assert v.validate("alice", code_at(SECRET, T0), now=T0)
    relay.cut()
    with pytest.raises(StoreError, match="failed"):  # fails closed, never an accept
        v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)
    assert v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)
    assert not v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)  # a replay
