"""The e-mail, SMS and syslog channels against real receivers this test starts on 127.0.0.1
(docs/events.md, "Channels"): a real SMTP server (aiosmtpd, STARTTLS and AUTH required), a
small HTTP SMS gateway, a UDP and a TCP syslog listener whose lines are parsed as RFC 5424.
Subscriptions route per event type and realm, messages come in the subscriber's language, a
storm is held to the rate limit with every held message counted, and configuration errors are
one line naming the setting."""

import asyncio
import base64
import email
import email.policy
import json
import os
import re
import socket
import socketserver
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier import doors, store
from baoling.verifier import settings as verifier_settings
from baoling.verifier.channel_setup import channels, delivery
from baoling.verifier.channels import Channels, Recipient
from baoling.verifier.channels_config import EventsConfig, load
from baoling.verifier.delivery import Delivery
from baoling.verifier.engine import Policy
from baoling.verifier.events import EVENT_TYPES
from baoling.verifier.http import create_app
from baoling.verifier.outbox import Due
from baoling.verifier.service import Verifier
from tests.fixtures_ldap import _free_port, _write_certificates

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SMTP_USER, SMTP_PASSWORD = "baoling", "smtp-password-" + os.urandom(6).hex()
SMS_KEY = "gateway-key-" + os.urandom(6).hex()
ALL_TYPES = frozenset(EVENT_TYPES)


@dataclass
class Mail:
    to: list[str]
    message: email.message.EmailMessage
    tls: bool
    authenticated: bool


@dataclass
class SmtpServer:
    port: int
    ca_file: Path
    got: list[Mail] = field(default_factory=list)
    delay_s: float = 0.0  # how long the server takes to answer a message's DATA
    refused: set[str] = field(default_factory=set)  # mailboxes it answers 550 for

    def subjects(self, to: str) -> list[str]:
        return [m.message["Subject"] for m in self.got if to in m.to]


@pytest.fixture
def smtp(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1 that takes mail only after STARTTLS and a login; with SMTPUTF8
    (RFC 6531: non-ASCII addresses) unless a test's indirect parameter is False."""
    certs = tmp_path / "certs"
    certs.mkdir()
    _write_certificates(certs)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs / "server.pem", certs / "server.key")
    server = SmtpServer(_free_port(), certs / "ca.pem")

    class Handler:
        async def handle_RCPT(  # noqa: N802 (aiosmtpd's name)
            self, smtp: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            if address in server.refused:
                return "550 5.1.1 no such mailbox"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            message = email.message_from_bytes(
                envelope.original_content, policy=email.policy.default
            )
            await asyncio.sleep(server.delay_s)
            server.got.append(
                Mail(envelope.rcpt_tos, message, session.ssl is not None, session.authenticated)
            )
            return "250 OK"

    def authenticator(smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        # handled=False: aiosmtpd answers a refused login with 535 (handled=True, the default,
        # would say the authenticator answered, and the client would wait for an answer)
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=server.port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
        enable_SMTPUTF8=getattr(request, "param", True),
    )
    controller.start()
    yield server
    controller.stop()


@dataclass
class Gateway:
    url: str
    got: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """An SMS gateway on 127.0.0.1 that records each JSON request."""
    state = Gateway("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.got.append((headers, json.loads(body)))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/send"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class SyslogListener:
    port: int
    lines: list[bytes] = field(default_factory=list)


@pytest.fixture
def syslog_udp() -> Iterator[SyslogListener]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    listener = SyslogListener(sock.getsockname()[1])

    def receive() -> None:
        while True:
            try:
                data, _ = sock.recvfrom(65535)
            except OSError:
                return
            listener.lines.append(data)

    threading.Thread(target=receive, daemon=True).start()
    yield listener
    sock.close()


@pytest.fixture
def syslog_tcp() -> Iterator[SyslogListener]:
    """A TCP collector reading octet-counted frames (RFC 6587: LENGTH SP MESSAGE)."""
    listener = SyslogListener(0)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while True:
                length = b""
                while (char := self.rfile.read(1)) not in (b" ", b""):
                    length += char
                if not length:
                    return
                listener.lines.append(self.rfile.read(int(length)))

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    listener.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield listener
    server.shutdown()
    server.server_close()


# RFC 5424, section 6 (the ABNF), as a regular expression.
RFC5424 = re.compile(
    rb"<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) "
    rb"(?P<timestamp>-|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})) "
    rb"(?P<hostname>[!-~]{1,255}) (?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) "
    rb"(?P<msgid>[!-~]{1,32}) "
    rb"(?P<sd>-|(?:\[[!#-<>-\\^-~]{1,32}(?: [!#-<>-\\^-~]{1,32}=\"(?:[^\"\\\]]|\\.)*\")*\])+)"
    rb"(?: (?P<msg>.*))?",
    re.S,
)
SD_PARAM = re.compile(r'([!#-<>-\\^-~]{1,32})="((?:[^"\\\]]|\\.)*)"')


def parse_syslog(line: bytes) -> dict[str, Any]:
    """One RFC 5424 message: its header fields, structured data params and MSG."""
    match = RFC5424.fullmatch(line)
    assert match is not None, line
    sd = match["sd"].decode()
    params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in SD_PARAM.findall(sd)}
    msg = match["msg"] or b""
    assert msg.startswith(b"\xef\xbb\xbf"), "a UTF-8 MSG starts with the BOM (RFC 5424, 6.4)"
    return {
        "pri": int(match["pri"]),
        "version": int(match["version"]),
        "timestamp": match["timestamp"].decode(),
        "app": match["app"].decode(),
        "msgid": match["msgid"].decode(),
        "sd_id": sd[1:].split(" ", 1)[0].rstrip("]"),
        "params": params,
        "msg": json.loads(msg[3:].decode()),
    }


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def smtp_table(server: SmtpServer, tmp_path: Path) -> str:
    password = tmp_path / "smtp.password"
    password.write_text(SMTP_PASSWORD + "\n")
    return f"""
[smtp]
host = "127.0.0.1"
port = {server.port}
security = "starttls"
ca_file = "{server.ca_file}"
username = "{SMTP_USER}"
password_file = "{password}"
sender = "Baoling <baoling@example.com>"
timeout_seconds = 5
"""


def setup(tmp_path: Path, config: str, **more: Any) -> tuple[Verifier, Delivery]:
    """A verifier whose settings read this events file, and its delivery worker."""
    path = write_config(tmp_path / "events.toml", config)
    given = {"data_dir": tmp_path / "data", "events_config": path, **more}
    settings = verifier_settings.load(given)
    v = Verifier(
        data_dir=tmp_path / "data",
        event_types=settings.event_types(),
        per_user_types=settings.per_user_types(),
        policy=Policy(lockout_after_fails=2),
    )
    worker = delivery(settings, v.outbox)
    assert worker is not None
    return v, worker


def deliver_all(worker: Delivery, v: Verifier, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while v.list_events("pending"):
        assert time.monotonic() < deadline, v.list_events("pending")
        if worker.run_once() == 0:
            time.sleep(0.05)


def wrong(code: str, n: int = 1) -> str:
    return str((int(code[0]) + n) % 10) + code[1:]


def lock(v: Verifier, token: str) -> str:
    """Two wrong codes (the lockout is 2 here) and return the right one, never used."""
    code = pyotp.TOTP(SECRET).now()
    v.validate(token, wrong(code, 1))
    v.validate(token, wrong(code, 2))
    return code


def test_email_reaches_the_user_in_chinese_and_the_operators_in_english(tmp_path, smtp):
    config = (
        smtp_table(smtp, tmp_path)
        + """
[[subscriptions]]
channel = "email"
events = ["token.locked"]
realms = ["bank.example"]
to = "user"
language = "zh-CN"

[[subscriptions]]
channel = "email"
events = ["token.locked", "token.enrolled"]
to = ["ops@example.com", "soc@example.com"]
"""
    )
    v, worker = setup(tmp_path, config)
    try:
        v.add_user("alice@bank.example", email="alice@bank.example")
        v.add_user("bob@other.example", email="bob@other.example")
        for token, user in (("TK-A", "alice@bank.example"), ("TK-B", "bob@other.example")):
            v.enrol(token, base64.b32decode(SECRET))
            v.assign(token, user, override=True)
        codes = [lock(v, "TK-A"), lock(v, "TK-B")]
        deliver_all(worker, v)
        locked = [e for e in v.list_events() if e["type"] == "token.locked"]
    finally:
        v.close()
    assert smtp.subjects("alice@bank.example") == ["令牌 TK-A 已被锁定"]
    assert smtp.subjects("bob@other.example") == []  # not in the subscribed realm
    for ops in ("ops@example.com", "soc@example.com"):
        assert sorted(smtp.subjects(ops)) == sorted(
            ["Token TK-A was enrolled", "Token TK-B was enrolled"]
            + ["Token TK-A is locked", "Token TK-B is locked"]
        )
    (alice,) = [m for m in smtp.got if m.to == ["alice@bank.example"]]
    body = alice.message.get_content()
    assert "令牌 TK-A 因连续 2 次错误验证码被锁定" in body
    assert alice.message["Content-Language"] == "zh-CN"
    assert alice.message["From"] == "Baoling <baoling@example.com>"
    event_a = next(e for e in locked if e["event"]["data"]["token"] == "TK-A")
    assert alice.message["Message-ID"].startswith(f"<{event_a['id']}.")
    assert event_a["done"] == [
        "email:alice@bank.example",
        "email:ops@example.com",
        "email:soc@example.com",
    ]
    assert all(m.tls and m.authenticated for m in smtp.got)
    for mail in smtp.got:
        text = mail.message.as_string()
        for value in (*codes, SECRET, SMTP_PASSWORD):
            assert value not in text


def test_sms_goes_through_the_gateway_template(tmp_path, gateway):
    key_file = tmp_path / "sms.key"
    key_file.write_text(SMS_KEY + "\n")
    config = f"""
[sms]
url = "{gateway.url}"
encoding = "json"
secret_file = "{key_file}"
params = {{ to = "${{to}}", message = "${{text}}" }}
headers = {{ Authorization = "Bearer ${{secret}}" }}

[[subscriptions]]
channel = "sms"
events = ["token.locked"]
to = "user"
language = "zh-CN"
"""
    v, worker = setup(tmp_path, config)
    try:
        v.add_user("alice", phone="+86 138 0000 0000")
        v.enrol("TK-A", base64.b32decode(SECRET))
        v.assign("TK-A", "alice", override=True)
        code = lock(v, "TK-A")
        deliver_all(worker, v)
    finally:
        v.close()
    ((headers, body),) = gateway.got
    assert headers["authorization"] == f"Bearer {SMS_KEY}"
    assert body["to"] == "+86 138 0000 0000"
    assert body["message"].startswith("令牌 TK-A 因连续 2 次错误验证码被锁定，解锁时间 ")
    assert code not in json.dumps(body)


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_syslog_lines_parse_as_rfc_5424(tmp_path, protocol, syslog_udp, syslog_tcp):
    listener = syslog_udp if protocol == "udp" else syslog_tcp
    config = f"""
[syslog]
host = "127.0.0.1"
port = {listener.port}
protocol = "{protocol}"
"""
    v, worker = setup(tmp_path, config)
    try:
        v.enrol("TK-A", base64.b32decode(SECRET))
        code = lock(v, "TK-A")
        deliver_all(worker, v)
        events = {e["type"]: e for e in v.list_events()}
    finally:
        v.close()
    deadline = time.monotonic() + 10
    while len(listener.lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    # One connection per message over TCP: the collector may read them in either order.
    parsed = {p["msgid"]: p for p in map(parse_syslog, listener.lines)}
    assert len(listener.lines) == 2 and sorted(parsed) == ["token.enrolled", "token.locked"]
    enrolled, locked = parsed["token.enrolled"], parsed["token.locked"]
    assert locked["version"] == 1
    assert locked["app"] == "baoling"
    # authpriv (10) and warning (4); the enrolment is a notice (5).
    assert (locked["pri"], enrolled["pri"]) == (10 * 8 + 4, 10 * 8 + 5)
    assert locked["sd_id"] == "baoling@32473"
    assert locked["params"]["id"] == events["token.locked"]["id"]
    assert locked["params"]["token"] == "TK-A"
    assert locked["params"]["fail_count"] == "2"
    assert locked["msg"] == events["token.locked"]["event"]
    for line in listener.lines:
        assert code.encode() not in line


def test_subscriptions_narrow_syslog_and_the_webhook_by_type_and_realm(tmp_path, syslog_udp):
    config = f"""
[syslog]
host = "127.0.0.1"
port = {syslog_udp.port}

[[subscriptions]]
channel = "syslog"
events = ["token.locked"]
realms = ["bank.example"]
"""
    v, worker = setup(tmp_path, config)
    try:
        v.add_user("alice@bank.example")
        for token in ("TK-A", "TK-B"):
            v.enrol(token, base64.b32decode(SECRET))
        v.assign("TK-A", "alice@bank.example", override=True)
        lock(v, "TK-A")
        lock(v, "TK-B")  # no user, so no realm: not taken
        assert {e["type"] for e in v.list_events()} == {"token.locked"}
        deliver_all(worker, v)
    finally:
        v.close()
    deadline = time.monotonic() + 10
    while not syslog_udp.lines and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert [parse_syslog(line)["params"]["token"] for line in syslog_udp.lines] == ["TK-A"]


def test_a_failing_channel_is_retried_alone(tmp_path, smtp, syslog_udp):
    """The syslog message went out; the mail server refused: the retry sends only the mail."""
    config = smtp_table(smtp, tmp_path).replace(f"port = {smtp.port}", f"port = {_free_port()}")
    config += f"""
[syslog]
host = "127.0.0.1"
port = {syslog_udp.port}

[[subscriptions]]
channel = "syslog"

[[subscriptions]]
channel = "email"
to = ["ops@example.com"]
"""
    v, worker = setup(tmp_path, config, events_retry_seconds=0.1)
    try:
        v.enrol("TK-A", base64.b32decode(SECRET))
        assert worker.run_once() == 1
        (pending,) = v.list_events("pending")
        assert pending["done"] == ["syslog"]
        assert pending["last_error"].startswith(
            "email:ops@example.com: cannot reach the mail server 127.0.0.1:"
        )
        time.sleep(0.2)
        assert worker.run_once() == 1
        (pending,) = v.list_events("pending")
        assert (pending["attempts"], pending["done"]) == (2, ["syslog"])
    finally:
        v.close()
    time.sleep(0.3)
    assert len(syslog_udp.lines) == 1


STORM = 1_000


def test_a_storm_of_alerts_yields_a_bounded_number_of_mails_with_counts(
    tmp_path, smtp, postgres_server
):
    """1,000 alerts for one operator within a minute (10,000 failures are a handful of alerts
    already at the source: tests/test_events.py): at most `messages` mails per window get
    through, and one summary per window counts the rest, so every alert is accounted for. The
    limit is counted in the store, one short transaction per message (PostgreSQL here)."""
    config = EventsConfig.model_validate(
        {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp.port,
                "ca_file": str(smtp.ca_file),
                "username": SMTP_USER,
                "password_file": str(write_config(tmp_path / "pw", SMTP_PASSWORD)),
                "sender": "baoling@example.com",
            },
            "subscriptions": [{"channel": "email", "to": ["ops@example.com"]}],
            "rate_limit": {"messages": 5, "window_seconds": 2},
        }
    )
    from baoling.verifier.email_channel import Mailer

    v = Verifier(postgres_server.create_database(), data_dir=tmp_path / "data")
    routes = Channels(
        config,
        unsubscribed=ALL_TYPES,
        contact=lambda realm, user: None,
        mailer=Mailer(config.smtp),
        limits=v.outbox,
    )
    started = time.monotonic()
    for n in range(STORM):
        event = {
            "id": f"evt_{n:032x}",
            "type": "validation.failed_burst",
            "version": 1,
            "time": time.time(),
            "data": {"token": f"TK{n}", "failures": 20, "window_start": time.time()},
        }
        done: set[str] = set()
        routes.send(Due(event["id"], json.dumps(event).encode(), None, None, frozenset()), done)
        assert done == {"email:ops@example.com"}  # sent or counted: never retried
    elapsed = time.monotonic() - started
    assert elapsed < 60
    time.sleep(2.1)
    summaries = routes.flush()
    v.close()
    windows = int(elapsed // 2) + 2
    mails = smtp.got
    singles = [m for m in mails if " wrong codes for token TK" in m.message["Subject"]]
    held = [m for m in mails if m.message["Subject"].endswith("more Baoling alerts")]
    assert len(singles) + len(held) == len(mails)
    assert len(singles) <= 5 * windows
    assert 1 <= len(held) == summaries <= windows
    counted = [int(m.message["Subject"].split()[0]) for m in held]
    assert len(singles) + sum(counted) == STORM
    for mail in held:
        count = mail.message["Subject"].split()[0]
        assert f"{count} × validation.failed_burst" in mail.message.get_content()
    assert Recipient("email", "ops@example.com").key == "email:ops@example.com"


def test_a_claimed_batch_is_counted_against_the_rate_limit_in_one_write_per_recipient(
    tmp_path, smtp
):
    """30 alerts for one operator in one claimed batch: one transaction counts all 30 against
    the rate limit (5 go, 25 are held for the summary), not one per message; each event is then
    finished in its own. The summary counts the 25."""
    config = smtp_table(smtp, tmp_path) + (
        "[rate_limit]\nmessages = 5\nwindow_seconds = 1\n"
        '[[subscriptions]]\nchannel = "email"\nto = ["ops@example.com"]\n'
        'events = ["token.enrolled"]\n'
    )
    v, worker = setup(tmp_path, config)
    try:
        for n in range(30):
            v.enrol(f"t{n:02d}")
        commits: list[object] = []

        def committed(conn: object) -> None:
            commits.append(conn)

        sqlalchemy.event.listen(v._store.engine, "commit", committed)
        assert worker.run_once() == 30
        sqlalchemy.event.remove(v._store.engine, "commit", committed)
        assert len(commits) == 1 + 1 + 30  # the claim, the batch's count, each event's finish
        assert v.outbox.count("delivered") == 30
        assert len(smtp.got) == 5
        time.sleep(1.1)  # the window ends
        routes = channels(
            verifier_settings.load(
                {"data_dir": tmp_path / "data", "events_config": tmp_path / "events.toml"}
            ),
            v.outbox,
        )
        assert routes is not None and routes.flush() == 1
    finally:
        v.close()
    assert smtp.got[-1].message["Subject"].startswith("25 ")
    assert "25 × token.enrolled" in smtp.got[-1].message.get_content()


FAILURES, TOKENS, BURST = 10_000, 100, 10


def test_10000_failures_in_a_minute_yield_alerts_bounded_by_the_rate_each_with_its_count(
    tmp_path, smtp
):
    """The issue's storm end to end: 10,000 wrong codes within a minute (100 tokens, 100 each,
    the verifier's clock given) become failed_burst events at 10, 20, 40 and 80 failures of each
    token (400 events, each with its count); the real delivery worker sends them to an operator
    at most `messages` mails per window, and one summary per window counts every alert held
    back. Nothing is lost: the mails and the summaries' counts add up to the events."""
    config = smtp_table(smtp, tmp_path) + (
        "[rate_limit]\nmessages = 5\nwindow_seconds = 2\n"
        '[[subscriptions]]\nchannel = "email"\nto = ["ops@example.com"]\n'
        'events = ["validation.failed_burst"]\n'
    )
    given = {
        "data_dir": tmp_path / "data",
        "events_config": write_config(tmp_path / "events.toml", config),
        "events_failed_burst": BURST,
        "events_failed_burst_seconds": 60,
    }
    settings = verifier_settings.load(given)
    v = Verifier(
        data_dir=tmp_path / "data",
        event_types=settings.event_types(),
        event_rules=settings.event_rules(),
        policy=Policy(lockout_after_fails=FAILURES),  # every failure counts towards a burst
    )
    try:
        tokens = [f"TK{n:03d}" for n in range(TOKENS)]
        for token in tokens:
            v.enrol(token, base64.b32decode(SECRET))
        code = pyotp.TOTP(SECRET).now()
        start = time.time()
        for n in range(FAILURES):  # 10,000 failures in 50 s of the verifier's clock
            assert not v.validate(tokens[n % TOKENS], wrong(code, 1 + n % 9), start + n * 0.005)
        events = v.outbox.count("pending")
        assert events == TOKENS * 4  # 10, 20, 40, 80 of each token
        worker = delivery(settings, v.outbox)
        assert worker is not None
        started = time.monotonic()
        deliver_all(worker, v, timeout_s=600)
        elapsed = time.monotonic() - started
        assert v.outbox.count("delivered") == events
        time.sleep(2.1)  # the last window ends: its summary is due
        routes = channels(settings, v.outbox)  # what the worker's idle rounds call
        assert routes is not None
        summaries = routes.flush()
    finally:
        v.close()
    windows = int(elapsed // 2) + 2
    singles = [m for m in smtp.got if " wrong codes for token TK" in m.message["Subject"]]
    held = [m for m in smtp.got if m.message["Subject"].endswith("more Baoling alerts")]
    assert len(singles) + len(held) == len(smtp.got)
    assert 1 <= len(singles) <= 5 * windows
    assert 1 <= len(held) == summaries <= windows
    for mail in singles:  # each alert says how many failures it reports
        assert int(mail.message["Subject"].split()[0]) in (10, 20, 40, 80)
    counted = [int(m.message["Subject"].split()[0]) for m in held]
    assert len(singles) + sum(counted) == events
    for mail, count in zip(held, counted, strict=True):
        assert f"{count} × validation.failed_burst" in mail.message.get_content()


def baoling(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", *args],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("BAOLING_")},
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            '[sms]\nurl = "ftp://sms.example.com/"\nparams = { to = "${to}" }\n',
            "{path}: sms.url: not an http:// or https:// URL",
        ),
        (
            '[sms]\nurl = "https://sms.example.com/"\nparams = { to = "${phone}" }\n',
            "{path}: sms: params.to: unknown placeholder phone "
            "(known: ${{to}}, ${{text}}, ${{secret}})",
        ),
        (
            '[templates."token.locked".en]\nsubject = "Locked ${tokn}"\ntext = "x"\n',
            "{path}: templates.token.locked.en.subject: unknown placeholder tokn "
            "(known: ${{id}}, ${{type}}, ${{time}}, ${{token}}, ${{fail_count}}, "
            "${{locked_until}})",
        ),
        (
            '[[subscriptions]]\nchannel = "email"\nto = ["ops@example.com"]\n',
            "{path}: subscriptions.0: channel 'email' needs a [smtp] table",
        ),
        (
            '[[subscriptions]]\nchannel = "syslog"\nevents = ["token.lost"]\n',
            "{path}: subscriptions.0.events: unknown event type 'token.lost' "
            "(docs/events.md lists them)",
        ),
        (
            '[syslog]\nhost = "127.0.0.1"\nprotocol = "sctp"\n',
            "{path}: syslog.protocol: Input should be 'udp' or 'tcp'",
        ),
    ],
)
def test_a_bad_events_file_stops_serve_with_one_line_naming_the_setting(tmp_path, config, message):
    path = write_config(tmp_path / "events.toml", config)
    proc = baoling(
        "verifier", "--data-dir", str(tmp_path / "d"), "serve", "--events-config", str(path)
    )
    assert (proc.returncode, proc.stderr) == (1, "Error: " + message.format(path=path) + "\n")


def test_a_login_without_tls_is_refused_so_the_password_never_travels_in_clear(tmp_path):
    """security = "none" is for a relay that takes mail without a login; with a username
    smtplib would send the password in clear to whoever answers on the path."""
    login = 'username = "baoling"\npassword_file = "/etc/baoling/smtp.password"\n'
    table = '[smtp]\nhost = "mail.example.com"\nsecurity = "none"\nsender = "b@example.com"\n'
    path = write_config(tmp_path / "events.toml", table + login)
    with pytest.raises(verifier_settings.SettingsError) as refused:
        load(path)
    assert str(refused.value) == (
        f"{path}: smtp: a username needs security starttls or tls (none sends its password "
        "in clear)"
    )
    assert load(write_config(tmp_path / "relay.toml", table)).smtp is not None


def test_events_test_sends_through_a_channel_or_names_the_setting_that_fails(
    tmp_path, smtp, syslog_udp
):
    good = write_config(
        tmp_path / "good.toml",
        smtp_table(smtp, tmp_path)
        + f'[syslog]\nhost = "127.0.0.1"\nport = {syslog_udp.port}\n'
        + '[[subscriptions]]\nchannel = "email"\nto = ["ops@example.com"]\n',
    )
    data = ["verifier", "--data-dir", str(tmp_path / "d"), "events", "test"]
    sent = baoling(*data, "email", "--language", "zh-CN", "--events-config", str(good))
    assert (sent.returncode, sent.stderr) == (
        0,
        "Sent a test message through email to ops@example.com.\n",
    )
    ((mail),) = smtp.got
    assert (mail.to, mail.message["Subject"]) == (["ops@example.com"], "Baoling 测试消息")
    to = baoling(*data, "email", "--to", "me@example.com", "--events-config", str(good))
    assert to.returncode == 0, to.stderr
    assert smtp.subjects("me@example.com") == ["Baoling test message"]
    logged = baoling(*data, "syslog", "--events-config", str(good))
    assert (logged.returncode, logged.stderr) == (
        0,
        f"Sent a test message through syslog to udp 127.0.0.1:{syslog_udp.port}.\n",
    )
    deadline = time.monotonic() + 10
    while not syslog_udp.lines and time.monotonic() < deadline:
        time.sleep(0.05)
    assert parse_syslog(syslog_udp.lines[0])["msgid"] == "channel.test"

    port = _free_port()
    refused = write_config(
        tmp_path / "refused.toml",
        smtp_table(smtp, tmp_path).replace(f"port = {smtp.port}", f"port = {port}"),
    )
    failed = baoling(*data, "email", "--to", "me@example.com", "--events-config", str(refused))
    assert (failed.returncode, failed.stderr) == (
        1,
        f"Error: {refused}: smtp: cannot reach the mail server 127.0.0.1:{port}: "
        "Connection refused\n",
    )
    wrong_password = write_config(tmp_path / "pw.toml", smtp_table(smtp, tmp_path))
    (tmp_path / "smtp.password").write_text("not-the-password\n")
    denied = baoling(
        *data, "email", "--to", "me@example.com", "--events-config", str(wrong_password)
    )
    assert (denied.returncode, denied.stderr) == (
        1,
        f"Error: {wrong_password}: smtp: the mail server refused the login (535)\n",
    )
    no_hook = baoling(*data, "webhook")
    assert (no_hook.returncode, no_hook.stderr) == (
        1,
        "Error: events_webhook_url is not set: there is no webhook to test\n",
    )
    no_sms = baoling(*data, "sms", "--events-config", str(good))
    assert (no_sms.returncode, no_sms.stderr) == (
        1,
        f"Error: {good}: there is no [sms] table to test\n",
    )


def test_two_nodes_share_the_rate_limit_and_a_held_summary_survives_kill_9(tmp_path, smtp):
    """The limit is counted in the store: two delivering nodes send `messages` mails per
    window between them (not each), and the count of those held back is kept there, so a
    node started after both were killed -9 sends the summary."""
    config = write_config(
        tmp_path / "events.toml",
        smtp_table(smtp, tmp_path)
        + """
[[subscriptions]]
channel = "email"
events = ["token.disabled"]
to = ["ops@example.com"]

[rate_limit]
messages = 2
window_seconds = 20
""",
    )
    data_dir = tmp_path / "data"
    v = Verifier(data_dir=data_dir, event_types=frozenset({"token.disabled"}))
    tokens = [f"t{n}" for n in range(12)]
    for token in tokens:
        v.enrol(token, base64.b32decode(SECRET))
    group, serve = ["--data-dir", str(data_dir)], ["--events-config", str(config)]
    nodes = [ServerProcess(group, serve), ServerProcess(group, serve)]
    try:
        for token in tokens:  # spread over a few polls, so both nodes claim some
            v.disable(token)
            time.sleep(0.3)
        deadline = time.monotonic() + 30
        while v.outbox.count("pending"):
            assert time.monotonic() < deadline, v.list_events("pending")
            time.sleep(0.1)
        for node in nodes:
            node.kill()
    finally:
        for node in nodes:
            node.stop()
    assert len(smtp.got) == 2, [m.message["Subject"] for m in smtp.got]
    with sqlite3.connect(data_dir / "verifier.sqlite3") as db:
        (held,) = db.execute("SELECT sum(count) FROM held_messages").fetchone()
    assert held == 10
    with ServerProcess(group, serve):  # sends the summary once the window is over
        deadline = time.monotonic() + 40
        while len(smtp.got) < 3:
            assert time.monotonic() < deadline, "no summary"
            time.sleep(0.2)
    v.close()
    summary = smtp.got[2].message
    assert summary["Subject"] == "10 more Baoling alerts"
    assert "10 × token.disabled" in summary.get_content()
    assert len(smtp.got) == 3


def test_a_user_who_opted_in_hears_of_each_accepted_code_and_others_do_not(tmp_path, smtp):
    """validation.accepted per user: set by Python, the CLI or HTTP; told through the
    subscription that messages the realm's users, though it lists only token.locked. A sign-in
    with a backup code (backup_code.used) is told the same way."""
    config = (
        smtp_table(smtp, tmp_path)
        + """
[[subscriptions]]
channel = "email"
events = ["token.locked"]
realms = ["bank.example"]
to = "user"
"""
    )
    v, worker = setup(tmp_path, config)
    try:
        users = ("alice@bank.example", "bob@bank.example", "carol@bank.example")
        for n, user in enumerate(users):
            v.add_user(user, email=user)
            v.enrol(f"TK-{n}", base64.b32decode(SECRET))
            v.assign(f"TK-{n}", user, override=True)
        assert v.set_notify_accepted("alice@bank.example", True)["notify_accepted"] is True
        cli = ["verifier", "--data-dir", str(tmp_path / "data"), "user", "notify-accepted"]
        done = baoling(*cli, "bob@bank.example", "--on")
        assert (done.returncode, done.stdout) == (
            0,
            "bob@bank.example will be told of each accepted code.\n",
        ), done.stderr
        done = baoling(*cli, "bob@bank.example", "--off")
        assert done.stdout == "bob@bank.example will not be told of each accepted code.\n"
        key = v.create_api_key("desk", ["helpdesk"])
        client = TestClient(create_app(v))
        auth = {"Authorization": f"Bearer {key}"}
        answer = client.post(
            "/v1/users/notify-accepted",
            json={"user": "carol@bank.example", "on": True},
            headers=auth,
        )
        assert (answer.status_code, answer.json()["notify_accepted"]) == (200, True)
        missing = client.post(
            "/v1/users/notify-accepted", json={"user": "dan@bank.example", "on": True}, headers=auth
        )
        assert missing.status_code == 404
        assert [v.show_user(user)["notify_accepted"] for user in users] == [True, False, True]
        code = pyotp.TOTP(SECRET).now()
        for n in range(3):
            assert v.validate(f"TK-{n}", code)
        used = []
        for user in ("alice@bank.example", "bob@bank.example"):
            backup, _ = v.issue_backup_codes(user, date.today() + timedelta(days=1), count=3)
            with doors.through(doors.RADIUS, "vpn", "10.1.2.3"):
                assert v.validate_user(user, backup[0])
            used.append(backup[0])
        deliver_all(worker, v)
    finally:
        v.close()
    got = sorted((m.to, m.message["Subject"]) for m in smtp.got)
    assert got == [
        (["alice@bank.example"], "A backup code of alice@bank.example was used"),
        (["alice@bank.example"], "Your token TK-0 was used"),
        (["carol@bank.example"], "Your token TK-2 was used"),
    ]
    (told,) = [m for m in smtp.got if "backup code" in m.message["Subject"]]
    assert "through radius vpn from 10.1.2.3; 2 unused codes are left" in told.message.get_content()
    assert all(code not in told.message.as_string() for code in used)


def test_an_event_no_channel_can_read_is_retried_with_backoff_and_holds_up_no_other(tmp_path, smtp):
    """A row of the outbox whose envelope lost its `data` (a damaged or hand-edited store) made
    the e-mail channel raise a KeyError, not DeliveryFailed: the worker dropped the whole batch,
    and the row, never counted as an attempt, was claimed again each lease for ever with the
    events behind it. It is now a failed attempt like another: retried with backoff, then dead,
    and the next event is delivered in the same round."""
    config = (
        smtp_table(smtp, tmp_path)
        + '[[subscriptions]]\nchannel = "email"\nevents = ["token.enrolled"]\n'
        + 'to = ["ops@example.com"]\n'
    )
    v, worker = setup(tmp_path, config, events_retry_seconds=0.1, events_max_age_seconds=1)
    try:
        now = time.time()
        damaged = {"id": "evt_" + "d" * 32, "type": "token.enrolled", "version": 1, "time": now}
        with v._store.write() as conn:
            store.insert_event(conn, damaged["id"], "token.enrolled", json.dumps(damaged), now)
        v.enrol("TK-A", base64.b32decode(SECRET))
        assert worker.run_once() == 2
        assert smtp.subjects("ops@example.com") == ["Token TK-A was enrolled"]
        (pending,) = v.list_events("pending")
        assert (pending["id"], pending["attempts"]) == (damaged["id"], 1)
        assert pending["last_error"] == "cannot send it: KeyError (the log has the details)"
        deadline = time.monotonic() + 20
        while v.list_events("pending"):
            assert time.monotonic() < deadline
            worker.run_once()
            time.sleep(0.05)
        (dead,) = v.list_events("dead")
        assert dead["id"] == damaged["id"]
    finally:
        v.close()


def test_an_event_written_before_a_field_was_added_is_mailed_with_a_dash_for_it(tmp_path, smtp):
    """Fields are only added within a version (docs/events.md), so an event still in the outbox
    when a node is upgraded may lack a field the new templates name: a validation.replay of a
    release before `door`, `client` and `source`. Its template raised KeyError and the message
    never went; the missing field now shows as a null one does."""
    config = (
        smtp_table(smtp, tmp_path)
        + '[[subscriptions]]\nchannel = "email"\nevents = ["validation.replay"]\n'
        + 'to = ["ops@example.com"]\n'
    )
    v, worker = setup(tmp_path, config)
    try:
        now = time.time()
        older = {
            "id": "evt_" + "0" * 32,
            "type": "validation.replay",
            "version": 1,
            "time": now,
            "data": {"token": "TK-A", "user": None},
        }
        with v._store.write() as conn:
            store.insert_event(conn, older["id"], older["type"], json.dumps(older), now)
        deliver_all(worker, v)
        (delivered,) = v.list_events("delivered")
    finally:
        v.close()
    assert delivered["done"] == ["email:ops@example.com"]
    (mail,) = smtp.got
    assert mail.message["Subject"] == "A code of token TK-A was used again"
    assert "was given again at " in mail.message.get_content()
    assert " UTC through - - from -. Someone may have seen it." in mail.message.get_content()


def lock_told_to_user_and_ops(tmp_path: Path, smtp: Any, user: str, email: str) -> dict:
    """Lock the token of `user`, whose directory e-mail is `email`, with the lock sent by e-mail
    to the user and to ops@example.com; the event, dead once every attempt is made. A
    directory's attributes are copied as they are (`user add` checks only an e-mail given to
    it), so the e-mail is written into the users table here, as `user refresh` would."""
    config = (
        smtp_table(smtp, tmp_path)
        + '[[subscriptions]]\nchannel = "email"\nevents = ["token.locked"]\nto = "user"\n'
        + '[[subscriptions]]\nchannel = "email"\nevents = ["token.locked"]\n'
        + 'to = ["ops@example.com"]\n'
    )
    v, worker = setup(tmp_path, config)
    try:
        v.add_user(user)
        with sqlite3.connect(tmp_path / "data" / "verifier.sqlite3") as db:
            db.execute("UPDATE users SET email = ?", (email,))
        v.enrol("TK-A", base64.b32decode(SECRET))
        v.assign("TK-A", user, override=True)
        lock(v, "TK-A")
        deliver_all(worker, v)
        (dead,) = v.list_events("dead")
    finally:
        v.close()
    return dead


def test_an_e_mail_goes_to_exactly_one_address_or_to_none(tmp_path, smtp):
    """A directory e-mail is printable text, so it may be two addresses: the lock of Alice's
    token went to Mallory too, through one entry of the rate limit and `done`. An address that
    is not one address is now refused for good, naming it, and nothing is sent to it; the
    others still get their message. `events test --to` with a line break was a ValueError
    traceback, and is one line; an events file with such an address stops at once."""
    alice = "alice@bank.example"
    dead = lock_told_to_user_and_ops(tmp_path, smtp, alice, f"{alice}, mallory@evil.example")
    assert [m.to for m in smtp.got] == [["ops@example.com"]]
    assert dead["done"] == ["email:ops@example.com"]
    assert dead["last_error"] == (
        "email:alice@bank.example, mallory@evil.example: "
        "'alice@bank.example, mallory@evil.example' is not one e-mail address"
    )

    data = ["verifier", "--data-dir", str(tmp_path / "d"), "events", "test", "email"]
    good = write_config(tmp_path / "good.toml", smtp_table(smtp, tmp_path))
    injected = "me@example.com\r\nBcc: mallory@evil.example"
    sent = baoling(*data, "--to", injected, "--events-config", str(good))
    assert (sent.returncode, sent.stderr) == (
        1,
        f"Error: {good}: smtp: {injected!r} is not one e-mail address\n",
    )
    assert len(smtp.got) == 1
    bad = write_config(
        tmp_path / "bad.toml",
        smtp_table(smtp, tmp_path)
        + '[[subscriptions]]\nchannel = "email"\nto = ["ops@example.com\\nBcc: x@evil.example"]\n',
    )
    refused = baoling(*data, "--events-config", str(bad))
    assert (refused.returncode, refused.stderr) == (
        1,
        f"Error: {bad}: subscriptions.0: 'ops@example.com\\nBcc: x@evil.example' is not one "
        "e-mail address\n",
    )


def test_a_refused_smtp_login_keeps_the_alerts_until_the_password_is_fixed(tmp_path, smtp):
    """A wrong SMTP password is a mistake in this node's settings, not a message the server
    will never take: its 535 made every alert dead at its first attempt, so that alerts were
    lost until each was replayed by hand. They now wait, retried, with a line that says the
    login was refused; once the password is fixed (and the node restarted) they go."""
    config = (
        smtp_table(smtp, tmp_path)
        + '[[subscriptions]]\nchannel = "email"\nevents = ["token.enrolled"]\n'
        + 'to = ["ops@example.com"]\n'
    )
    (tmp_path / "smtp.password").write_text("not-the-password\n")
    given = {
        "data_dir": tmp_path / "data",
        "events_config": write_config(tmp_path / "events.toml", config),
        "events_retry_seconds": 0.1,
    }
    v = Verifier(
        data_dir=tmp_path / "data", event_types=verifier_settings.load(given).event_types()
    )
    try:
        v.enrol("TK-A", base64.b32decode(SECRET))
        refused = delivery(verifier_settings.load(given), v.outbox)
        assert refused is not None and refused.run_once() == 1
        (pending,) = v.list_events("pending")
        assert (
            pending["last_error"]
            == "email:ops@example.com: the mail server refused the login (535)"
        )
        assert "not-the-password" not in json.dumps(pending)
        (tmp_path / "smtp.password").write_text(SMTP_PASSWORD + "\n")
        fixed = delivery(verifier_settings.load(given), v.outbox)
        assert fixed is not None
        time.sleep(0.2)
        deliver_all(fixed, v)
    finally:
        v.close()
    assert smtp.subjects("ops@example.com") == ["Token TK-A was enrolled"]


def test_a_slow_mail_server_never_makes_two_nodes_mail_one_address_twice(tmp_path, smtp):
    """An event for eight operators through a mail server that takes half a second a message
    outlived its claim (twice the slowest timeout and a second: 3 s here): a second node claimed
    it and mailed all eight again while the first was still at it. A node now starts no message
    once half its claim is gone; the rest go in a later attempt, each address mailed once."""
    smtp.delay_s = 0.5
    operators = [f"ops{n}@example.com" for n in range(8)]
    config = smtp_table(smtp, tmp_path).replace("timeout_seconds = 5", "timeout_seconds = 1")
    config += '[[subscriptions]]\nchannel = "email"\nevents = ["token.enrolled"]\n'
    config += f"to = {json.dumps(operators)}\n"
    v, first = setup(tmp_path, config, events_webhook_timeout_seconds=1, events_retry_seconds=0.1)
    second = delivery(
        verifier_settings.load(
            {
                "data_dir": tmp_path / "data",
                "events_config": tmp_path / "events.toml",
                "events_webhook_timeout_seconds": 1,
                "events_retry_seconds": 0.1,
            }
        ),
        v.outbox,
    )
    assert second is not None
    try:
        v.enrol("TK-A", base64.b32decode(SECRET))
        stop = threading.Event()
        workers = [threading.Thread(target=w.run, args=(stop,)) for w in (first, second)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 60
        while not v.list_events("delivered"):
            assert time.monotonic() < deadline, v.list_events()
            time.sleep(0.1)
        stop.set()
        for worker in workers:
            worker.join()
    finally:
        v.close()
    assert sorted(to for mail in smtp.got for to in mail.to) == operators


def test_a_summary_the_mail_server_refuses_for_good_is_dropped_not_retried_for_ever(tmp_path, smtp):
    """A storm for a mailbox that is gone: its first alert is refused (550) and dead, the rest
    are held for a summary, which the server refuses too. That summary stayed in the store and
    was tried again each time its claim ended (two minutes), for ever. It is now dropped, as its
    events are dead, with a warning in the log."""
    smtp.refused = {"gone@example.com"}
    config = smtp_table(smtp, tmp_path) + (
        '[[subscriptions]]\nchannel = "email"\nevents = ["token.disabled"]\n'
        'to = ["gone@example.com"]\n[rate_limit]\nmessages = 1\nwindow_seconds = 0.5\n'
    )
    v, worker = setup(tmp_path, config)
    try:
        for token in ("TK-A", "TK-B", "TK-C"):
            v.enrol(token, base64.b32decode(SECRET))
            v.disable(token)
        deliver_all(worker, v)
        assert len(v.list_events("dead")) == 1
        time.sleep(0.6)
        routes = channels(
            verifier_settings.load({"events_config": tmp_path / "events.toml"}), v.outbox
        )
        assert routes is not None and routes.flush() == 0
    finally:
        v.close()
    with sqlite3.connect(tmp_path / "data" / "verifier.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM held_messages").fetchone() == (0,)
    assert smtp.got == []


def test_a_summary_that_keeps_failing_is_dropped_when_its_events_would_be_dead(
    tmp_path, smtp, caplog
):
    """A mail server that stays away: the summary of a storm's held alerts was tried again each
    time its claim ended (two minutes), for ever. It is tried until its window is
    events_max_age_seconds old, as its events would be dead by then, and then dropped."""
    config = smtp_table(smtp, tmp_path) + (
        '[[subscriptions]]\nchannel = "email"\nevents = ["token.disabled"]\n'
        'to = ["ops@example.com"]\n[rate_limit]\nmessages = 1\nwindow_seconds = 0.5\n'
    )
    v, worker = setup(tmp_path, config)
    held = "SELECT count(*) FROM held_messages"
    try:
        for token in ("TK-A", "TK-B", "TK-C"):
            v.enrol(token, base64.b32decode(SECRET))
            v.disable(token)
        deliver_all(worker, v)
        assert len(smtp.got) == 1  # the first alert; two are held for the summary
        time.sleep(0.6)
        away = config.replace(f"port = {smtp.port}", f"port = {_free_port()}")
        given = {"events_config": write_config(tmp_path / "away.toml", away)}
        routes = channels(
            verifier_settings.load({**given, "events_max_age_seconds": 200}), v.outbox
        )
        assert routes is not None
        now = time.time()
        for later in (0, 121):  # each time the claim has ended: failed, kept for the next try
            assert routes.flush(now + later) == 0
            with sqlite3.connect(tmp_path / "data" / "verifier.sqlite3") as db:
                assert db.execute(held).fetchone() == (1,)
        assert routes.flush(now + 242) == 0
    finally:
        v.close()
    with sqlite3.connect(tmp_path / "data" / "verifier.sqlite3") as db:
        assert db.execute(held).fetchone() == (0,)
    assert "summary for email:ops@example.com not sent, given up" in caplog.text
    assert len(smtp.got) == 1


def test_an_sms_header_that_cannot_carry_the_text_is_refused_in_one_line(tmp_path, gateway):
    """A gateway header made of ${text}: an HTTP header is ASCII, and the Chinese text made
    httpx raise UnicodeEncodeError, never a DeliveryFailed, so each attempt failed as a bug
    until the event died. It is refused for good at once, naming the header and not its value
    (a header may hold ${secret})."""
    config = f"""
[sms]
url = "{gateway.url}"
params = {{ to = "${{to}}" }}
headers = {{ X-Text = "${{text}}" }}

[[subscriptions]]
channel = "sms"
events = ["token.locked"]
to = ["+86 138 0000 0000"]
language = "zh-CN"
"""
    v, worker = setup(tmp_path, config)
    try:
        v.enrol("TK-A", base64.b32decode(SECRET))
        lock(v, "TK-A")
        assert worker.run_once() == 1
        (dead,) = v.list_events("dead")
    finally:
        v.close()
    assert dead["last_error"] == (
        "sms:+86 138 0000 0000: the SMS gateway's header X-Text cannot carry this text "
        "(an HTTP header is ASCII)"
    )
    assert gateway.got == []


def test_an_event_retried_for_a_month_keeps_its_backoff(tmp_path):
    """With a maximum age of 90 days and a mail server down for a month, an event reaches 1,024
    failed attempts: the backoff's 2 ** attempts no longer fit a float, and the OverflowError
    left the event claimed, tried again each lease (21 s) with no backoff for the rest of its
    90 days. Its next attempt is now an hour away at most, as for any other."""
    config = f'[smtp]\nhost = "127.0.0.1"\nport = {_free_port()}\nsecurity = "none"\n'
    config += 'sender = "baoling@example.com"\n'
    config += '[[subscriptions]]\nchannel = "email"\nevents = ["token.enrolled"]\n'
    config += 'to = ["ops@example.com"]\n'
    v, worker = setup(tmp_path, config, events_max_age_seconds=90 * 86400)
    try:
        v.enrol("TK-A", base64.b32decode(SECRET))
        with sqlite3.connect(tmp_path / "data" / "verifier.sqlite3") as db:
            db.execute("UPDATE events SET attempts = 1100")  # a month of failed attempts
        before = time.time()
        assert worker.run_once() == 1
        (pending,) = v.list_events("pending")
    finally:
        v.close()
    assert pending["attempts"] == 1101
    with sqlite3.connect(tmp_path / "data" / "verifier.sqlite3") as db:
        ((due, claimed_by),) = db.execute("SELECT due, claimed_by FROM events").fetchall()
    assert claimed_by is None
    assert before + 1800 <= due <= time.time() + 3600


def test_a_line_break_in_a_field_never_reaches_a_mail_header(tmp_path, smtp):
    """A RADIUS client is named by its key in the RADIUS file, and a quoted TOML key may hold a
    line break; a subject template that names ${client} then made EmailMessage refuse the
    Subject (ValueError), and the alert was never sent. The subject is now one line, its line
    breaks spaces, so no field can add a header either."""
    config = (
        smtp_table(smtp, tmp_path)
        + '[[subscriptions]]\nchannel = "email"\nevents = ["validation.accepted"]\n'
        + 'to = ["ops@example.com"]\n'
        + '[templates."validation.accepted".en]\n'
        + 'subject = "${token} used through ${client}"\ntext = "From ${source}."\n'
    )
    v, worker = setup(tmp_path, config)
    try:
        v.enrol("TK-A", base64.b32decode(SECRET))
        with doors.through(doors.RADIUS, "vpn\r\nBcc: mallory@evil.example", "10.1.2.3"):
            assert v.validate("TK-A", pyotp.TOTP(SECRET).now())
        deliver_all(worker, v)
    finally:
        v.close()
    ((mail),) = smtp.got
    assert mail.to == ["ops@example.com"]
    assert mail.message["Subject"] == "TK-A used through vpn Bcc: mallory@evil.example"
    assert mail.message["Bcc"] is None


def test_a_sender_that_is_not_one_address_is_refused_when_the_file_is_read(tmp_path):
    """A sender with a line break (a TOML \\n) was taken, and every message then failed with a
    ValueError: `events test` showed its traceback, and alerts never went. It is refused in one
    line naming the key, before anything is sent."""
    config = write_config(
        tmp_path / "events.toml",
        '[smtp]\nhost = "127.0.0.1"\nsecurity = "none"\n'
        'sender = "Baoling <b@example.com>\\nBcc: x@evil.example"\n',
    )
    data = ["verifier", "--data-dir", str(tmp_path / "d"), "events", "test", "email"]
    refused = baoling(*data, "--to", "me@example.com", "--events-config", str(config))
    assert (refused.returncode, refused.stderr) == (
        1,
        f"Error: {config}: smtp.sender: 'Baoling <b@example.com>\\nBcc: x@evil.example' is not "
        "one e-mail address (with a display name or not)\n",
    )


@pytest.mark.parametrize("smtp", [False], indirect=True)  # a server without SMTPUTF8
def test_a_non_ascii_address_the_mail_server_cannot_take_is_refused_in_one_clear_line(
    tmp_path, smtp
):
    """张三@bank.example needs SMTPUTF8 (RFC 6531), which this server does not offer: smtplib's
    SMTPNotSupportedError read 'cannot reach the mail server', and the alert was retried until
    its maximum age though the server cannot ever take it. It is refused for good, saying why;
    the other recipient has the alert."""
    dead = lock_told_to_user_and_ops(tmp_path, smtp, "zhangsan@bank.example", "张三@bank.example")
    assert dead["last_error"] == (
        "email:张三@bank.example: the mail server does not take non-ASCII addresses (SMTPUTF8)"
    )
    assert [m.to for m in smtp.got] == [["ops@example.com"]]
