"""Blast-RADIUS (CVE-2024-3596) defences and bad datagrams, checked on the raw bytes.

Requests are built here from RFC 2865 and RFC 2869 (not with pyrad, which the server uses),
sent over UDP from 127.0.0.x addresses to `baoling verifier serve --radius`, and answers are
taken apart octet by octet; every drop must show in /metrics with its reason."""

import hashlib
import hmac
import itertools
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyotp
import pytest
from test_http_api import wrong_code
from test_radius_radclient import PIN, SECRET, SHARED_SECRET, enrol, radius_counts, start

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.radius import hash_pin

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 1, 2, 3, 11
USER_NAME, USER_PASSWORD, REPLY_MESSAGE, STATE = 1, 2, 18, 24
PROXY_STATE, MESSAGE_AUTHENTICATOR = 33, 80
CHALLENGED = "ma-challenged"  # logs in in two rounds: the PIN, then the code
MAIN = SHARED_SECRET.encode()
LEGACY = b"legacy shared secret"
LAB = b"lab shared secret"
CONFIG = f"""port = 0
[clients."127.0.0.1"]
secret = "{SHARED_SECRET}"

[clients.legacy]
address = "127.0.0.2"
secret = "{LEGACY.decode()}"
require_message_authenticator = false

[clients.lab]
address = "127.0.0.4/30"
secret = "{LAB.decode()}"

[users."{CHALLENGED}"]
pin_hash = "{hash_pin(PIN)}"
challenge = true
"""
STRANGER = "127.0.0.3"  # in no client's range
WAIT_S = 20  # for the drop counter to move on a loaded machine

Attribute = tuple[int, bytes]


# ------------------------------------------------------------------- RADIUS from the RFCs


def encode(attributes: list[Attribute]) -> bytes:
    return b"".join(bytes([kind, len(value) + 2]) + value for kind, value in attributes)


def hide(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """User-Password hiding, RFC 2865 section 5.2."""
    padded = password + bytes(-len(password) % 16)
    hidden, last = b"", authenticator
    for at in range(0, len(padded), 16):
        pad = hashlib.md5(secret + last).digest()
        last = bytes(a ^ b for a, b in zip(padded[at : at + 16], pad, strict=True))
        hidden += last
    return hidden


def access_request(
    secret: bytes, attributes: list[Attribute], *, sign: bool = True, code: int = ACCESS_REQUEST
) -> bytes:
    """A request with these attributes (a User-Password given in clear is hidden); with `sign`,
    a Message-Authenticator first (RFC 2869 section 5.14: HMAC-MD5 over the packet with the
    attribute's value zeroed)."""
    authenticator = os.urandom(16)
    shown = [
        (kind, hide(value, secret, authenticator) if kind == USER_PASSWORD else value)
        for kind, value in attributes
    ]
    if sign:
        shown.insert(0, (MESSAGE_AUTHENTICATOR, bytes(16)))
    body = encode(shown)
    header = struct.pack("!BBH", code, 42, 20 + len(body))
    if sign:
        mac = hmac.new(secret, header + authenticator + body, "md5").digest()
        body = encode([(MESSAGE_AUTHENTICATOR, mac)]) + body[18:]
    return header + authenticator + body


def login(user: str, code: str, *extra: Attribute) -> list[Attribute]:
    return [(USER_NAME, user.encode()), (USER_PASSWORD, code.encode()), *extra]


def attributes_of(raw: bytes) -> list[Attribute]:
    found, at = [], 20
    while at < len(raw):
        found.append((raw[at], raw[at + 2 : at + raw[at + 1]]))
        at += raw[at + 1]
    return found


def check_reply(reply: bytes, request: bytes, secret: bytes) -> list[Attribute]:
    """The reply's attributes, after checking that it answers `request` (Identifier, Response
    Authenticator, RFC 2865 section 3) and that its first attribute is a Message-Authenticator
    that verifies: HMAC-MD5 over the reply with the Request Authenticator in the authenticator
    field and the attribute's value zeroed (RFC 3579 section 3.2)."""
    request_authenticator = request[4:20]
    assert reply[1] == request[1]
    assert struct.unpack("!H", reply[2:4])[0] == len(reply)
    expected = hashlib.md5(reply[:4] + request_authenticator + reply[20:] + secret).digest()
    assert reply[4:20] == expected
    attributes = attributes_of(reply)
    assert attributes[0][0] == MESSAGE_AUTHENTICATOR
    assert len(attributes[0][1]) == 16
    zeroed = reply[:4] + request_authenticator + reply[20:22] + bytes(16) + reply[38:]
    assert attributes[0][1] == hmac.new(secret, zeroed, "md5").digest()
    return attributes


def exchange(port: int, raw: bytes, source: str = "127.0.0.1") -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(10)
        sock.sendto(raw, ("127.0.0.1", port))
        return sock.recv(4096)


def dropped_unanswered(server: ServerProcess, raw: bytes, source: str = "127.0.0.1") -> str:
    """Send `raw` and return the reason it was dropped for: the one drop counter that moved,
    by exactly one; no answer may come."""
    before = radius_counts(server, "baoling_radius_dropped")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.sendto(raw, ("127.0.0.1", server.radius_port))
        deadline = time.monotonic() + WAIT_S
        while (after := radius_counts(server, "baoling_radius_dropped")) == before:
            assert time.monotonic() < deadline, "the datagram was neither answered nor counted"
            time.sleep(0.1)
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(4096)
    moved = {
        reason: after[reason] - before[reason]
        for reason in after
        if after[reason] != before[reason]
    }
    assert list(moved.values()) == [1]
    return next(iter(moved))


# ---------------------------------------------------------------------------------- fixtures

_fresh_ids = itertools.count()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    data_dir = tmp_path_factory.mktemp("radius-ma") / "data"
    enrol(data_dir, CHALLENGED)
    with start(data_dir, CONFIG) as running:
        yield running, data_dir


@pytest.fixture
def server(shared) -> ServerProcess:
    return shared[0]


@pytest.fixture
def user(shared) -> str:
    token_id = f"ma-{next(_fresh_ids)}"
    enrol(shared[1], token_id)
    return token_id


@pytest.fixture
def totp() -> pyotp.TOTP:
    return pyotp.TOTP(SECRET)


# ------------------------------------------------------------------------------ the answers


def test_an_accept_carries_a_message_authenticator_first_and_it_verifies(server, user, totp):
    request = access_request(MAIN, login(user, totp.now()))
    reply = exchange(server.radius_port, request)
    assert reply[0] == ACCESS_ACCEPT
    assert [kind for kind, _ in check_reply(reply, request, MAIN)] == [MESSAGE_AUTHENTICATOR]


def test_a_reject_carries_a_message_authenticator_first_and_it_verifies(server, user, totp):
    request = access_request(MAIN, login(user, wrong_code(totp)))
    reply = exchange(server.radius_port, request)
    assert reply[0] == ACCESS_REJECT
    assert [kind for kind, _ in check_reply(reply, request, MAIN)] == [MESSAGE_AUTHENTICATOR]


def test_both_rounds_of_a_challenge_carry_a_message_authenticator_first_and_it_verifies(
    server, totp
):
    request = access_request(MAIN, login(CHALLENGED, PIN))
    reply = exchange(server.radius_port, request)
    assert reply[0] == ACCESS_CHALLENGE
    attributes = check_reply(reply, request, MAIN)
    assert [kind for kind, _ in attributes] == [MESSAGE_AUTHENTICATOR, STATE, REPLY_MESSAGE]
    assert attributes[2][1] == b"Enter the code shown on your token"
    state = attributes[1][1]
    request = access_request(MAIN, login(CHALLENGED, totp.now(), (STATE, state)))
    reply = exchange(server.radius_port, request)
    assert reply[0] == ACCESS_ACCEPT
    assert [kind for kind, _ in check_reply(reply, request, MAIN)] == [MESSAGE_AUTHENTICATOR]


def test_proxy_state_comes_back_after_the_message_authenticator(server, user, totp):
    request = access_request(MAIN, login(user, totp.now(), (PROXY_STATE, b"hop-1")))
    reply = exchange(server.radius_port, request)
    assert reply[0] == ACCESS_ACCEPT
    attributes = check_reply(reply, request, MAIN)
    assert attributes[1:] == [(PROXY_STATE, b"hop-1")]


def test_padding_after_the_length_is_ignored(server, user, totp):
    request = access_request(MAIN, login(user, totp.now()))
    reply = exchange(server.radius_port, request + bytes(7))  # RFC 2865 section 3
    assert reply[0] == ACCESS_ACCEPT
    check_reply(reply, request, MAIN)


# -------------------------------------------------------------------- Message-Authenticator


def test_a_request_without_message_authenticator_is_dropped(server, user, totp):
    request = access_request(MAIN, login(user, totp.now()), sign=False)
    assert dropped_unanswered(server, request) == "missing_message_authenticator"


def test_a_request_with_a_wrong_message_authenticator_is_dropped(server, user, totp):
    request = bytearray(access_request(MAIN, login(user, totp.now())))
    request[22] ^= 1  # the first octet of the Message-Authenticator's value
    assert dropped_unanswered(server, bytes(request)) == "bad_message_authenticator"


def test_a_request_altered_after_signing_is_dropped(server, user, totp):
    # What an attacker on the path does (Blast-RADIUS changes a request's attributes): here
    # the User-Name, the first octet after the Message-Authenticator's 18.
    request = bytearray(access_request(MAIN, login(user, totp.now())))
    request[20 + 18 + 2] ^= 0x20
    assert dropped_unanswered(server, bytes(request)) == "bad_message_authenticator"


def test_a_request_signed_with_another_clients_secret_is_dropped(server, user, totp):
    request = access_request(LAB, login(user, totp.now()))
    assert dropped_unanswered(server, request) == "bad_message_authenticator"


def test_an_opted_out_client_is_answered_without_one_and_its_answer_is_signed(server, user, totp):
    request = access_request(LEGACY, login(user, totp.now()), sign=False)
    reply = exchange(server.radius_port, request, source="127.0.0.2")
    assert reply[0] == ACCESS_ACCEPT
    check_reply(reply, request, LEGACY)


def test_an_opted_out_client_with_a_wrong_message_authenticator_is_dropped(server, user, totp):
    request = access_request(MAIN, login(user, totp.now()))  # signed with another secret
    assert dropped_unanswered(server, request, source="127.0.0.2") == "bad_message_authenticator"


# ----------------------------------------------------------------------------------- clients


@pytest.mark.parametrize("source", ["127.0.0.4", "127.0.0.7"])
def test_a_client_in_an_address_range_is_answered_with_its_own_secret(server, user, totp, source):
    request = access_request(LAB, login(user, totp.now()))
    reply = exchange(server.radius_port, request, source=source)
    assert reply[0] == ACCESS_ACCEPT
    check_reply(reply, request, LAB)


def test_a_request_from_an_address_of_no_client_is_dropped(server, user, totp):
    request = access_request(MAIN, login(user, totp.now()))
    assert dropped_unanswered(server, request, source=STRANGER) == "unknown_client"


# ------------------------------------------------------------------------- bad datagrams


def with_length(raw: bytes, length: int) -> bytes:
    return raw[:2] + struct.pack("!H", length) + raw[4:]


def appended(raw: bytes, tail: bytes) -> bytes:
    """`raw` with `tail` added inside its Length (after the signature: the structure is
    checked before the Message-Authenticator)."""
    return with_length(raw + tail, len(raw) + len(tail))


def signed(*extra: Attribute) -> bytes:
    return access_request(MAIN, login("alice", "123456", *extra))


def oversized() -> bytes:
    filler = [(PROXY_STATE, bytes(253))] * 17  # 17 * 255 octets
    raw = signed(*filler)
    assert len(raw) > 4096
    return raw


def password_of(octets: int) -> bytes:
    return appended(access_request(MAIN, [(USER_NAME, b"alice")]), encode([(2, bytes(octets))]))


BAD_DATAGRAMS: dict[str, tuple[Callable[[], bytes], str]] = {
    "shorter than a header": (lambda: signed()[:19], "malformed"),
    "cut short of its Length": (lambda: signed()[:-1], "malformed"),
    "Length below 20": (lambda: with_length(signed(), 19), "malformed"),
    "Length over 4096": (oversized, "malformed"),
    "an attribute past the Length": (lambda: with_length(signed(), len(signed()) - 1), "malformed"),
    "an attribute of length 0": (lambda: appended(signed(), b"\x1e\x00"), "malformed"),
    "an attribute of length 1": (lambda: appended(signed(), b"\x1e\x01"), "malformed"),
    "an attribute header cut off": (lambda: appended(signed(), b"\x1e"), "malformed"),
    "a Message-Authenticator of 15 octets": (
        lambda: access_request(
            MAIN, login("alice", "123456", (MESSAGE_AUTHENTICATOR, bytes(15))), sign=False
        ),
        "malformed",
    ),
    "a User-Password of 10 octets": (lambda: password_of(10), "malformed"),
    "a User-Password of 144 octets": (lambda: password_of(144), "malformed"),
    "a User-Password that is not UTF-8": (  # what a wrong shared secret yields
        lambda: access_request(MAIN, [(USER_NAME, b"alice"), (USER_PASSWORD, b"\xff123456")]),
        "malformed",
    ),
    "two User-Names": (lambda: signed((USER_NAME, b"bob")), "repeated_attribute"),
    "two User-Passwords": (lambda: signed((USER_PASSWORD, b"654321")), "repeated_attribute"),
    "two States": (lambda: signed((STATE, b"a"), (STATE, b"b")), "repeated_attribute"),
    "two Message-Authenticators": (
        lambda: signed((MESSAGE_AUTHENTICATOR, bytes(16))),
        "repeated_attribute",
    ),
    "an Access-Accept": (
        lambda: access_request(MAIN, login("alice", "123456"), code=ACCESS_ACCEPT),
        "not_access_request",
    ),
}


@pytest.mark.parametrize(("make", "reason"), BAD_DATAGRAMS.values(), ids=BAD_DATAGRAMS.keys())
def test_a_bad_datagram_is_dropped_unanswered_and_counted(
    server: ServerProcess, make: Callable[[], bytes], reason: str
) -> None:
    assert dropped_unanswered(server, make()) == reason


def test_the_server_still_answers_after_bad_datagrams(server, user, totp):
    for make, _ in BAD_DATAGRAMS.values():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(make(), ("127.0.0.1", server.radius_port))
    request = access_request(MAIN, login(user, totp.now()))
    assert exchange(server.radius_port, request)[0] == ACCESS_ACCEPT
