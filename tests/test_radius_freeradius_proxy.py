"""FreeRADIUS 3 in front of the verifier (docs/integrations/freeradius.md), for real: a
`freeradius` server (Debian package freeradius) started here on 127.0.0.1 with a
configuration folder of its own, proxying the realm otp.example.com to
`baoling verifier serve --radius`; FreeRADIUS's `radclient` plays the NAS.

FreeRADIUS's home server, pool, realm and NAS client are the guide's own `proxy.conf` and
`clients.conf` blocks, taken out of the page, with its example addresses replaced by
127.0.0.1 and the ports of this test. The rest of its configuration (the listener, the
`suffix` realm module that Debian's default site runs) is the smallest that loads them."""

import base64
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from test_http_api import wrong_code
from test_radius_challenge import first_round, radclient, second_round
from test_radius_radclient import radclient as radclient_answer
from test_radius_radclient import radius_counts

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.service import Verifier

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs/integrations/freeradius.md"
HEREDOC = re.compile(
    r"cat >> /etc/freeradius/3\.0/(?P<file>[\w.]+) <<'EOF'\n(?P<body>.*?\n)EOF\n", re.S
)
# The guide's secrets, one per leg.
VERIFIER_LEG = "a long random secret for the FreeRADIUS to verifier leg"
NAS_LEG = "a long random secret for the NAS to FreeRADIUS leg"
ALICE, BOB, ERIN, DAVE = (base64.b32encode(bytes([n]) * 20).decode() for n in (1, 2, 3, 4))
PIN = "4711"
# A NAS that cannot sign (pam_radius_auth 2.0, docs/integrations/ssh.md), beside the guide's.
LEGACY_SOURCE = "127.0.0.2"
LEGACY_CLIENT = f"""client legacy-nas {{
    ipaddr = {LEGACY_SOURCE}
    secret = "{NAS_LEG}"
    require_message_authenticator = no
}}
"""
PROMPT = "Enter the code shown on your token"
FREERADIUS = Path("/usr/sbin/freeradius")


def guide_blocks() -> dict[str, str]:
    """The guide's `cat >> /etc/freeradius/3.0/FILE <<'EOF'` blocks, by FILE."""
    blocks = {m["file"]: m["body"] for m in HEREDOC.finditer(GUIDE.read_text())}
    assert set(blocks) == {"proxy.conf", "clients.conf"}
    return blocks


def replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the guide's block no longer holds {old!r}"
    return text.replace(old, new)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def radiusd_conf(folder: Path, port: int) -> str:
    """The server around the guide's files: logs to stdout, one listener on 127.0.0.1,
    realms by suffix (alice@otp.example.com is the realm otp.example.com)."""
    return f"""prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {folder}
raddbdir = {folder}
radacctdir = {folder}
name = freeradius
confdir = {folder}
modconfdir = {folder}/mods-config
run_dir = {folder}
db_dir = {folder}
libdir = /usr/lib/freeradius
pidfile = {folder}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
    destination = stdout
}}
security {{
    allow_core_dumps = no
    max_attributes = 200
    reject_delay = 0
    status_server = no
}}
proxy_requests = yes
$INCLUDE proxy.conf
$INCLUDE clients.conf
modules {{
    realm suffix {{
        format = suffix
        delimiter = "@"
    }}
}}
server default {{
    listen {{
        type = auth
        ipaddr = 127.0.0.1
        port = {port}
    }}
    authorize {{
        suffix
    }}
    authenticate {{
    }}
}}
"""


class RunningFreeradius:
    """`freeradius -X -d folder` (debug mode: in the foreground, one thread, its log on
    stdout) until `stop`; waits until it is ready."""

    def __init__(self, folder: Path) -> None:
        self.process = subprocess.Popen(
            [str(FREERADIUS), "-X", "-d", str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None  # stdout=PIPE
        self.lines: list[str] = []
        try:
            while not any("Ready to process requests" in line for line in self.lines):
                line = self.process.stdout.readline()
                assert line, "freeradius did not start:\n" + "".join(self.lines)
                self.lines.append(line)
        except BaseException:
            self.stop()
            raise
        stdout = self.process.stdout
        threading.Thread(target=lambda: self.lines.extend(stdout), daemon=True).start()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass(frozen=True)
class Proxied:
    verifier: ServerProcess
    data_dir: Path
    port: int  # FreeRADIUS's, where the NAS sends its requests


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    """The verifier (users alice, bob, erin and dave of the realm otp.example.com, bob with a
    PIN; its client entry `freeradius` asks users with a PIN for two rounds, and FreeRADIUS is
    in its radius_trusted_proxies) behind FreeRADIUS."""
    if not FREERADIUS.exists():
        pytest.fail("freeradius is missing: run scripts/bootstrap.sh (Debian package freeradius)")
    folder = tmp_path_factory.mktemp("freeradius-proxy")
    data_dir = folder / "data"
    with closing(Verifier(data_dir=data_dir)) as v:
        for user, secret in (("alice", ALICE), ("bob", BOB), ("erin", ERIN), ("dave", DAVE)):
            v.enrol(f"{user}-token", base64.b32decode(secret))
            v.add_user(f"{user}@otp.example.com")
            v.assign(f"{user}-token", f"{user}@otp.example.com", override=True)
        v.set_user_pin("bob@otp.example.com", PIN)
    radius_toml = folder / "radius.toml"
    radius_toml.write_text(
        'port = 0\n[clients.freeradius]\naddress = "127.0.0.1"\n'
        f'secret = "{VERIFIER_LEG}"\nchallenge = true\n'
    )
    with ServerProcess(
        ["--data-dir", str(data_dir)],
        ["--radius", "--radius-config", str(radius_toml), "--radius-trusted-proxies", "127.0.0.1"],
    ) as verifier:
        blocks = guide_blocks()
        proxy_conf = replaced(blocks["proxy.conf"], "ipaddr = 10.0.0.5", "ipaddr = 127.0.0.1")
        proxy_conf = replaced(proxy_conf, "port = 1812", f"port = {verifier.radius_port}")
        clients_conf = replaced(blocks["clients.conf"], "ipaddr = 10.0.0.1", "ipaddr = 127.0.0.1")
        config = folder / "raddb"
        config.mkdir()
        (config / "proxy.conf").write_text(proxy_conf)
        (config / "clients.conf").write_text(clients_conf + LEGACY_CLIENT)
        port = free_udp_port()
        (config / "radiusd.conf").write_text(radiusd_conf(config, port))
        freeradius = RunningFreeradius(config)
        try:
            yield Proxied(verifier, data_dir, port)
        finally:
            freeradius.stop()


def validations(data_dir: Path) -> list[tuple[str | None, dict]]:
    """Every validation's audit row, oldest first: (token, detail)."""
    with closing(Verifier(data_dir=data_dir)) as v:
        return [
            (row["token"], row["detail"])
            for row in reversed(v.audit(1000))
            if row["action"] == "validate"
        ]


def answer(proxied: Proxied, user: str, password: str) -> str:
    attributes = f"User-Name = {user}, User-Password = {password}"
    return radclient(proxied.port, attributes, secret=NAS_LEG)[0]


def test_a_code_proxied_by_freeradius_is_accepted_once(proxied: Proxied) -> None:
    totp = pyotp.TOTP(ALICE)
    code = totp.now()
    assert answer(proxied, "alice@otp.example.com", code) == "Access-Accept"
    assert answer(proxied, "alice@otp.example.com", code) == "Access-Reject"  # a replay
    assert answer(proxied, "alice@otp.example.com", wrong_code(totp)) == "Access-Reject"
    via = {
        "user": "alice@otp.example.com",
        "radius_client": "freeradius",
        "radius_user": "alice@otp.example.com",
        "source": "127.0.0.1",
    }
    rows = [row for row in validations(proxied.data_dir) if row[0] == "alice-token"]
    assert rows == [
        ("alice-token", {"result": "accept", "reason": "accepted", **via}),
        ("alice-token", {"result": "reject", "reason": "replay", **via}),
        ("alice-token", {"result": "reject", "reason": "wrong_code", **via}),
    ]
    # FreeRADIUS signed what it proxied: the verifier, which requires it, dropped nothing.
    assert set(radius_counts(proxied.verifier, "baoling_radius_dropped").values()) == {0}


def test_the_nas_ip_address_freeradius_passes_on_names_the_source(proxied: Proxied) -> None:
    """freeradius.md: with FreeRADIUS in radius_trusted_proxies, the rate limits and the audit
    count by the NAS-IP-Address the NAS sent, which FreeRADIUS passes on when it proxies; a
    request without one still counts by FreeRADIUS's address."""
    totp = pyotp.TOTP(DAVE)
    attributes = "User-Name = dave@otp.example.com, NAS-IP-Address = 10.9.8.7, User-Password = "
    assert radclient(proxied.port, attributes + totp.now(), secret=NAS_LEG)[0] == "Access-Accept"
    assert answer(proxied, "dave@otp.example.com", wrong_code(totp)) == "Access-Reject"
    sources = [d["source"] for token, d in validations(proxied.data_dir) if token == "dave-token"]
    assert sources == ["10.9.8.7", "127.0.0.1"]


def test_pin_then_code_through_the_proxy(proxied: Proxied) -> None:
    """FreeRADIUS relays the verifier's Access-Challenge (State, Reply-Message) to the NAS
    and the NAS's second round, with the State, back to the verifier."""
    kind, attributes = radclient(
        proxied.port, f"User-Name = bob@otp.example.com, User-Password = {PIN}", secret=NAS_LEG
    )
    assert kind == "Access-Challenge"
    assert dict(attributes)["Reply-Message"] == f'"{PROMPT}"'
    state = dict(attributes)["State"]
    code = pyotp.TOTP(BOB).now()
    how = {"secret": NAS_LEG}
    assert second_round(proxied.port, "bob@otp.example.com", state, code, **how) == "Access-Accept"
    # The State is used up; a wrong PIN gets no challenge.
    assert second_round(proxied.port, "bob@otp.example.com", state, code, **how) == "Access-Reject"
    assert first_round(proxied.port, "bob@otp.example.com", "4712", **how) == (
        "Access-Reject",
        None,
    )
    reasons = [d["reason"] for token, d in validations(proxied.data_dir) if "bob" in d["user"]]
    assert reasons == ["accepted", "wrong_pin"]


def test_freeradius_drops_a_nas_request_without_message_authenticator(proxied: Proxied) -> None:
    """The guide's `require_message_authenticator = yes` for the NAS: FreeRADIUS drops its
    unsigned requests itself; none reaches the verifier."""
    before = radius_counts(proxied.verifier, "baoling_radius_answers")
    result = radclient_answer(
        proxied.port,
        "alice@otp.example.com",
        pyotp.TOTP(ALICE).now(),
        secret=NAS_LEG,
        message_authenticator=False,
        tries=1,
    )
    assert result == "no reply"  # radclient waited 2 s for it
    assert radius_counts(proxied.verifier, "baoling_radius_answers") == before


def test_freeradius_signs_what_it_proxies_for_a_nas_that_cannot(proxied: Proxied) -> None:
    """An unsigned request from a client entry that allows it is proxied with a
    Message-Authenticator: the verifier, which requires one, answers it. This is how a gateway
    that cannot sign reaches the verifier without its entry opting out (docs/integrations/
    ssh.md, vpn.md)."""
    code = pyotp.TOTP(ERIN).now()
    before = radius_counts(proxied.verifier, "baoling_radius_dropped")
    output = subprocess.run(
        ["radclient", "-x", "-r", "3", "-t", "2", f"127.0.0.1:{proxied.port}", "auth", NAS_LEG],
        input=f"User-Name = erin@otp.example.com, User-Password = {code}, "
        f"Packet-Src-IP-Address = {LEGACY_SOURCE}\n",
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert "Message-Authenticator" not in output.split("Received", 1)[0]  # sent unsigned
    assert "Received Access-Accept" in output
    assert radius_counts(proxied.verifier, "baoling_radius_dropped") == before
