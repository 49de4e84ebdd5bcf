"""RADIUS front end (RFC 2865 PAP): network gear and VPNs ask the same Verifier as HTTP.

User-Name names a user (`alice`, `alice@corp`: the code is tried against the user's tokens,
verifier/logins.py) or, as before users existed, a token (directly, or through the
configuration's [users] table; `names_user` says which). User-Password is the code, or the
user's first factor (static PIN or directory password) followed by the code. The answer is
Access-Accept or Access-Reject, never why. A user with a PIN may instead log in in two rounds
(`respond`): the PIN alone, answered by an Access-Challenge with a State
(verifier/radius_challenge.py), then that State with the code.

A datagram is answered only once it is admitted (`RadiusServer._admit`): it comes from a
configured client (an address or network, the longest prefix wins), it is a well-formed
Access-Request (`check_packet`), and it carries a Message-Authenticator that verifies (the
Blast-RADIUS countermeasure, CVE-2024-3596; a client may be configured not to require one, which
is unsafe). Anything else is dropped without an answer and counted in
`baoling_radius_dropped_total` by reason. Every reply carries a Message-Authenticator as its
first attribute (RFC 3579 section 3.2): pyrad's `AuthPacket.CreateReply` asks for one and
`Packet.ReplyPacket` inserts it first and signs it before the Response Authenticator.
"""

import errno
import hashlib
import ipaddress
import logging
import socket
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from pyrad import packet
from pyrad.dictionary import Dictionary
from pyrad.server import Server

from baoling.verifier import audit
from baoling.verifier.doors import RADIUS, through
from baoling.verifier.errors import InvalidRequest, UnknownToken, UnknownUser, VerifierError
from baoling.verifier.radius_challenge import CHALLENGE_MESSAGE, DEFAULT_CHALLENGE_TIMEOUT_S
from baoling.verifier.service import Verifier
from baoling.verifier.slow_hash import check_secret, hash_secret, is_slow_hash
from baoling.verifier.user_pins import check_pin_text

DICTIONARY_PATH = Path(__file__).with_name("dictionary.radius")
DEFAULT_RADIUS_PORT = 1812
DEFAULT_RADIUS_HOST = "127.0.0.1"
# How long an answer is kept for a retransmitted request: longer than clients retry
# (radclient and most NASes: 3 tries, 3 to 5 s apart).
DUPLICATE_WINDOW_S = 30.0
# RFC 2865 section 3: a packet is 20 to 4096 octets; octets after its Length are padding.
HEADER_BYTES = 20
MAX_PACKET_BYTES = 4096
# Attributes an Access-Request may hold at most once (RFC 2865 section 5.44, RFC 2869 5.19).
SINGLE_ATTRIBUTES = {1: "User-Name", 2: "User-Password", 24: "State", 80: "Message-Authenticator"}
MESSAGE_AUTHENTICATOR = 80
USER_PASSWORD = 2
# The answers: the `result` label of baoling_radius_answers_total.
ACCEPT, REJECT, CHALLENGE = "accept", "reject", "challenge"
# Why a request is dropped: the `reason` label of baoling_radius_dropped_total.
DROP_REASONS = (
    "unknown_client",
    "malformed",
    "repeated_attribute",
    "not_access_request",
    "missing_message_authenticator",
    "bad_message_authenticator",
    "verifier_unavailable",
)

log = logging.getLogger("baoling.radius")


class RadiusConfigError(VerifierError):
    """The RADIUS configuration file is missing, unreadable or has a bad setting, or its
    address and port cannot be listened on (taken by another program, not this host's)."""


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Client:
    """A RADIUS client (a NAS or VPN gateway): its name in the configuration, the addresses its
    packets come from, its shared secret, and whether it must sign requests."""

    name: str
    network: IPNetwork
    secret: bytes
    require_message_authenticator: bool = True
    challenge: bool = False  # its users with a PIN log in in two rounds


@dataclass(frozen=True)
class User:
    """A RADIUS user name's token, the hash of its static PIN if it has one, and whether it
    logs in in two rounds (PIN, then code) from every client."""

    token: str
    pin_hash: str | None = None
    challenge: bool = False


@dataclass(frozen=True)
class RadiusConfig:
    host: str = DEFAULT_RADIUS_HOST
    port: int = DEFAULT_RADIUS_PORT
    clients: dict[str, Client] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    challenge_timeout_s: float = DEFAULT_CHALLENGE_TIMEOUT_S

    def client_for(self, address: str) -> Client | None:
        """The client whose network holds `address`, the longest prefix first; None for a
        stranger. An IPv4 client of a socket bound to '::' is looked up by its IPv4 address."""
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        holding = [c for c in self.clients.values() if ip in c.network]
        return max(holding, key=lambda c: c.network.prefixlen, default=None)

    def user(self, name: str) -> User:
        """The configured user, or the token named like the user when there is no entry."""
        return self.users.get(name) or User(token=name)


# ------------------------------------------------------------------------------- PIN hashes


def hash_pin(pin: str) -> str:
    """The slow hash of a PIN (verifier/slow_hash.py), for the configuration file; the PIN
    follows the rule of users' PINs (verifier/user_pins.py): it guards the same door."""
    try:
        return hash_secret(check_pin_text(pin))
    except InvalidRequest as exc:
        raise RadiusConfigError(str(exc)) from None


def _check_pin_hash_format(stored: str, where: str) -> None:
    if not is_slow_hash(stored):
        raise RadiusConfigError(f"{where} is not a hash made by 'baoling verifier radius-pin'")


# ---------------------------------------------------------------------------- configuration


def load_config(path: Path) -> RadiusConfig:
    """Read the TOML configuration (docs/verifier.md shows one); errors name the setting."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        message = f"cannot read the RADIUS configuration {path}: {exc.strerror}"
        raise RadiusConfigError(message) from None
    except tomllib.TOMLDecodeError as exc:
        raise RadiusConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(data, str(path))


def parse_config(data: dict[str, Any], where: str = "RADIUS configuration") -> RadiusConfig:
    """Build a RadiusConfig from parsed TOML, refusing any setting it does not know."""
    _only(data, {"host", "port", "clients", "users", "challenge_timeout_seconds"}, where)
    port = data.get("port", DEFAULT_RADIUS_PORT)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise RadiusConfigError(f"{where}: port must be a number from 0 to 65535")
    host = data.get("host", DEFAULT_RADIUS_HOST)
    if not isinstance(host, str):
        raise RadiusConfigError(f"{where}: host must be text")
    timeout = data.get("challenge_timeout_seconds", DEFAULT_CHALLENGE_TIMEOUT_S)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
        raise RadiusConfigError(f"{where}: challenge_timeout_seconds must be a positive number")
    clients: dict[str, Client] = {}
    for key, entry in _table(data, "clients", where).items():
        name = f"clients.{key!r}"
        known = {"secret", "address", "require_message_authenticator", "challenge"}
        _only(entry, known, f"{where}: {name}")
        secret = entry.get("secret")
        if not isinstance(secret, str) or not secret:
            raise RadiusConfigError(f"{where}: {name}.secret must be non-empty text")
        require = _flag(entry, "require_message_authenticator", True, f"{where}: {name}")
        challenge = _flag(entry, "challenge", False, f"{where}: {name}")
        network = _network(entry.get("address", key), f"{where}: {name}")
        for other in clients.values():
            if other.network == network:
                raise RadiusConfigError(
                    f"{where}: clients {other.name!r} and {key!r} both have the address {network}"
                )
        clients[key] = Client(key, network, secret.encode(), require, challenge)
    users = {}
    for name, entry in _table(data, "users", where).items():
        _only(entry, {"token", "pin_hash", "challenge"}, f"{where}: users.{name}")
        token, pin_hash = entry.get("token", name), entry.get("pin_hash")
        if not isinstance(token, str) or not token:
            raise RadiusConfigError(f"{where}: users.{name}.token must be non-empty text")
        if pin_hash is not None:
            if not isinstance(pin_hash, str):
                raise RadiusConfigError(f"{where}: users.{name}.pin_hash must be text")
            _check_pin_hash_format(pin_hash, f"{where}: users.{name}.pin_hash")
        challenge = _flag(entry, "challenge", False, f"{where}: users.{name}")
        if challenge and pin_hash is None:
            raise RadiusConfigError(
                f"{where}: users.{name}.challenge needs a pin_hash (the first round checks it)"
            )
        users[name] = User(token, pin_hash, challenge)
    if not clients:
        raise RadiusConfigError(f"{where}: no [clients] entry, so every request would be dropped")
    return RadiusConfig(
        host=host, port=port, clients=clients, users=users, challenge_timeout_s=float(timeout)
    )


def _flag(entry: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise RadiusConfigError(f"{where}.{key} must be true or false")
    return value


def _network(address: Any, where: str) -> IPNetwork:
    """An address (a /32 or /128) or a network, written without host bits."""
    try:
        if not isinstance(address, str):
            raise TypeError(address)
        return ipaddress.ip_network(address)
    except (TypeError, ValueError):
        raise RadiusConfigError(
            f"{where}: {address!r} is not an IP address or network (such as 10.0.0.1 or "
            "10.0.0.0/24; name the client by its address, or give it an address setting)"
        ) from None


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, dict[str, Any]]:
    table = data.get(key, {})
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise RadiusConfigError(f"{where}: [{key}] must hold one table per entry")
    return table


def _only(entry: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(entry) - known)
    if unknown:
        raise RadiusConfigError(f"{where}: unknown setting {unknown[0]!r}")


# -------------------------------------------------------------------------------- admission


class Dropped(Exception):
    """A request dropped without an answer; `reason` is one of DROP_REASONS."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(why)
        self.reason = reason


def check_packet(data: bytes) -> None:
    """Raise Dropped unless `data` is a well-formed RADIUS packet: a Length of 20 to 4096
    octets that the datagram holds, attributes that fill exactly that Length, none of
    SINGLE_ATTRIBUTES twice, a 16-octet Message-Authenticator and a User-Password of 16 to 128
    octets in blocks of 16 (RFC 2865 sections 3 and 5.2, RFC 2869 section 5.14).

    pyrad's decoder reads an attribute that runs past the end as a shorter one and keeps
    repeated attributes, so this runs first, on the raw bytes."""
    if len(data) < HEADER_BYTES:
        raise Dropped("malformed", f"{len(data)} octets, shorter than a RADIUS header")
    length = int.from_bytes(data[2:4], "big")
    if not HEADER_BYTES <= length <= MAX_PACKET_BYTES:
        raise Dropped("malformed", f"Length {length} is not from 20 to 4096")
    if len(data) < length:
        raise Dropped("malformed", f"truncated: Length {length}, {len(data)} octets arrived")
    seen: set[int] = set()
    at = HEADER_BYTES
    while at < length:
        kind = data[at]
        size = data[at + 1] if at + 1 < length else 0  # a header cut off has no length
        if size < 2 or at + size > length:
            raise Dropped("malformed", f"attribute {kind} at octet {at} has a bad length")
        value = size - 2
        if kind in seen and kind in SINGLE_ATTRIBUTES:
            raise Dropped("repeated_attribute", f"{SINGLE_ATTRIBUTES[kind]} more than once")
        if kind == MESSAGE_AUTHENTICATOR and value != 16:
            raise Dropped("malformed", f"Message-Authenticator of {value} octets, not 16")
        if kind == USER_PASSWORD and (value % 16 or not 16 <= value <= 128):
            raise Dropped("malformed", f"User-Password of {value} octets")
        seen.add(kind)
        at += size


class RadiusMetrics:
    """The RADIUS series, in the registry /metrics shows (the HTTP app's, since both run in
    one process); labels hold results and reasons, never user names or addresses."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.answers = Counter(
            "baoling_radius_answers",
            "Access-Requests answered, by answer (a retransmission answered again not counted).",
            ["result"],
            registry=registry,
        )
        self.dropped = Counter(
            "baoling_radius_dropped",
            "RADIUS datagrams dropped without an answer, by reason.",
            ["reason"],
            registry=registry,
        )
        for result in (ACCEPT, REJECT, CHALLENGE):
            self.answers.labels(result)
        for reason in DROP_REASONS:
            self.dropped.labels(reason)


# ---------------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Outcome:
    """The answer to one Access-Request: ACCEPT, REJECT, or CHALLENGE with its State; `note`
    says why for the log (never a password or code)."""

    result: str
    state: bytes | None = None
    note: str = ""


def respond(
    verifier: Verifier,
    config: RadiusConfig,
    client: Client,
    user_name: str,
    password: str,
    state: bytes | None,
    source: str | None = None,
) -> Outcome:
    """The answer to a request: the second round of a challenge when it carries a State, the
    first round for a user with a PIN whose entry or client asks for two rounds, else PAP.
    `source`, the NAS (`nas_address`), is what a login by user name is rate-limited by."""
    if not user_name or not password:
        return Outcome(REJECT, note="no User-Name or User-Password")
    if names_user(verifier, config, user_name):
        if state is not None:
            login = verifier.answer_challenge(
                state, user_name, password, door=client.name, source=source
            )
        else:
            login = verifier.login(
                user_name,
                password,
                door=client.name,
                two_rounds=client.challenge,
                timeout_s=config.challenge_timeout_s,
                source=source,
            )
        return Outcome(login.result, login.state, login.reason)
    if state is not None:
        return _second_round(verifier, config, client, user_name, password, state)
    user = config.user(user_name)
    if user.pin_hash is not None and (user.challenge or client.challenge):
        return _first_round(verifier, config, client, user_name, user, password)
    return Outcome(ACCEPT if authenticate(verifier, config, user_name, password) else REJECT)


def names_user(verifier: Verifier, config: RadiusConfig, user_name: str) -> bool:
    """Whether User-Name names a user (`alice`, `alice@corp`; docs/verifier.md, "Who
    User-Name names"): a name of the configuration's [users] table names that entry's token,
    as before users existed; otherwise a user of the store is that user, a token of that id
    is that token, and any other well-formed name is looked up as a user (a directory user not
    yet added, or nobody: rejected, with the reason in the audit trail)."""
    if user_name in config.users:
        return False
    try:
        verifier.show_user(user_name)
        return True
    except UnknownUser:
        pass
    except InvalidRequest:  # not a user name: only a token may be called that
        return False
    try:
        verifier.show(user_name)
        return False
    except UnknownToken:
        return True


def nas_address(pkt: packet.AuthPacket, trusted_proxies: Sequence[IPNetwork]) -> str:
    """The client address a request is rate-limited by (docs/users.md, "Abuse control"): the
    NAS that sent it, the datagram's source; for a request from a trusted proxy (such as a
    FreeRADIUS in front, radius_trusted_proxies), the NAS its NAS-IP-Address or
    NAS-IPv6-Address names. From anyone else those attributes are ignored."""
    sender = ipaddress.ip_address(pkt.source[0].split("%")[0])
    if isinstance(sender, ipaddress.IPv6Address) and sender.ipv4_mapped:
        sender = sender.ipv4_mapped
    if any(sender in network for network in trusted_proxies):
        for attribute in ("NAS-IP-Address", "NAS-IPv6-Address"):
            try:
                named = pkt.get(attribute)  # pyrad decodes it here
                if named:
                    return str(ipaddress.ip_address(named[0]))
            except ValueError:
                raise Dropped("malformed", f"{attribute} is not an address") from None
    return str(sender)


def check_password(user: User, password: str) -> bool:
    """The first round's factor for an entry of the [users] table: its static PIN. A user
    of the store has its own (verifier/logins.py: its PIN, or its directory password)."""
    return user.pin_hash is not None and check_secret(password, user.pin_hash)


def _first_round(
    verifier: Verifier,
    config: RadiusConfig,
    client: Client,
    user_name: str,
    user: User,
    password: str,
) -> Outcome:
    """A right password earns a challenge; a wrong one never does and counts as a failed
    attempt, as a wrong PIN does in one round. A locked or disabled token gets no challenge
    either, whatever the password (so the answer says nothing about it), and its password is
    not even hashed (`_refuses`)."""
    try:
        token = verifier.show(user.token)
    except UnknownToken:
        return Outcome(REJECT, note="no such token")
    if _refuses(token):
        return Outcome(REJECT, note="token locked or disabled")
    if not check_password(user, password):
        verifier.wrong_pin(user.token)
        return Outcome(REJECT, note="wrong password")
    state = verifier.issue_challenge(user_name, client.name, config.challenge_timeout_s)
    return Outcome(CHALLENGE, state)


def _second_round(
    verifier: Verifier,
    config: RadiusConfig,
    client: Client,
    user_name: str,
    code: str,
    state: bytes,
) -> Outcome:
    """The State is used up first, whatever follows; the code is checked only when the State
    was issued to this user and client and has not expired."""
    refused = verifier.redeem_challenge(state, user_name, client.name)
    if refused is not None:
        return Outcome(REJECT, note=f"State {refused}")
    try:
        accepted = verifier.validate(config.user(user_name).token, code)
    except UnknownToken:
        return Outcome(REJECT, note="no such token")
    return Outcome(ACCEPT if accepted else REJECT)


def _refuses(token: dict[str, Any]) -> bool:
    """A locked or disabled token refuses every code, so a front end need not check a PIN for
    it: RADIUS answers on one thread, and a PIN's slow hash per request (about 50 ms) would let
    a burst of wrong PINs for a locked token hold up every other login."""
    return not token["enabled"] or token["locked"]


def authenticate(verifier: Verifier, config: RadiusConfig, user_name: str, password: str) -> bool:
    """Accept or reject one PAP login: PIN (if the user has one), then the code."""
    user = config.user(user_name)
    try:
        token = verifier.show(user.token)
    except UnknownToken:
        return False
    digits = token["digits"]
    if user.pin_hash is None:
        return verifier.validate(user.token, password)
    pin, code = password[:-digits], password[-digits:]
    if _refuses(token):  # refused and audited as such by validate, the PIN not hashed
        return verifier.validate(user.token, code)
    if len(password) <= digits or not check_secret(pin, user.pin_hash):
        # A failed attempt like a wrong code, so guessing PINs runs into the lockout too.
        verifier.wrong_pin(user.token)
        return False
    return verifier.validate(user.token, code)


# ----------------------------------------------------------------------------------- server


class RadiusServer(Server):
    """pyrad's blocking server, admitting datagrams with `_admit` and answering Access-Requests
    with `authenticate`; its counters go into `registry`."""

    def __init__(
        self,
        verifier: Verifier,
        config: RadiusConfig,
        registry: CollectorRegistry,
        trusted_proxies: Sequence[IPNetwork] = (),
    ) -> None:
        super().__init__(
            addresses=[config.host],
            authport=config.port,
            dict=Dictionary(str(DICTIONARY_PATH)),
            acct_enabled=False,
        )
        self.verifier, self.config = verifier, config
        self.trusted_proxies = tuple(trusted_proxies)  # whose NAS-IP-Address names the NAS
        self.metrics = RadiusMetrics(registry)
        for client in config.clients.values():
            if not client.require_message_authenticator:
                log.warning(
                    "RADIUS client %s accepts Access-Requests without Message-Authenticator: "
                    "unsafe, open to Blast-RADIUS (CVE-2024-3596)",
                    client.name,
                )
        # (client address, id, request authenticator) -> (expiry, raw reply)
        self._answered: dict[tuple, tuple[float, bytes]] = {}

    def BindToAddress(self, addr: str) -> None:  # noqa: N802 (pyrad's name)
        """Bind the authentication socket(s) of `addr` without SO_REUSEADDR, which pyrad sets:
        with it a second server on the same port starts silently and the two share or steal
        each other's requests. Without it the second one fails here, with a clear error."""
        port = self.authport
        try:
            found = socket.getaddrinfo(addr, port, type=socket.SOCK_DGRAM)
            for family, kind, proto, _, address in dict.fromkeys(found):
                sock = socket.socket(family, kind, proto)
                self.authfds.append(sock)
                sock.bind(address)
        except OSError as exc:
            for sock in self.authfds:
                sock.close()
            reason = exc.strerror or str(exc)
            if exc.errno == errno.EADDRINUSE:
                reason = "the port is already in use (is another RADIUS server running?)"
            raise RadiusConfigError(f"cannot listen on udp {addr}:{port}: {reason}") from None

    @property
    def port(self) -> int:
        """The UDP port really bound (the configuration may say 0: any free port)."""
        return self.authfds[0].getsockname()[1]

    def _ProcessInput(self, fd: socket.socket) -> None:  # noqa: N802 (pyrad's name)
        """Read one datagram (pyrad's `Run` calls this whenever one waits) and answer it, or
        count and log why it is dropped. It replaces pyrad's own admission, which neither
        counts drops nor checks a packet's structure before decoding it."""
        data, source = fd.recvfrom(self.MaxPacketSize)
        try:
            self.HandleAuthPacket(self._admit(data, source, fd))
        except Dropped as drop:
            self.metrics.dropped.labels(drop.reason).inc()
            log.info("RADIUS datagram from %s dropped: %s", source[0], drop)

    def _admit(self, data: bytes, source: tuple, fd: socket.socket) -> packet.AuthPacket:
        """The decoded Access-Request, if a client sent it well-formed and signed."""
        client = self.config.client_for(source[0])
        if client is None:
            raise Dropped("unknown_client", "not from a configured client")
        check_packet(data)
        if data[0] != packet.AccessRequest:
            raise Dropped("not_access_request", f"code {data[0]} is not Access-Request")
        try:
            pkt = packet.AuthPacket(secret=client.secret, dict=self.dict, packet=data)
        except Exception as exc:  # untrusted bytes: any decoding failure is a bad packet
            raise Dropped("malformed", f"undecodable ({type(exc).__name__})") from None
        pkt.source, pkt.fd = source, fd
        if not pkt.message_authenticator:
            if client.require_message_authenticator:
                raise Dropped("missing_message_authenticator", "no Message-Authenticator")
        elif not pkt.verify_message_authenticator():
            raise Dropped(
                "bad_message_authenticator",
                f"wrong Message-Authenticator (is client {client.name}'s secret the same?)",
            )
        return pkt

    def HandleAuthPacket(self, pkt: packet.AuthPacket) -> None:  # noqa: N802 (pyrad's name)
        # A client resends a request whose answer it lost (same id and authenticator): answer
        # it again, or the retransmitted code would now be a replay (RFC 5080 section 2.2.2).
        key = (pkt.source, pkt.id, pkt.authenticator)
        now = time.monotonic()
        while self._answered and next(iter(self._answered.values()))[0] <= now:
            del self._answered[next(iter(self._answered))]  # oldest first: dicts keep order
        if key in self._answered:
            pkt.fd.sendto(self._answered[key][1], pkt.source)
            return
        client = self.config.client_for(pkt.source[0])
        assert client is not None  # _admit drops datagrams of no client
        user_name = _text(pkt, "User-Name")
        state = pkt["State"][0] if "State" in pkt else None
        try:
            password = _password(pkt, client.name)
            source = nas_address(pkt, self.trusted_proxies)
            with (
                audit.origin(radius_client=client.name, radius_user=user_name),
                through(RADIUS, client.name, source),
            ):
                outcome = respond(
                    self.verifier, self.config, client, user_name, password, state, source
                )
        except VerifierError as exc:
            raise Dropped("verifier_unavailable", f"verifier unavailable: {exc}") from None
        reply = self.CreateReplyPacket(pkt)  # an Access-Accept with a Message-Authenticator
        if outcome.result == REJECT:
            reply.code = packet.AccessReject
        elif outcome.result == CHALLENGE:
            reply.code = packet.AccessChallenge
            reply.AddAttribute("State", outcome.state)
            reply.AddAttribute("Reply-Message", CHALLENGE_MESSAGE)
        raw = reply.ReplyPacket()
        self.metrics.answers.labels(outcome.result).inc()
        self._answered[key] = (now + DUPLICATE_WINDOW_S, raw)
        pkt.fd.sendto(raw, pkt.source)
        shown = user_name if user_name.isprintable() else repr(user_name)  # no forged lines
        log.info(
            "RADIUS %s from %s: %s%s",
            shown or "(no User-Name)",
            pkt.source[0],
            outcome.result,
            f" ({outcome.note})" if outcome.note else "",
        )


def _password(pkt: packet.AuthPacket, client: str) -> str:
    """The User-Password in clear ("" without one), which must be UTF-8 text.

    Unhidden here (RFC 2865 section 5.2) rather than by pyrad's PwDecrypt, which drops every
    byte that is not UTF-8: a client whose shared secret is wrong, and that sends no
    Message-Authenticator to show it, would then have its garbage tried as a code and counted
    as the user's failure. It is dropped as malformed instead."""
    if "User-Password" not in pkt:
        return ""
    hidden = pkt["User-Password"][0]  # octets in blocks of 16: check_packet saw to it
    clear, last = bytearray(), pkt.authenticator
    for at in range(0, len(hidden), 16):
        block = hidden[at : at + 16]
        pad = hashlib.md5(pkt.secret + last).digest()
        clear += bytes(a ^ b for a, b in zip(block, pad, strict=True))
        last = block
    try:
        return clear.rstrip(b"\0").decode()
    except UnicodeDecodeError:
        raise Dropped(
            "malformed", f"User-Password is not UTF-8 (is client {client}'s secret the same?)"
        ) from None


def _text(pkt: packet.AuthPacket, attribute: str) -> str:
    values = pkt.get(attribute) or [""]
    return values[0] if isinstance(values[0], str) else ""
