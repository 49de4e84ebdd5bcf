"""The verifier's server: the composition root that `python -m baoling.verifier` and `baoling
verifier serve` run. It opens the store, binds HTTP (and RADIUS), and runs the HTTP API under
uvicorn until it is stopped. With an events channel set, it also runs the events delivery worker
(verifier/delivery.py) in a thread, off the request path, unless events_delivery is off; and
always the audit sealer, which chains appended audit rows and anchors the chain's head.

It prints the addresses it listens on to stderr, the HTTP one last: once that line is out, every
listener is bound, so a harness may send requests (host_tools waits for it).
"""

import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from baoling.verifier.errors import VerifierError
from baoling.verifier.events import AuditChainBroken
from baoling.verifier.settings import Settings

if TYPE_CHECKING:
    from baoling.verifier.event_metrics import EventMetrics
    from baoling.verifier.service import Verifier

HTTP_LINE_PREFIX = "HTTP on "
RADIUS_LINE_PREFIX = "RADIUS on udp "


class ListenError(VerifierError):
    """The server cannot listen on its HTTP address: the port is taken, or not this host's."""


def serve(settings: Settings) -> None:
    """Serve until uvicorn is told to stop (SIGINT or SIGTERM)."""
    # Imported here: FastAPI and uvicorn take about a second, which `--help` need not wait for.
    import uvicorn

    from baoling.verifier.event_metrics import EventMetrics
    from baoling.verifier.http import create_app
    from baoling.verifier.http.request_head import head_protocol
    from baoling.verifier.log_format import configure as configure_logging
    from baoling.verifier.radius import RadiusConfigError, RadiusServer, load_config
    from baoling.verifier.service import Verifier

    stop = threading.Event()
    server: uvicorn.Server | None = None
    sealer: threading.Thread | None = None

    def on_stop_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if server is not None:
            server.should_exit = True

    # uvicorn catches SIGINT and SIGTERM while it runs and raises each again after its graceful
    # shutdown, to the handler it found: this one, so run() returns and the process exits 0
    # (Python's defaults would exit 143 on SIGTERM, raise KeyboardInterrupt on SIGINT). A signal
    # that comes before uvicorn runs stops it as soon as it has started.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_stop_signal)
    radius = None
    if settings.radius:
        if settings.radius_config is None:
            raise RadiusConfigError(
                "radius is on but radius_config is not set (--radius-config FILE or "
                "BAOLING_RADIUS_CONFIG; docs/verifier.md, RADIUS)"
            )
        radius = load_config(settings.radius_config)
    settings.events()  # a bad events file stops here, before the store is opened
    configure_logging(settings.log_format)
    verifier = Verifier(
        settings.store_url,
        store_commit_timeout_s=settings.store_commit_timeout_seconds,
        store_pool=(settings.store_pool_size, settings.store_max_overflow),
        data_dir=settings.data_dir,
        master_key_file=settings.master_key_file,
        policy=settings.policy(),
        default_realm=settings.default_realm,
        ldap_config=settings.ldap_config,
        event_types=settings.event_types(),
        rate_limits=settings.rate_limits(),
    )
    try:
        http_app = create_app(
            verifier,
            backlog_ready=settings.events_backlog_ready,
            body_timeout_s=settings.http_body_timeout_seconds,
            # As many checks at once as the store has connections, so concurrent commits share
            # a flush (group commit: PostgreSQL's own; SQLite's, verifier/group_commit.py).
            validate_threads=settings.store_pool_size,
            privacyidea_allow=settings.privacyidea_networks,
            privacyidea_no_detail_on_fail=settings.privacyidea_no_detail_on_fail,
            trusted_proxies=settings.http_proxy_networks,
            console_session_s=(
                (settings.console_idle_seconds, settings.console_session_seconds)
                if settings.console
                else None
            ),
        )
        metrics = EventMetrics(http_app.state.metrics.registry, verifier.outbox.backlog)
        sealer = threading.Thread(
            target=_seal_audit, args=(settings, verifier, stop), name="audit-sealer", daemon=True
        )
        sealer.start()
        if settings.events_delivery:
            _start_delivery(settings, verifier, metrics, stop)
        if radius is not None:
            # RADIUS counters join the HTTP app's registry, so /metrics shows both.
            registry = http_app.state.metrics.registry
            radius_server = RadiusServer(
                verifier, radius, registry, trusted_proxies=settings.radius_proxy_networks
            )  # a taken port: error
            threading.Thread(target=radius_server.Run, name="radius", daemon=True).start()
            _say(f"{RADIUS_LINE_PREFIX}{radius.host}:{radius_server.port}")
        with _listening("tcp", settings.http_host, settings.http_port):
            sock = listen_tcp(settings.http_host, settings.http_port)
        _say(f"{HTTP_LINE_PREFIX}http://{settings.http_host}:{sock.getsockname()[1]}")
        # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from 127.0.0.1 as the
        # client; which proxies are trusted is the http_trusted_proxies setting's one rule.
        # http: uvicorn's httptools protocol with a time and a size limit for each request's head.
        head_limits = head_protocol(settings.http_header_timeout_seconds, http_app.state.metrics)
        app = uvicorn.Config(
            http_app, access_log=False, log_config=None, proxy_headers=False, http=head_limits
        )
        server = uvicorn.Server(app)
        server.should_exit = stop.is_set()
        server.run(sockets=[sock])
    finally:
        stop.set()
        if sealer is not None:
            sealer.join()
        verifier.close()


def _start_delivery(
    settings: Settings, verifier: "Verifier", metrics: "EventMetrics", stop: threading.Event
) -> None:
    """The events delivery worker, as a daemon thread that ends when `stop` is set; none
    without a channel."""
    from baoling.verifier.channel_setup import delivery

    worker = delivery(settings, verifier.outbox, metrics)
    if worker is None:
        return
    threading.Thread(target=worker.run, args=(stop,), name="events", daemon=True).start()
    if AuditChainBroken.name in verifier.outbox.types:
        args = (verifier, settings.events_audit_verify_seconds, stop)
        threading.Thread(target=_verify_audit, args=args, name="audit", daemon=True).start()


def _verify_audit(verifier: "Verifier", interval_s: float, stop: threading.Event) -> None:
    """Verify the audit chain every `interval_s` (events_audit_verify_seconds), so a broken
    chain is reported (audit.chain_broken) without waiting for an administrator to look."""
    while not stop.wait(interval_s):
        try:
            verifier.verify_audit()
        except VerifierError as exc:  # the store is away: try again next time
            logging.getLogger(__name__).warning("cannot verify the audit chain: %s", exc)


def _seal_audit(settings: Settings, verifier: "Verifier", stop: threading.Event) -> None:
    """Chain the audit rows every node appended, every audit_seal_seconds (the node that gets
    the seal lock does it), and append the signed head to the anchors file every
    audit_anchor_seconds; once more when the server stops (docs/threat-model.md, "Audit
    tampering")."""
    anchors = settings.anchor_file
    next_anchor = time.monotonic()
    while True:
        stopping = stop.wait(settings.audit_seal_seconds)
        try:
            verifier.seal_audit(wait=stopping)
            if anchors is not None and (stopping or time.monotonic() >= next_anchor):
                verifier.anchor_audit(anchors)
                next_anchor = time.monotonic() + settings.audit_anchor_seconds
        except VerifierError as exc:  # the store is away: try again next time
            logging.getLogger(__name__).warning("cannot seal the audit trail: %s", exc)
        except OSError as exc:
            logging.getLogger(__name__).error("cannot append to %s: %s", anchors, exc.strerror)
        if stopping:
            return


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def _listening(protocol: str, host: str, port: int) -> Iterator[None]:
    """Turn a failure to bind (port taken, address not ours) into a one-line error."""
    try:
        yield
    except OSError as exc:
        raise ListenError(
            f"cannot listen on {protocol} {host}:{port}: {exc.strerror or exc}"
        ) from None


def listen_tcp(host: str, port: int) -> socket.socket:
    """A listening TCP socket made with protocol IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY
    only on such sockets' connections, and without it every keep-alive answer waits ~40 ms
    for a delayed ACK (Nagle)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(socket.SOMAXCONN)
    return sock
