"""OpenVPN through PAM against the verifier's RADIUS (docs/integrations/vpn.md), for real: an
OpenVPN 2.6 server (Debian package openvpn) on 127.0.0.1 with the guide's PAM service and
`plugin` lines, `pam_radius_auth` asking `baoling verifier serve --radius`, and an OpenVPN
client connecting with a user name and password; the verdict is the client's own
("Initialization Sequence Completed", or AUTH_FAILED from the server).

Both ends open a tun device, left unconfigured (`ifconfig-noexec`, `route-noexec`: nothing is
routed, no address is added to the machine) and gone when they stop; the PAM service file is
removed afterwards. The client leaves out the certificate (the server has
`verify-client-cert none`): the test is about the password, not the certificate.

For two rounds the guide's client asks the code up front with `static-challenge`, and sends
the password and that answer as one string, `SCRV1:<base64 password>:<base64 code>`
(OpenVPN's static-challenge protocol, which the server's PAM plugin takes apart); the test's
client sends that string as its password, as a static-challenge client does on the wire."""

import base64
import re
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from test_http_api import wrong_code
from test_radius_radclient import SECRET, radius_counts

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.radius import hash_pin
from baoling.verifier.service import Verifier

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs/integrations/vpn.md"
OPENVPN = Path("/usr/sbin/openvpn")
SHARED_SECRET = "openvpn-test-shared-secret"
PIN = "4711"
CONNECTED = "Initialization Sequence Completed"
REFUSED = "AUTH_FAILED"
WAIT_S = 30  # for the client's verdict on a loaded machine


# ----------------------------------------------------------------------- the guide's lines


def guide_lines() -> dict[str, str]:
    """The guide's PAM service (its heredoc body) and its two `plugin` lines, one round and
    two rounds."""
    text = GUIDE.read_text()
    pam = re.search(r"cat > /etc/pam\.d/openvpn <<'EOF'\n(.*?\n)EOF\n", text, re.S)
    plugins = re.findall(r"^plugin /usr/lib/openvpn/openvpn-plugin-auth-pam\.so .*$", text, re.M)
    assert pam is not None and len(plugins) == 2
    return {"pam": pam.group(1), "one round": plugins[0], "two rounds": plugins[1]}


def replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the guide's line no longer holds {old!r}: {text}"
    return text.replace(old, new)


# ---------------------------------------------------------------------------------- parts


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OpenVpn:
    """`openvpn --config FILE` until `stop`, its log collected; `wait_for` any of some lines."""

    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(
            [str(OPENVPN), "--config", str(config)],
            cwd=config.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None  # stdout=PIPE
        stdout = self.process.stdout
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(stdout), daemon=True).start()

    def wait_for(self, *needles: str) -> str:
        """The first of `needles` to show in the log."""
        deadline = time.monotonic() + WAIT_S
        while True:
            ended = self.process.poll() is not None
            time.sleep(0.05)  # after an end, the reader thread's last lines
            log = "".join(self.lines)
            for needle in needles:
                if needle in log:
                    return needle
            assert not ended, "openvpn ended:\n" + log
            assert time.monotonic() < deadline, "no verdict:\n" + log

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass(frozen=True)
class Setup:
    verifier: ServerProcess
    data_dir: Path
    folder: Path  # the server's certificate is here, which the client trusts


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """The verifier: alice has a token (the code alone), carol a token and a PIN with two
    rounds; the gateway's client entry opts out of Message-Authenticator, which
    pam_radius_auth 2.0 cannot send (unsafe; vpn.md and ssh.md say so). Also the server's
    key and self-signed certificate."""
    if not OPENVPN.exists():
        pytest.fail(f"{OPENVPN} is missing: run scripts/bootstrap.sh (Debian package openvpn)")
    folder = tmp_path_factory.mktemp("openvpn")
    data_dir = folder / "data"
    with closing(Verifier(data_dir=data_dir)) as v:
        for name in ("alice", "carol"):
            v.enrol(name, base64.b32decode(SECRET))
    radius = folder / "radius.toml"
    radius.write_text(
        f'port = 0\n[clients.openvpn]\naddress = "127.0.0.1"\nsecret = "{SHARED_SECRET}"\n'
        "require_message_authenticator = false\n"
        f'[users.carol]\npin_hash = "{hash_pin(PIN)}"\nchallenge = true\n'
    )
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-subj", "/CN=vpn-gateway", "-days", "1"]
        + ["-keyout", str(folder / "server.key"), "-out", str(folder / "server.crt")],
        check=True,
        capture_output=True,
    )
    with ServerProcess(
        ["--data-dir", str(data_dir)], ["--radius", "--radius-config", str(radius)]
    ) as verifier:
        yield Setup(verifier, data_dir, folder)


@contextmanager
def gateway(setup: Setup, mode: str) -> Iterator[int]:
    """An OpenVPN server with the guide's PAM service (under a name of its own, removed
    afterwards) and the guide's `plugin` line for `mode`; yields its port."""
    lines = guide_lines()
    service = "baoling-test-openvpn-" + secrets.token_hex(4)
    folder = setup.folder / mode.replace(" ", "-")
    folder.mkdir()
    radius_conf = folder / "pam_radius_auth.conf"
    radius_conf.write_text(f"127.0.0.1:{setup.verifier.radius_port} {SHARED_SECRET} 3\n")
    radius_conf.chmod(0o600)
    pam = replaced(lines["pam"], "pam_radius_auth.so", f"pam_radius_auth.so conf={radius_conf}")
    plugin, found = re.subn(r'(\.so "?)openvpn\b', rf"\g<1>{service}", lines[mode])
    assert found == 1, f"the guide's plugin line names no PAM service openvpn: {lines[mode]}"
    port = free_udp_port()
    config = folder / "server.conf"
    config.write_text(
        "mode server\ntls-server\ndev tun\nproto udp4\nlocal 127.0.0.1\n"
        f"port {port}\nca {setup.folder / 'server.crt'}\ncert {setup.folder / 'server.crt'}\n"
        f"key {setup.folder / 'server.key'}\ndh none\nserver 10.213.77.0 255.255.255.0\n"
        "topology subnet\nifconfig-noexec\nroute-noexec\n"
        "verify-client-cert none\nusername-as-common-name\nverb 3\n"
        f"{plugin}\n"
    )
    pam_file = Path("/etc/pam.d") / service
    try:
        pam_file.write_text(pam)
        server = OpenVpn(config)
        try:
            server.wait_for(CONNECTED)
            yield port
        finally:
            server.stop()
    finally:
        pam_file.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def one_round(setup: Setup) -> Iterator[int]:
    with gateway(setup, "one round") as port:
        yield port


@pytest.fixture(scope="module")
def two_rounds(setup: Setup) -> Iterator[int]:
    with gateway(setup, "two rounds") as port:
        yield port


def connect(setup: Setup, port: int, user: str, password: str) -> str:
    """CONNECTED or REFUSED: what an OpenVPN client sending `user` and `password` gets."""
    folder = setup.folder / f"client-{secrets.token_hex(4)}"
    folder.mkdir()
    credentials = folder / "credentials"
    credentials.touch(mode=0o600)
    credentials.write_text(f"{user}\n{password}\n")
    config = folder / "client.conf"
    config.write_text(
        f"client\ndev tun\nproto udp4\nremote 127.0.0.1 {port}\n"
        f"ca {setup.folder / 'server.crt'}\nauth-user-pass {credentials}\n"
        "ifconfig-noexec\nroute-noexec\nverb 3\n"
    )
    client = OpenVpn(config)
    try:
        return client.wait_for(CONNECTED, REFUSED)
    finally:
        client.stop()


def static_challenge(password: str, code: str) -> str:
    """What a client with `static-challenge` sends as its password."""
    encoded = (base64.b64encode(part.encode()).decode() for part in (password, code))
    return "SCRV1:{}:{}".format(*encoded)


def validations(data_dir: Path, token: str) -> list[tuple[str, str, str, str]]:
    """(result, reason, radius_client, radius_user) of each validation of `token`."""
    with closing(Verifier(data_dir=data_dir)) as v:
        return [
            (d["result"], d["reason"], d["radius_client"], d["radius_user"])
            for d in (row["detail"] for row in reversed(v.audit(1000)) if row["token"] == token)
            if "result" in d
        ]


def test_one_round_the_code_is_the_password(setup: Setup, one_round: int) -> None:
    totp = pyotp.TOTP(SECRET)
    code = totp.now()
    assert connect(setup, one_round, "alice", code) == CONNECTED
    assert connect(setup, one_round, "alice", code) == REFUSED  # a replay
    assert connect(setup, one_round, "alice", wrong_code(totp)) == REFUSED
    assert validations(setup.data_dir, "alice") == [
        ("accept", "accepted", "openvpn", "alice"),
        ("reject", "replay", "openvpn", "alice"),
        ("reject", "wrong_code", "openvpn", "alice"),
    ]


def test_two_rounds_the_pin_then_the_code(setup: Setup, two_rounds: int) -> None:
    """pam_radius_auth sends the PIN; the verifier's Access-Challenge asks "Enter the code
    shown on your token", which the plugin answers with the static challenge's code."""
    totp = pyotp.TOTP(SECRET)
    # The next step's code from the same instant. Taken from the clock after the first
    # connections, it was two steps on whenever they crossed a step's end; and a code accepted
    # late in its step teaches the verifier that the token's clock runs behind (docs/engine.md),
    # so two steps on is then outside the window.
    now = time.time()
    code, later = totp.at(now), totp.at(now + 30)
    challenges = radius_counts(setup.verifier, "baoling_radius_answers")["challenge"]
    assert connect(setup, two_rounds, "carol", static_challenge(PIN, code)) == CONNECTED
    assert connect(setup, two_rounds, "carol", static_challenge(PIN, code)) == REFUSED
    assert connect(setup, two_rounds, "carol", static_challenge("4712", later)) == REFUSED
    assert connect(setup, two_rounds, "carol", static_challenge(PIN, wrong_code(totp))) == (REFUSED)
    assert connect(setup, two_rounds, "carol", static_challenge(PIN, later)) == CONNECTED
    assert validations(setup.data_dir, "carol") == [
        ("accept", "accepted", "openvpn", "carol"),
        ("reject", "replay", "openvpn", "carol"),
        ("reject", "wrong_pin", "openvpn", "carol"),
        ("reject", "wrong_code", "openvpn", "carol"),
        ("accept", "accepted", "openvpn", "carol"),
    ]
    # Every right PIN got an Access-Challenge, the wrong one none.
    assert radius_counts(setup.verifier, "baoling_radius_answers")["challenge"] == challenges + 4
