"""SSH login through PAM against Baoling's RADIUS (docs/integrations/ssh.md): a real OpenSSH
`sshd` on 127.0.0.1 with a configuration of its own, PAM with `pam_radius_auth`
(libpam-radius-auth), a throwaway system user per test, and paramiko logging in with
keyboard-interactive. Two doors, each with sshds of its own: the Unix password (pam_unix)
then the code (pam_radius_auth, one RADIUS round), and the user's Baoling PIN then the code in
two RADIUS rounds (Access-Challenge), for a `[users]` entry of the RADIUS file and, as the
guide recommends, for a user of the store with a PIN (`user set-pin`) behind a client entry
with `challenge = true`. A fourth sshd's pam_radius_auth asks a FreeRADIUS on the same host,
which proxies to the verifier signed, so the verifier needs no Message-Authenticator opt-out.

The same harness runs sudo in such a session, with its own PAM stack: the Unix password, then
the code (the end of this file).

What the test adds to the system (PAM service files, sudoers files, users, /run/sshd if
missing) is removed afterwards, also when it fails. Its sshd runs under a name of its own (a link to
/usr/sbin/sshd): OpenSSH names its PAM service after the program, so the test installs
/etc/pam.d/<that name> and never touches the machine's /etc/pam.d/sshd."""

import base64
import contextlib
import fcntl
import os
import re
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import paramiko
import pyotp
import pytest
from test_http_api import wrong_code
from test_radius_freeradius_proxy import FREERADIUS, RunningFreeradius, free_udp_port, radiusd_conf
from test_radius_radclient import dropped, radius_counts

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.radius import hash_pin
from baoling.verifier.service import Verifier

SSHD = Path("/usr/sbin/sshd")
GUIDE = Path(__file__).resolve().parent.parent / "docs/integrations/ssh.md"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SHARED_SECRET = "ssh-test-shared-secret"
USER_PREFIX = "bltest"
PASSWORD = "correct horse battery staple"  # the Unix password (pam_unix door)
PIN = "4711"  # the Baoling PIN (challenge door)
CHALLENGE_USERS = 8  # users with a PIN and two rounds, listed in the RADIUS configuration
SIGNING_SOURCE = "127.0.0.2"  # a RADIUS client entry that requires Message-Authenticator
STORE_PIN_SOURCE = "127.0.0.3"  # the client entry `ssh-pin`: two rounds for users with a PIN
LOCAL_SECRET = "pam-to-local-freeradius"  # pam_radius_auth -> FreeRADIUS on the same host
# What paramiko is asked, (text, echoed): pam_unix's prompt, pam_radius_auth's prompt= option
# (it adds ": "), and the verifier's Reply-Message of an Access-Challenge, which
# pam_radius_auth asks with echo.
UNIX_PROMPTS = [("Password: ", False), ("Token code: ", False)]
CHALLENGE_PROMPTS = [("Baoling PIN: ", False), ("Enter the code shown on your token", True)]


@pytest.fixture(scope="module")
def challenge_names() -> list[str]:
    return [f"{USER_PREFIX}{secrets.token_hex(4)}" for _ in range(CHALLENGE_USERS)]


@pytest.fixture(scope="module")
def verifier(
    tmp_path_factory: pytest.TempPathFactory, challenge_names: list[str]
) -> Iterator[tuple[ServerProcess, Path]]:
    """Baoling's verifier serving RADIUS; yields it and its data folder.

    pam_radius_auth 2.0 (Debian 12's libpam-radius-auth) sends no Message-Authenticator, so
    the client entry of 127.0.0.1 opts out of requiring one: unsafe, as docs/integrations/ssh.md
    says. 127.0.0.2 is a client that requires it, as every client does by default. The
    challenge users log in with a PIN, then the code."""
    folder = tmp_path_factory.mktemp("ssh-verifier")
    data_dir = folder / "data"
    Verifier(data_dir=data_dir).close()
    pin_hash = hash_pin(PIN)
    config = folder / "radius.toml"
    config.write_text(
        f'port = 0\n[clients."127.0.0.1"]\nsecret = "{SHARED_SECRET}"\n'
        "require_message_authenticator = false\n"
        f'[clients."{SIGNING_SOURCE}"]\nsecret = "{SHARED_SECRET}"\n'
        f'[clients.ssh-pin]\naddress = "{STORE_PIN_SOURCE}"\nsecret = "{SHARED_SECRET}"\n'
        "require_message_authenticator = false\nchallenge = true\n"
        + "".join(
            f'[users."{name}"]\npin_hash = "{pin_hash}"\nchallenge = true\n'
            for name in challenge_names
        )
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


RUN_DIR = Path("/run/sshd")  # sshd's privilege-separation folder (fixed when it is built)
RUN_DIR_LOCK = Path("/run/lock/baoling-test-sshd.lock")
RUN_DIR_MADE = Path("/run/lock/baoling-test-sshd.made")  # the tests made RUN_DIR


def held_lock_file() -> IO[str]:
    """RUN_DIR_LOCK opened and locked exclusively; retried when the file was removed (by the
    last user) between opening and locking it."""
    while True:
        lock = RUN_DIR_LOCK.open("a")
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if RUN_DIR_LOCK.stat().st_ino == os.fstat(lock.fileno()).st_ino:
                return lock
        lock.close()


@pytest.fixture(scope="module")
def run_dir() -> Iterator[None]:
    """RUN_DIR, which sshd needs, made if missing and removed by the last test process using
    it (each holds a shared lock while it does; xdist workers and other runs share it)."""
    with held_lock_file() as lock:
        if not RUN_DIR.exists():
            RUN_DIR.mkdir(mode=0o755)
            RUN_DIR_MADE.touch()
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            with contextlib.suppress(BlockingIOError):  # another process still uses it
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if RUN_DIR_MADE.exists():
                    RUN_DIR.rmdir()
                    RUN_DIR_MADE.unlink()
                RUN_DIR_LOCK.unlink()


@contextlib.contextmanager
def sshd_with_pam(folder: Path, auth_lines: str) -> Iterator[int]:
    """sshd on a free port of 127.0.0.1 whose PAM service authenticates with `auth_lines`;
    yields its port. Its PAM file is removed afterwards."""
    service = "baoling-test-sshd-" + secrets.token_hex(4)
    program = folder / service  # OpenSSH's PAM service name is its program's name
    program.symlink_to(SSHD)
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
    try:
        pam_file.write_text(
            auth_lines + "account required pam_unix.so\nsession required pam_unix.so\n"
        )
        with running_sshd(program, config, port):
            yield port
    finally:
        pam_file.unlink(missing_ok=True)


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


@pytest.fixture(scope="module")
def unix_sshd(tmp_path_factory, verifier, radius_conf: Path, run_dir) -> Iterator[int]:
    """The Unix password (Debian's common-auth: pam_unix; a wrong one ends the login), then
    the code (pam_radius_auth with force_prompt, so it asks anew instead of sending the
    password): the lines of docs/integrations/ssh.md."""
    point_pam_at(radius_conf, verifier[0])
    with sshd_with_pam(
        tmp_path_factory.mktemp("sshd-unix"),
        "@include common-auth\n"
        f"auth required pam_radius_auth.so conf={radius_conf} force_prompt [prompt=Token code]\n",
    ) as port:
        yield port


@pytest.fixture(scope="module")
def challenge_sshd(tmp_path_factory, verifier, radius_conf: Path, run_dir) -> Iterator[int]:
    """pam_radius_auth alone: the PIN in the first RADIUS round, the code after the
    Access-Challenge."""
    point_pam_at(radius_conf, verifier[0])
    with sshd_with_pam(
        tmp_path_factory.mktemp("sshd-challenge"),
        f"auth required pam_radius_auth.so conf={radius_conf} [prompt=Baoling PIN]\n",
    ) as port:
        yield port


@dataclass(frozen=True)
class Door:
    """An sshd to log in through, a user made for this test, what the user types before the
    code, and the prompts that login asks."""

    port: int
    user: str
    password: str
    prompts: list[tuple[str, bool]]


@pytest.fixture(params=["unix-password", "radius-challenge"])
def door(request: pytest.FixtureRequest, verifier, challenge_names: list[str]) -> Iterator[Door]:
    """A system user made for this test (no home), removed afterwards, with a token in the
    verifier whose id is the user name (the RADIUS User-Name); its door."""
    if request.param == "unix-password":
        name, port = USER_PREFIX + secrets.token_hex(4), request.getfixturevalue("unix_sshd")
        password, prompts = PASSWORD, UNIX_PROMPTS
    else:
        name, port = challenge_names.pop(), request.getfixturevalue("challenge_sshd")
        password, prompts = PIN, CHALLENGE_PROMPTS
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", name],
        check=True,
    )
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{PASSWORD}", text=True, check=True)
        v = Verifier(data_dir=verifier[1])
        v.enrol(name, base64.b32decode(SECRET))
        v.close()
        yield Door(port, name, password, prompts)
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
    door: Door, answers: list[str], asked: list[tuple[str, bool]] | None = None
) -> tuple[list[tuple[str, bool]], str]:
    """Log in through `door` answering the server's prompts in turn from `answers`, and run
    `id -un`; the prompts asked (text, echoed; also collected in `asked`) and the command's
    output. Raises paramiko.AuthenticationException when the login is refused."""
    asked = [] if asked is None else asked
    given = iter(answers)

    def answer(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        asked.extend(prompts)
        return [next(given) for _ in prompts]

    with paramiko.Transport(("127.0.0.1", door.port)) as transport:
        transport.connect()
        transport.auth_interactive(door.user, answer)
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


def validation(door: Door, result: str, reason: str) -> tuple[str, dict]:
    """A validation's audit row as the test expects it: with the RADIUS client entry the
    request came through (127.0.0.1's) and the User-Name, never a code or a password."""
    detail = {"result": result, "reason": reason}
    return ("validate", {**detail, "radius_client": "127.0.0.1", "radius_user": door.user})


def test_password_then_right_code_logs_in_and_runs_a_command(
    door: Door, totp: pyotp.TOTP, verifier
) -> None:
    asked, output = login(door, [door.password, totp.now()])
    assert asked == door.prompts
    assert output == f"{door.user}\n"
    assert token_audit(verifier[1], door.user) == [validation(door, "accept", "accepted")]


def test_wrong_code_is_refused(door: Door, totp: pyotp.TOTP, verifier) -> None:
    asked: list[tuple[str, bool]] = []
    with pytest.raises(paramiko.AuthenticationException):
        login(door, [door.password, wrong_code(totp)], asked)
    assert asked == door.prompts
    assert token_audit(verifier[1], door.user) == [validation(door, "reject", "wrong_code")]


def test_replayed_code_is_refused(door: Door, totp: pyotp.TOTP, verifier) -> None:
    code = totp.now()
    assert login(door, [door.password, code])[1] == f"{door.user}\n"
    with pytest.raises(paramiko.AuthenticationException):
        login(door, [door.password, code])
    assert token_audit(verifier[1], door.user) == [
        validation(door, "accept", "accepted"),
        validation(door, "reject", "replay"),
    ]


def test_wrong_password_is_refused_before_the_code_is_asked(
    door: Door, totp: pyotp.TOTP, verifier
) -> None:
    """A wrong Unix password ends the login at pam_unix and never reaches the verifier; a
    wrong PIN gets Access-Reject and counts as a failed attempt of the token. Either way no
    code is asked."""
    asked: list[tuple[str, bool]] = []
    with pytest.raises(paramiko.AuthenticationException):
        login(door, ["7" + door.password, totp.now()], asked)
    assert asked == door.prompts[:1]
    expected = [] if door.password == PASSWORD else [validation(door, "reject", "wrong_pin")]
    assert token_audit(verifier[1], door.user) == expected


def test_pam_radius_auth_sends_no_message_authenticator(
    unix_sshd: int, totp: pyotp.TOTP, verifier, radius_conf: Path
) -> None:
    """Why the client entry opts out: from a client that requires Message-Authenticator (the
    default), pam_radius_auth's requests are dropped as unsigned and the login fails."""
    name = USER_PREFIX + secrets.token_hex(4)
    door = Door(unix_sshd, name, PASSWORD, UNIX_PROMPTS)
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", name], check=True)
    before = dropped(verifier[0], "missing_message_authenticator")
    point_pam_at(radius_conf, verifier[0], SIGNING_SOURCE)
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{PASSWORD}", text=True, check=True)
        with pytest.raises(paramiko.AuthenticationException):
            login(door, [PASSWORD, totp.now()])
    finally:
        point_pam_at(radius_conf, verifier[0])
        remove_user(name)
    assert dropped(verifier[0], "missing_message_authenticator") > before


@pytest.fixture(scope="module")
def signing_sshd(tmp_path_factory, verifier, run_dir) -> Iterator[int]:
    """The Unix-password door with a FreeRADIUS on the host in front of the verifier
    (docs/integrations/ssh.md, the safe alternative to the opt-out): pam_radius_auth asks
    FreeRADIUS on 127.0.0.1, unsigned; FreeRADIUS proxies every request, signed, from
    SIGNING_SOURCE, whose client entry requires Message-Authenticator."""
    folder = tmp_path_factory.mktemp("sshd-freeradius")
    if not FREERADIUS.exists():
        pytest.fail("freeradius is missing: run scripts/bootstrap.sh (Debian package freeradius)")
    raddb = folder / "raddb"
    raddb.mkdir()
    block = re.search(
        r"```text\n(# /etc/freeradius/3\.0/clients\.conf.*?)```", GUIDE.read_text(), re.S
    )
    assert block is not None, "docs/integrations/ssh.md lost its FreeRADIUS block"
    lines = block.group(1)
    for old, new in (
        ("ipaddr = 10.0.0.5", f"ipaddr = 127.0.0.1\n    src_ipaddr = {SIGNING_SOURCE}"),
        ("port = 1812", f"port = {verifier[0].radius_port}"),
        ("the secret of /etc/pam_radius_auth.conf's 127.0.0.1 line", LOCAL_SECRET),
        (
            "the secret of the verifier's entry for this server (step 1, without the opt-out)",
            SHARED_SECRET,
        ),
    ):
        assert lines.count(old) == 1, f"the guide's FreeRADIUS block no longer holds {old!r}"
        lines = lines.replace(old, new)
    (raddb / "proxy.conf").write_text(lines)  # both files' lines: radiusd.conf includes both
    (raddb / "clients.conf").write_text("")
    port = free_udp_port()
    (raddb / "radiusd.conf").write_text(radiusd_conf(raddb, port))
    freeradius = RunningFreeradius(raddb)
    try:
        pam_conf = folder / "pam_radius_auth.conf"
        pam_conf.write_text(f"127.0.0.1:{port} {LOCAL_SECRET} 3\n")
        pam_conf.chmod(0o600)
        with sshd_with_pam(
            folder,
            "@include common-auth\n"
            f"auth required pam_radius_auth.so conf={pam_conf} force_prompt [prompt=Token code]\n",
        ) as sshd_port:
            yield sshd_port
    finally:
        freeradius.stop()


def test_through_a_local_freeradius_the_verifier_keeps_requiring_message_authenticator(
    signing_sshd: int, totp: pyotp.TOTP, verifier
) -> None:
    name = USER_PREFIX + secrets.token_hex(4)
    door = Door(signing_sshd, name, PASSWORD, UNIX_PROMPTS)
    before = radius_counts(verifier[0], "baoling_radius_dropped")
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", name], check=True)
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{PASSWORD}", text=True, check=True)
        with closing(Verifier(data_dir=verifier[1])) as v:
            v.enrol(name, base64.b32decode(SECRET))
        code = totp.now()
        assert login(door, [PASSWORD, code])[1] == f"{name}\n"
        with pytest.raises(paramiko.AuthenticationException):
            login(door, [PASSWORD, code])
    finally:
        remove_user(name)
    via = {"radius_client": SIGNING_SOURCE, "radius_user": name}
    assert token_audit(verifier[1], name) == [
        ("validate", {"result": "accept", "reason": "accepted", **via}),
        ("validate", {"result": "reject", "reason": "replay", **via}),
    ]
    assert radius_counts(verifier[0], "baoling_radius_dropped") == before


# ------------------------------------------------------------ a user of the store, PIN then code


@pytest.fixture(scope="module")
def store_pin_sshd(tmp_path_factory, verifier, run_dir) -> Iterator[int]:
    """docs/integrations/ssh.md's recommended PIN door: pam_radius_auth alone, its requests
    from the client entry `ssh-pin` (`challenge = true`), whose users of the store with a PIN
    (`user set-pin`) log in in two rounds."""
    folder = tmp_path_factory.mktemp("sshd-store-pin")
    pam_conf = folder / "pam_radius_auth.conf"
    point_pam_at(pam_conf, verifier[0], STORE_PIN_SOURCE)
    with sshd_with_pam(
        folder, f"auth required pam_radius_auth.so conf={pam_conf} [prompt=Baoling PIN]\n"
    ) as port:
        yield port


def user_audit(data_dir: Path, user: str) -> list[tuple[str | None, dict]]:
    """The audit rows naming the user `user`, oldest first: (token, detail)."""
    with closing(Verifier(data_dir=data_dir)) as v:
        return [
            (row["token"], row["detail"])
            for row in reversed(v.audit(1000))
            if row["detail"].get("user") == user
        ]


def test_a_user_of_the_store_logs_in_with_the_pin_then_the_code(
    store_pin_sshd: int, totp: pyotp.TOTP, verifier
) -> None:
    """As ssh.md says: `user add`, `assign`, `user set-pin`, and `challenge = true` on the
    server's client entry. The PIN, then the code after the Access-Challenge, logs in; the
    same code again, and a wrong PIN (no code asked, the token's failures untouched), do not."""
    name = USER_PREFIX + secrets.token_hex(4)
    door = Door(store_pin_sshd, name, PIN, CHALLENGE_PROMPTS)
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", name], check=True)
    try:
        with closing(Verifier(data_dir=verifier[1])) as v:
            v.enrol(f"{name}-token", base64.b32decode(SECRET))
            v.add_user(name)
            v.assign(f"{name}-token", name, override=True)
            v.set_user_pin(name, PIN)
        code = totp.now()
        asked, output = login(door, [PIN, code])
        assert (asked, output) == (CHALLENGE_PROMPTS, f"{name}\n")
        with pytest.raises(paramiko.AuthenticationException):
            login(door, [PIN, code])
        asked = []
        with pytest.raises(paramiko.AuthenticationException):
            login(door, ["4712", totp.now()], asked)
        assert asked == CHALLENGE_PROMPTS[:1]
    finally:
        remove_user(name)
    via = {"user": f"{name}@default", "radius_client": "ssh-pin", "radius_user": name}
    via |= {"source": STORE_PIN_SOURCE}
    assert [
        (token, {k: detail[k] for k in ("result", "reason", *via)})
        for token, detail in user_audit(verifier[1], f"{name}@default")
        if detail.get("result")
    ] == [
        (f"{name}-token", {"result": "accept", "reason": "accepted", **via}),
        (f"{name}-token", {"result": "reject", "reason": "replay", **via}),
        (None, {"result": "reject", "reason": "wrong_pin", **via}),
    ]
    with closing(Verifier(data_dir=verifier[1])) as v:
        assert v.show(f"{name}-token")["fail_count"] == 0


# ------------------------------------------------------------------------------------- sudo
#
# A test user logs in through the Unix-password door and runs `sudo -S` in that session;
# sudo's own PAM stack asks the Unix password (pam_unix) and then the token code
# (pam_radius_auth, one RADIUS round). sudo names its PAM service in sudoers (`pam_service`),
# so the test installs /etc/pam.d/<a name of its own> and an /etc/sudoers.d file giving only
# its user that service, one try and no cached credentials; the machine's /etc/pam.d/sudo and
# /etc/sudoers are never touched, and both files go with the user afterwards.

SUDO = Path("/usr/bin/sudo")
# What sudo asks through its PAM stack: pam_unix's password (sudo shows its own prompt for a
# PAM "Password: ") and pam_radius_auth's prompt= option (sudo shows other PAM prompts as they
# are, unless -p gives a prompt of one's own, which then replaces them all).
SUDO_PROMPTS = ["[sudo] password for {user}: ", "Token code: "]


@dataclass(frozen=True)
class SudoUser:
    """A system user made for one test, who may run `/usr/bin/id` as root through sudo."""

    name: str
    port: int  # the sshd it logs in through


@pytest.fixture
def sudo_user(unix_sshd: int, verifier, radius_conf: Path) -> Iterator[SudoUser]:
    if not SUDO.exists():
        pytest.fail(f"{SUDO} is missing: run scripts/bootstrap.sh (Debian package sudo)")
    name = USER_PREFIX + secrets.token_hex(4)
    service = "baoling-test-sudo-" + secrets.token_hex(4)
    pam_file = Path("/etc/pam.d") / service
    sudoers = Path("/etc/sudoers.d") / service
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", name],
        check=True,
    )
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{PASSWORD}", text=True, check=True)
        with closing(Verifier(data_dir=verifier[1])) as v:
            v.enrol(name, base64.b32decode(SECRET))
        # requisite: a wrong password ends sudo's authentication before the code is asked.
        pam_file.write_text(
            "auth requisite pam_unix.so\n"
            f"auth required pam_radius_auth.so conf={radius_conf} force_prompt "
            "[prompt=Token code]\n"
            "account required pam_unix.so\n"
            "session required pam_unix.so\n"
        )
        text = (
            f"Defaults:{name} pam_service={service}, passwd_tries=1, timestamp_timeout=0, "
            "!lecture\n"
            f"{name} ALL=(root) /usr/bin/id\n"
        )
        checked = subprocess.run(
            ["visudo", "-c", "-q", "-f", "-"], input=text, text=True, capture_output=True
        )
        assert checked.returncode == 0, checked.stderr
        sudoers.touch(mode=0o440)  # never readable by others, not even for a moment
        sudoers.write_text(text)
        yield SudoUser(name, unix_sshd)
    finally:
        sudoers.unlink(missing_ok=True)
        pam_file.unlink(missing_ok=True)
        remove_user(name)


@dataclass(frozen=True)
class Ran:
    status: int
    stdout: str
    stderr: str


def sudo_in_ssh_session(user: SudoUser, login_code: str, typed: list[str]) -> Ran:
    """Log in through sshd (Unix password, then `login_code`) and run `sudo -S -k id -un` in
    the session, typing `typed` one line each into sudo's prompts."""
    answers = iter([PASSWORD, login_code])

    def answer(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        assert prompts == UNIX_PROMPTS[: len(prompts)] or prompts == UNIX_PROMPTS[1:]
        return [next(answers) for _ in prompts]

    with paramiko.Transport(("127.0.0.1", user.port)) as transport:
        transport.connect()
        transport.auth_interactive(user.name, answer)
        channel = transport.open_session()
        channel.exec_command("sudo -S -k /usr/bin/id -un")
        channel.sendall("".join(line + "\n" for line in typed).encode())
        channel.shutdown_write()
        stdout = channel.makefile("r").read().decode()
        stderr = channel.makefile_stderr("r").read().decode()
        return Ran(channel.recv_exit_status(), stdout, stderr)


def validations(data_dir: Path, user: SudoUser) -> list[tuple[str, str]]:
    return [
        (detail["result"], detail["reason"])
        for action, detail in token_audit(data_dir, user.name)
        if action == "validate"
    ]


def test_sudo_asks_password_then_code_and_runs_the_command(sudo_user: SudoUser, verifier) -> None:
    totp = pyotp.TOTP(SECRET)
    now = time.time()
    ran = sudo_in_ssh_session(sudo_user, totp.at(now), [PASSWORD, totp.at(now + 30)])
    assert (ran.status, ran.stdout) == (0, "root\n")
    # Both prompts, in order, on stderr (sudo -S writes its prompts there).
    asked = "".join(SUDO_PROMPTS).format(user=sudo_user.name)
    assert ran.stderr.endswith(asked), ran.stderr
    assert validations(verifier[1], sudo_user) == [("accept", "accepted"), ("accept", "accepted")]
    rows = token_audit(verifier[1], sudo_user.name)
    assert {detail["radius_user"] for _, detail in rows} == {sudo_user.name}
    assert {detail["radius_client"] for _, detail in rows} == {"127.0.0.1"}


def test_sudo_refuses_a_wrong_code(sudo_user: SudoUser, verifier) -> None:
    totp = pyotp.TOTP(SECRET)
    ran = sudo_in_ssh_session(sudo_user, totp.now(), [PASSWORD, wrong_code(totp)])
    assert ran.status == 1 and ran.stdout == ""
    assert "1 incorrect password attempt" in ran.stderr
    assert validations(verifier[1], sudo_user) == [("accept", "accepted"), ("reject", "wrong_code")]


def test_sudo_refuses_a_replayed_code(sudo_user: SudoUser, verifier) -> None:
    """The code the SSH login used, typed again for sudo: a replay."""
    totp = pyotp.TOTP(SECRET)
    code = totp.now()
    ran = sudo_in_ssh_session(sudo_user, code, [PASSWORD, code])
    assert ran.status == 1 and ran.stdout == ""
    assert validations(verifier[1], sudo_user) == [("accept", "accepted"), ("reject", "replay")]


def test_a_wrong_password_ends_sudo_before_the_code_is_asked(sudo_user: SudoUser, verifier) -> None:
    totp = pyotp.TOTP(SECRET)
    now = time.time()
    ran = sudo_in_ssh_session(sudo_user, totp.at(now), ["7" + PASSWORD, totp.at(now + 30)])
    assert ran.status == 1 and ran.stdout == ""
    assert SUDO_PROMPTS[1] not in ran.stderr
    assert validations(verifier[1], sudo_user) == [("accept", "accepted")]
