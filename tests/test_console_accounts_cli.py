"""`baoling verifier console-account add|list|disable|enable|password|token` (docs/console.md):
the first admin account is made here; the password comes from stdin, is never echoed or stored
as itself; a deactivated account, a reset password or a changed token ends the account's
sessions and changes what signs in; mistakes are one line."""

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest

from baoling.verifier.console.accounts import SignInRefused
from baoling.verifier.service import Verifier

PASSWORD = "a long enough password"


def baoling(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "baoling.host_tools", "verifier", "--data-dir", str(data_dir)]
    return subprocess.run(
        [*command, *args], input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    v = Verifier(data_dir=tmp_path)
    v.enrol("console-root", b"0123456789abcdefghij")
    v.close()
    return tmp_path


def test_add_reads_the_password_from_stdin_and_keeps_only_its_hash(data_dir: Path) -> None:
    done = baoling(
        data_dir,
        "console-account",
        "add",
        "root",
        "--role",
        "admin",
        "--token",
        "console-root",
        stdin=PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Console account root (admin) signs in with token console-root.\n"
    listed = baoling(data_dir, "console-account", "list", "--json")
    assert json.loads(listed.stdout) == [
        {"account": "root", "role": "admin", "token": "console-root", "active": True}
    ]
    stored = (data_dir / "verifier.sqlite3").read_bytes()
    assert PASSWORD.encode() not in stored
    v = Verifier(data_dir=data_dir)
    try:
        rows = v.search_audit(action="console_account_add")
    finally:
        v.close()
    detail = rows[0]["detail"]
    assert (detail["account"], detail["role"]) == ("root", "admin")
    assert PASSWORD not in json.dumps(rows)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["root", "--role", "admin", "--token", "console-root"],
            "short\n",
            "Error: a password has at least 12 characters\n",
        ),
        (
            ["root", "--role", "admin", "--token", "nope"],
            PASSWORD + "\n",
            "Error: no token 'nope' is enrolled\n",
        ),
        (
            ["Root!", "--role", "admin", "--token", "console-root"],
            PASSWORD + "\n",
            "Error: an account name is 1 to 64 lower-case letters, digits, '.', '-' or '_', "
            "starting with a letter or digit\n",
        ),
    ],
)
def test_a_refused_account_is_one_line_and_nothing_is_added(
    data_dir: Path, args: list[str], stdin: str, message: str
) -> None:
    done = baoling(data_dir, "console-account", "add", *args, stdin=stdin)
    assert (done.returncode, done.stderr, done.stdout) == (1, message, "")
    assert baoling(data_dir, "console-account", "list").stdout == "No console accounts.\n"


def test_a_taken_name_is_refused(data_dir: Path) -> None:
    args = ["console-account", "add", "root", "--role", "helpdesk", "--token", "console-root"]
    assert baoling(data_dir, *args, stdin=PASSWORD + "\n").returncode == 0
    again = baoling(data_dir, *args, stdin=PASSWORD + "\n")
    assert (again.returncode, again.stderr) == (1, "Error: console account 'root' already exists\n")


SECRET = b"0123456789abcdefghij"  # the fixture's token console-root
TOTP = pyotp.TOTP(base64.b32encode(SECRET).decode())


def sign_in(data_dir: Path, password: str, at: float) -> str:
    """A console session of root at time `at` (a code of that step); SignInRefused if not."""
    v = Verifier(data_dir=data_dir)
    try:
        cookie, _ = v.console.sign_in("root", password, TOTP.at(at), now=at)
        return cookie
    finally:
        v.close()


def session_alive(data_dir: Path, cookie: str) -> bool:
    v = Verifier(data_dir=data_dir)
    try:
        return v.console.session(cookie, 900, 28800) is not None
    finally:
        v.close()


def test_disable_enable_password_and_token_each_end_the_sessions(data_dir: Path) -> None:
    add = ["console-account", "add", "root", "--role", "admin", "--token", "console-root"]
    assert baoling(data_dir, *add, stdin=PASSWORD + "\n").returncode == 0
    now = time.time()
    cookie = sign_in(data_dir, PASSWORD, now)
    assert session_alive(data_dir, cookie)

    done = baoling(data_dir, "console-account", "disable", "root")
    assert (done.returncode, done.stdout) == (
        0,
        "Console account root is inactive; its sessions ended.\n",
    )
    assert not session_alive(data_dir, cookie)
    with pytest.raises(SignInRefused):
        sign_in(data_dir, PASSWORD, now + 30)
    listed = json.loads(baoling(data_dir, "console-account", "list", "--json").stdout)
    assert listed[0]["active"] is False
    done = baoling(data_dir, "console-account", "enable", "root")
    assert done.stdout == "Console account root is active.\n"
    cookie = sign_in(data_dir, PASSWORD, now + 60)

    new_password = "another long passphrase"
    done = baoling(data_dir, "console-account", "password", "root", stdin=new_password + "\n")
    assert done.stdout == "Console account root has a new password; its sessions ended.\n"
    assert new_password not in done.stdout + done.stderr
    assert not session_alive(data_dir, cookie)
    with pytest.raises(SignInRefused):
        sign_in(data_dir, PASSWORD, now + 90)
    cookie = sign_in(data_dir, new_password, now + 120)

    spare = pyotp.random_base32()
    v = Verifier(data_dir=data_dir)
    try:
        v.enrol("console-root-2", base64.b32decode(spare))
    finally:
        v.close()
    done = baoling(data_dir, "console-account", "token", "root", "--token", "console-root-2")
    assert done.stdout == "Console account root signs in with token console-root-2 now.\n"
    assert not session_alive(data_dir, cookie)
    with pytest.raises(SignInRefused):  # the old token's code no longer signs in
        sign_in(data_dir, new_password, now + 150)
    v = Verifier(data_dir=data_dir)
    try:
        at = now + 180
        v.console.sign_in("root", new_password, pyotp.TOTP(spare).at(at), now=at)
        rows = v.search_audit(detail={"account": "root"})
    finally:
        v.close()
    actions = [row["action"] for row in rows if row["action"].startswith("console_account_")]
    assert actions == [
        "console_account_token",
        "console_account_password",
        "console_account_enable",
        "console_account_disable",
        "console_account_add",
    ]
    assert new_password not in json.dumps(rows) and PASSWORD not in json.dumps(rows)
    stored = (data_dir / "verifier.sqlite3").read_bytes()
    assert new_password.encode() not in stored


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["disable", "nobody"], "", "Error: no console account 'nobody'\n"),
        (["password", "nobody"], PASSWORD + "\n", "Error: no console account 'nobody'\n"),
        (["password", "root"], "short\n", "Error: a password has at least 12 characters\n"),
        (["token", "root", "--token", "nope"], "", "Error: no token 'nope' is enrolled\n"),
    ],
)
def test_a_refused_change_is_one_line_and_changes_nothing(
    data_dir: Path, args: list[str], stdin: str, message: str
) -> None:
    add = ["console-account", "add", "root", "--role", "admin", "--token", "console-root"]
    assert baoling(data_dir, *add, stdin=PASSWORD + "\n").returncode == 0
    done = baoling(data_dir, "console-account", *args, stdin=stdin)
    assert (done.returncode, done.stderr, done.stdout) == (1, message, "")
    listed = json.loads(baoling(data_dir, "console-account", "list", "--json").stdout)
    assert listed == [{"account": "root", "role": "admin", "token": "console-root", "active": True}]
