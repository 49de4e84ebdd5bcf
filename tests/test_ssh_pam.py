"""SSH login through PAM against Baoling's RADIUS (docs/integrations/ssh.md): a real OpenSSH
`sshd` on 127.0.0.1 with a configuration of its own, PAM with `pam_radius_auth`
(libpam-radius-auth), a throwaway system user per test, and paramiko logging in with
keyboard-interactive.

What the test adds to the system (a PAM service file, users, /run/sshd if missing) is removed
afterwards, also when it fails. Its sshd runs under a name of its own (a link to
/usr/sbin/sshd): OpenSSH names its PAM service after the program, so the test installs
/etc/pam.d/<that name> and never touches the machine's /etc/pam.d/sshd."""

import base64
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pyotp
import pytest
from test_http_api import wrong_code
from test_radius_radclient import dropped

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.service import Verifier

SSHD = Path("/usr/sbin/sshd")
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SHARED_SECRET = "ssh-test-shared-secret"
USER_PREFIX = "bltest"
PASSWORD = "correct horse battery staple"
CODE_PROMPT = "Token code"  # pam_radius_auth's prompt= option; it adds ": "
PROMPTS = [("Password: ", False), ("Token code: ", False)]  # pam_unix's, then pam_radius_auth's
SIGNING_SOURCE = "127.0.0.2"  # a RADIUS client entry that requires Message-Authenticator


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """Baoling's verifier serving RADIUS; yields it and its data folder.

    pam_radius_auth 2.0 (Debian 12's libpam-radius-auth) sends no Message-Authenticator, so
    the client entry of 127.0.0.1 opts out of requiring one: unsafe, as docs/integrations/ssh.md
    says. 127.0.0.2 is a client that requires it, as every client does by default."""
    folder = tmp_path_factory.mktemp("ssh-verifier")
    data_dir = folder / "data"
    Verifier(data_dir=data_dir).close()
    config = folder / "radius.toml"
    config.write_text(
        f'port = 0\n[clients."127.0.0.1"]\nsecret = "{SHARED_SECRET}"\n'
        "require_message_authenticator = false\n"
        f'[clients."{SIGNING_SOURCE}"]\nsecret = "{SHARED_SECRET}"\n'
    )
    with ServerProcess(
        ["--data-dir", str(data_dir)], ["--radius", "--radius-config", str(config)]
    ) as running:
        yield running, data_dir


@pytest.fixture(scope="module")
def radius_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pam_radius_auth's server file (written by `point_pam_at`; the module reads it at every
    login)."""
    return tmp_path_factory.mktemp("pam-radius") / "pam_radius_auth.conf"


def point_pam_at(radius_conf: Path, verifier: ServerProcess, source: str = "") -> None:
    """Send pam_radius_auth's requests to `verifier` (from the address `source`, if given):
    server, shared secret, timeout in seconds, source address."""
    radius_conf.write_text(f"127.0.0.1:{verifier.radius_port} {SHARED_SECRET} 2 {source}\n")
    radius_conf.chmod(0o600)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory, verifier, radius_conf: Path) -> Iterator[int]:
    """sshd on a free port of 127.0.0.1, logging users in through PAM with pam_radius_auth
    against the verifier; yields its port."""
    folder = tmp_path_factory.mktemp("sshd")
    service = "baoling-test-sshd-" + secrets.token_hex(4)
    program = folder / service  # OpenSSH's PAM service name is its program's name
    program.symlink_to(SSHD)
    point_pam_at(radius_conf, verifier[0])
    host_key = folder / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key], check=True)
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"PidFile {folder / 'sshd.pid'}\n"
        "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n"
        "PubkeyAuthentication no\nAuthenticationMethods keyboard-interactive\n"
        f"PermitRootLogin no\nAllowUsers {USER_PREFIX}*\nLogLevel VERBOSE\n"
    )
    pam_file = Path("/etc/pam.d") / service
    run_dir = Path("/run/sshd")  # sshd's privilege-separation folder must exist
    made_run_dir = not run_dir.exists()
    try:
        pam_file.write_text(
            "auth requisite pam_unix.so\n"
            f"auth required pam_radius_auth.so conf={radius_conf} force_prompt"
            f" [prompt={CODE_PROMPT}]\n"
            "account required pam_unix.so\n"
            "session required pam_unix.so\n"
        )
        if made_run_dir:
            run_dir.mkdir(mode=0o755)
        with running_sshd(program, config, port):
            yield port
    finally:
        pam_file.unlink(missing_ok=True)
        if made_run_dir:
            run_dir.rmdir()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class running_sshd:  # noqa: N801 (used as a with-statement)
    """`sshd -D -e -f config` until the with-block ends; waits for it to listen."""

    def __init__(self, program: Path, config: Path, port: int) -> None:
        self.process = subprocess.Popen(
            [str(program), "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True
        )
        self.log: list[str] = []
        assert self.process.stderr is not None  # stderr=PIPE
        try:
            while not any(f"listening on 127.0.0.1 port {port}" in line for line in self.log):
                line = self.process.stderr.readline()
                assert line, "sshd did not start:\n" + "".join(self.log)
                self.log.append(line)
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise
        stderr = self.process.stderr
        threading.Thread(target=lambda: self.log.extend(stderr), daemon=True).start()

    def __enter__(self) -> "running_sshd":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def user(verifier: tuple[ServerProcess, Path]) -> Iterator[str]:
    """A system user made for this test (password PASSWORD, no home), removed afterwards;
    the verifier has a token of the same id, which is the RADIUS user name."""
    name = USER_PREFIX + secrets.token_hex(4)
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", name],
        check=True,
    )
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{PASSWORD}", text=True, check=True)
        v = Verifier(data_dir=verifier[1])
        v.enrol(name, base64.b32decode(SECRET))
        v.close()
        yield name
    finally:
        remove_user(name)


def remove_user(name: str) -> None:
    """userdel, once sshd's session process for the user has ended (it outlives the client's
    hang-up by a moment, and userdel refuses a user who still runs a process)."""
    deadline = time.monotonic() + 10
    while subprocess.run(["pgrep", "-u", name], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, f"user {name} still runs a process"
        time.sleep(0.1)
    subprocess.run(["userdel", name], check=True)


@pytest.fixture
def totp() -> pyotp.TOTP:
    return pyotp.TOTP(SECRET)


def login(
    port: int, user: str, answers: list[str], asked: list[tuple[str, bool]] | None = None
) -> tuple[list[tuple[str, bool]], str]:
    """Log in as `user` answering the server's prompts in turn from `answers`, and run
    `id -un`; the prompts asked (text, echoed; also collected in `asked`) and the command's
    output. Raises paramiko.AuthenticationException when the login is refused."""
    asked = [] if asked is None else asked
    given = iter(answers)

    def answer(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        asked.extend(prompts)
        return [next(given) for _ in prompts]

    with paramiko.Transport(("127.0.0.1", port)) as transport:
        transport.connect()
        transport.auth_interactive(user, answer)
        channel = transport.open_session()
        channel.exec_command("id -un")
        output = channel.makefile("r").read().decode()
        assert channel.recv_exit_status() == 0
    return asked, output


def token_audit(data_dir: Path, token_id: str) -> list[tuple[str, dict]]:
    """The token's audit rows after its enrolment, oldest first: (action, detail)."""
    v = Verifier(data_dir=data_dir)
    try:
        return [
            (row["action"], row["detail"])
            for row in reversed(v.audit(1000))
            if row["token"] == token_id and row["action"] != "enrol"
        ]
    finally:
        v.close()


def test_password_then_right_code_logs_in_and_runs_a_command(
    sshd: int, user: str, totp: pyotp.TOTP, verifier
) -> None:
    asked, output = login(sshd, user, [PASSWORD, totp.now()])
    assert asked == PROMPTS
    assert output == f"{user}\n"
    assert token_audit(verifier[1], user) == [
        ("validate", {"result": "accept", "reason": "accepted"})
    ]


def test_wrong_code_is_refused(sshd: int, user: str, totp: pyotp.TOTP, verifier) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        login(sshd, user, [PASSWORD, wrong_code(totp)])
    assert token_audit(verifier[1], user) == [
        ("validate", {"result": "reject", "reason": "wrong_code"})
    ]


def test_replayed_code_is_refused(sshd: int, user: str, totp: pyotp.TOTP, verifier) -> None:
    code = totp.now()
    assert login(sshd, user, [PASSWORD, code])[1] == f"{user}\n"
    with pytest.raises(paramiko.AuthenticationException):
        login(sshd, user, [PASSWORD, code])
    assert token_audit(verifier[1], user) == [
        ("validate", {"result": "accept", "reason": "accepted"}),
        ("validate", {"result": "reject", "reason": "replay"}),
    ]


def test_wrong_password_never_reaches_the_verifier(
    sshd: int, user: str, totp: pyotp.TOTP, verifier
) -> None:
    """pam_unix is `requisite`: a wrong password ends the login before the code is asked, so
    guessing passwords cannot use up the token's failed attempts."""
    asked: list[tuple[str, bool]] = []
    with pytest.raises(paramiko.AuthenticationException):
        login(sshd, user, ["not the password", totp.now()], asked)
    assert asked == PROMPTS[:1]
    assert token_audit(verifier[1], user) == []


def test_pam_radius_auth_sends_no_message_authenticator(
    sshd: int, user: str, totp: pyotp.TOTP, verifier, radius_conf: Path
) -> None:
    """Why the client entry opts out: from a client that requires Message-Authenticator (the
    default), pam_radius_auth's requests are dropped as unsigned and the login fails."""
    before = dropped(verifier[0], "missing_message_authenticator")
    point_pam_at(radius_conf, verifier[0], SIGNING_SOURCE)
    try:
        with pytest.raises(paramiko.AuthenticationException):
            login(sshd, user, [PASSWORD, totp.now()])
    finally:
        point_pam_at(radius_conf, verifier[0])
    assert dropped(verifier[0], "missing_message_authenticator") > before
    assert token_audit(verifier[1], user) == []
