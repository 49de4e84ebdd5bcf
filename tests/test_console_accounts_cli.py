"""`baoling verifier console-account add|list` (docs/console.md): the first admin account is
made here; the password comes from stdin, is never echoed or stored as itself; mistakes are one
line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert (detail["console_account"], detail["role"]) == ("root", "admin")
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
