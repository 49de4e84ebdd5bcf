"""RADIUS front end (RFC 2865 PAP): network gear and VPNs ask the same Verifier as HTTP.

User-Name names the token (directly, or through the configuration's user table); User-Password
is the code, or a static PIN followed by the code when the user has a PIN. The answer is
Access-Accept or Access-Reject, never why. Requests from clients not in the configuration are
dropped (pyrad does that before `HandleAuthPacket`), and so are requests whose
Message-Authenticator is wrong, or missing where the client is configured to require it.
Every reply carries a Message-Authenticator (pyrad adds it: the BlastRADIUS countermeasure,
CVE-2024-3596).
"""

import base64
import errno
import hashlib
import hmac
import logging
import os
import socket
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyrad import packet
from pyrad.dictionary import Dictionary
from pyrad.server import RemoteHost, Server, ServerPacketError

from baoling.verifier.errors import UnknownToken, VerifierError
from baoling.verifier.service import Verifier

DICTIONARY_PATH = Path(__file__).with_name("dictionary.radius")
DEFAULT_RADIUS_PORT = 1812
DEFAULT_RADIUS_HOST = "127.0.0.1"
# scrypt cost for PIN hashes: 16 MiB and about 50 ms per check on these machines.
PIN_SCRYPT_N = 2**14
PIN_SCRYPT_R = 8
PIN_SCRYPT_P = 1
PIN_SALT_BYTES = 16
# How long an answer is kept for a retransmitted request: longer than clients retry
# (radclient and most NASes: 3 tries, 3 to 5 s apart).
DUPLICATE_WINDOW_S = 30.0

log = logging.getLogger("baoling.radius")


class RadiusConfigError(VerifierError):
    """The RADIUS configuration file is missing, unreadable or has a bad setting, or its
    address and port cannot be listened on (taken by another program, not this host's)."""


@dataclass(frozen=True)
class Client:
    """A RADIUS client (a NAS or VPN gateway), known by its IP address."""

    address: str
    secret: bytes
    require_message_authenticator: bool = False


@dataclass(frozen=True)
class User:
    """A RADIUS user name's token, and the hash of its static PIN if it has one."""

    token: str
    pin_hash: str | None = None


@dataclass(frozen=True)
class RadiusConfig:
    host: str = DEFAULT_RADIUS_HOST
    port: int = DEFAULT_RADIUS_PORT
    clients: dict[str, Client] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    def user(self, name: str) -> User:
        """The configured user, or the token named like the user when there is no entry."""
        return self.users.get(name) or User(token=name)


# ------------------------------------------------------------------------------- PIN hashes


def hash_pin(pin: str) -> str:
    """`scrypt$N$r$p$salt$hash` (base64) of a PIN, for the configuration file."""
    if not pin:
        raise RadiusConfigError("the PIN is empty")
    salt = os.urandom(PIN_SALT_BYTES)
    digest = _scrypt(pin, salt, PIN_SCRYPT_N, PIN_SCRYPT_R, PIN_SCRYPT_P)
    fields = ["scrypt", str(PIN_SCRYPT_N), str(PIN_SCRYPT_R), str(PIN_SCRYPT_P)]
    return "$".join([*fields, _b64(salt), _b64(digest)])


def check_pin(pin: str, stored: str) -> bool:
    """Whether `pin` matches a `hash_pin` string, compared in constant time."""
    kind, n, r, p, salt, digest = stored.split("$")
    expected = base64.b64decode(digest)
    return hmac.compare_digest(
        _scrypt(pin, base64.b64decode(salt), int(n), int(r), int(p)), expected
    )


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=2**26, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _check_pin_hash_format(stored: str, where: str) -> None:
    parts = stored.split("$")
    ok = len(parts) == 6 and parts[0] == "scrypt" and all(p.isdigit() for p in parts[1:4])
    if not ok:
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
    _only(data, {"host", "port", "clients", "users"}, where)
    port = data.get("port", DEFAULT_RADIUS_PORT)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise RadiusConfigError(f"{where}: port must be a number from 0 to 65535")
    host = data.get("host", DEFAULT_RADIUS_HOST)
    if not isinstance(host, str):
        raise RadiusConfigError(f"{where}: host must be text")
    clients = {}
    for address, entry in _table(data, "clients", where).items():
        name = f"clients.{address!r}"
        _only(entry, {"secret", "require_message_authenticator"}, f"{where}: {name}")
        secret = entry.get("secret")
        if not isinstance(secret, str) or not secret:
            raise RadiusConfigError(f"{where}: {name}.secret must be non-empty text")
        require = entry.get("require_message_authenticator", False)
        if not isinstance(require, bool):
            raise RadiusConfigError(
                f"{where}: {name}.require_message_authenticator must be true or false"
            )
        clients[address] = Client(address, secret.encode(), require)
    users = {}
    for name, entry in _table(data, "users", where).items():
        _only(entry, {"token", "pin_hash"}, f"{where}: users.{name}")
        token, pin_hash = entry.get("token", name), entry.get("pin_hash")
        if not isinstance(token, str) or not token:
            raise RadiusConfigError(f"{where}: users.{name}.token must be non-empty text")
        if pin_hash is not None:
            if not isinstance(pin_hash, str):
                raise RadiusConfigError(f"{where}: users.{name}.pin_hash must be text")
            _check_pin_hash_format(pin_hash, f"{where}: users.{name}.pin_hash")
        users[name] = User(token, pin_hash)
    if not clients:
        raise RadiusConfigError(f"{where}: no [clients] entry, so every request would be dropped")
    return RadiusConfig(host=host, port=port, clients=clients, users=users)


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, dict[str, Any]]:
    table = data.get(key, {})
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise RadiusConfigError(f"{where}: [{key}] must hold one table per entry")
    return table


def _only(entry: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(entry) - known)
    if unknown:
        raise RadiusConfigError(f"{where}: unknown setting {unknown[0]!r}")


# ---------------------------------------------------------------------------------- decisions


def authenticate(verifier: Verifier, config: RadiusConfig, user_name: str, password: str) -> bool:
    """Accept or reject one PAP login: PIN (if the user has one), then the code."""
    user = config.user(user_name)
    try:
        digits = verifier.show(user.token)["digits"]
    except UnknownToken:
        return False
    if user.pin_hash is None:
        return verifier.validate(user.token, password)
    pin, code = password[:-digits], password[-digits:]
    if len(password) <= digits or not check_pin(pin, user.pin_hash):
        # A failed attempt like a wrong code, so guessing PINs runs into the lockout too.
        verifier.wrong_pin(user.token)
        return False
    return verifier.validate(user.token, code)


# ----------------------------------------------------------------------------------- server


class RadiusServer(Server):
    """pyrad's blocking server, answering Access-Requests with `authenticate`."""

    def __init__(self, verifier: Verifier, config: RadiusConfig) -> None:
        hosts = {
            address: RemoteHost(address, client.secret, address)
            for address, client in config.clients.items()
        }
        super().__init__(
            addresses=[config.host],
            authport=config.port,
            hosts=hosts,
            dict=Dictionary(str(DICTIONARY_PATH)),
            acct_enabled=False,
        )
        self.verifier, self.config = verifier, config
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

    def HandleAuthPacket(self, pkt: packet.AuthPacket) -> None:  # noqa: N802 (pyrad's name)
        client = self.config.clients.get(pkt.source[0])
        if client and client.require_message_authenticator and not pkt.message_authenticator:
            raise ServerPacketError("Access-Request without the required Message-Authenticator")
        # A client resends a request whose answer it lost (same id and authenticator): answer
        # it again, or the retransmitted code would now be a replay (RFC 5080 section 2.2.2).
        key = (pkt.source, pkt.id, pkt.authenticator)
        now = time.monotonic()
        while self._answered and next(iter(self._answered.values()))[0] <= now:
            del self._answered[next(iter(self._answered))]  # oldest first: dicts keep order
        if key in self._answered:
            pkt.fd.sendto(self._answered[key][1], pkt.source)
            return
        user_name = _text(pkt, "User-Name")
        try:
            password = pkt.PwDecrypt(pkt["User-Password"][0]) if "User-Password" in pkt else ""
            accepted = bool(user_name and password) and authenticate(
                self.verifier, self.config, user_name, password
            )
        except VerifierError as exc:
            raise ServerPacketError(f"verifier unavailable: {exc}") from None
        reply = self.CreateReplyPacket(pkt)  # an Access-Accept with a Message-Authenticator
        if not accepted:
            reply.code = packet.AccessReject
        raw = reply.ReplyPacket()
        self._answered[key] = (now + DUPLICATE_WINDOW_S, raw)
        pkt.fd.sendto(raw, pkt.source)
        shown = user_name if user_name.isprintable() else repr(user_name)  # no forged lines
        log.info(
            "RADIUS %s from %s: %s",
            shown or "(no User-Name)",
            pkt.source[0],
            "accept" if accepted else "reject",
        )


def _text(pkt: packet.AuthPacket, attribute: str) -> str:
    values = pkt.get(attribute) or [""]
    return values[0] if isinstance(values[0], str) else ""
