"""Bad input to `baoling` (a damaged store, a folder that cannot be made, an empty flag, a
malformed URL or API key, a URL with a password) ends as one `Error:` line and a non-zero exit,
never a traceback, and never with a secret in it (docs/cli.md, "Exit codes").

Each test runs the real command in a child process, as a person would."""

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

SECRET = "S3cretPW"


def baoling(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`baoling ARGS` in a new process, with no BAOLING_ variable but those in `env`."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("BAOLING_")}
    return subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", *args],
        input="",
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=120,
    )


def one_error_line(proc: subprocess.CompletedProcess[str], exit_code: int = 1) -> str:
    """The message of the run's one `Error:` line, after checking there is no traceback."""
    assert proc.returncode == exit_code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, proc.stderr
    if exit_code == 1:  # a usage error (2) has the usage line and the help hint before it
        assert proc.stderr == lines[0] + "\n"
    return lines[0].removeprefix("Error: ")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder with its master key and store, made by a first command."""
    folder = tmp_path / "data"
    assert baoling("verifier", "--data-dir", str(folder), "list").returncode == 0
    return folder


# ------------------------------------------------------------------- the store's file


@pytest.mark.parametrize("command", [["list"], ["enrol", "alice"], ["migrate"]])
def test_a_store_file_that_is_no_sqlite_database_is_one_line(data_dir, command):
    garbage = os.urandom(5000)
    (data_dir / "verifier.sqlite3").write_bytes(garbage)
    message = one_error_line(baoling("verifier", "--data-dir", str(data_dir), *command))
    assert message == (
        f"database sqlite:///{data_dir}/verifier.sqlite3 failed: file is not a database (not a "
        "SQLite file, or a damaged one: restore it from a backup)"
    )
    assert (data_dir / "verifier.sqlite3").read_bytes() == garbage  # left as it was


def test_a_sqlite_file_of_another_program_is_one_line_and_left_as_it_was(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    other = folder / "verifier.sqlite3"
    with closing(sqlite3.connect(other)) as conn, conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    before = other.read_bytes()
    message = one_error_line(baoling("verifier", "--data-dir", str(folder), "list"))
    assert message == (
        f"the database sqlite:///{other} holds tables of another program and no Baoling store: "
        "give Baoling an empty or new database"
    )
    assert other.read_bytes() == before
    assert sorted(path.name for path in folder.iterdir()) == ["verifier.sqlite3"]


def test_an_empty_sqlite_file_becomes_a_store(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "verifier.sqlite3").touch()
    proc = baoling("verifier", "--data-dir", str(folder), "list")
    assert (proc.returncode, proc.stderr) == (0, "")


# ------------------------------------------------------------------- folders and files


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_data_folder_that_cannot_be_made_is_one_line():
    message = one_error_line(baoling("verifier", "--data-dir", "/proc/newdir", "list"))
    assert message == "cannot create the data folder /proc/newdir: No such file or directory"


def test_a_data_folder_name_too_long_is_one_line(tmp_path):
    folder = tmp_path / ("a" * 300)
    message = one_error_line(baoling("verifier", "--data-dir", str(folder), "list"))
    assert message == f"--data-dir: cannot be a folder (File name too long): '{folder}'"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_master_key_folder_that_cannot_be_made_is_one_line(tmp_path):
    key = "/proc/newdir/master.key"
    proc = baoling("verifier", "--data-dir", str(tmp_path), "--master-key-file", key, "list")
    assert one_error_line(proc) == (
        f"cannot create the folder of master key file {key}: No such file or directory"
    )


def test_a_wrong_master_key_path_for_a_store_leaves_no_folder_and_no_lock_file(data_dir, tmp_path):
    before = sorted(path.name for path in data_dir.iterdir())
    for key in (data_dir / "other.key", tmp_path / "elsewhere" / "master.key"):
        proc = baoling(
            "verifier", "--data-dir", str(data_dir), "--master-key-file", str(key), "list"
        )
        assert one_error_line(proc) == f"master key file {key} does not exist"
    assert sorted(path.name for path in data_dir.iterdir()) == before
    assert not (tmp_path / "elsewhere").exists()


# ------------------------------------------------------------------- empty values


def test_an_empty_master_key_file_flag_is_refused_in_one_line(data_dir):
    proc = baoling("verifier", "--data-dir", str(data_dir), "--master-key-file", "", "list")
    assert one_error_line(proc) == "--master-key-file: must not be empty: ''"


def test_a_master_key_file_that_is_a_folder_is_refused_in_one_line(data_dir):
    proc = baoling("verifier", "--data-dir", str(data_dir), "--master-key-file", ".", "list")
    assert one_error_line(proc) == "--master-key-file: a folder, not a file: '.'"


def test_an_empty_master_key_file_variable_is_unset(data_dir):
    proc = baoling(
        "verifier", "--data-dir", str(data_dir), "list", env={"BAOLING_MASTER_KEY_FILE": ""}
    )
    assert (proc.returncode, proc.stderr) == (0, "")


# ------------------------------------------------------------------- limits


def test_an_audit_limit_beyond_the_http_apis_is_a_usage_error(data_dir):
    huge = "99999999999999999999999"
    proc = baoling("verifier", "--data-dir", str(data_dir), "audit", "--limit", huge)
    assert one_error_line(proc, exit_code=2) == (
        f"Invalid value for '--limit': {huge} is not in the range 1<=x<=10000."
    )
    proc = baoling("verifier", "--data-dir", str(data_dir), "audit", "--limit", "10000")
    assert (proc.returncode, proc.stderr) == (0, "")


# ------------------------------------------------------------------- URLs and API keys


def test_a_malformed_server_url_is_one_line():
    proc = baoling("verifier", "--server", "http://[::1", "lost", "x", env={"BAOLING_API_KEY": "k"})
    assert one_error_line(proc) == (
        "--server (or $BAOLING_VERIFIER_URL): not an http:// or https:// URL"
    )


def test_a_malformed_webhook_url_is_one_line(data_dir, tmp_path):
    secret = tmp_path / "whsec"
    secret.write_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
    secret.chmod(0o600)
    proc = baoling(
        *("verifier", "--data-dir", str(data_dir), "events", "test", "webhook"),
        *("--events-webhook-url", "http://[::1", "--events-webhook-secret-file", str(secret)),
    )
    assert one_error_line(proc).startswith("--events-webhook-url: not an http:// or https:// URL: ")


def test_a_malformed_verifier_url_for_a_batch_is_one_line_and_writes_nothing(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("label\nalice\n")
    pskc = tmp_path / "o.pskc"
    proc = baoling(
        "token",
        "batch",
        str(manifest),
        "--pskc",
        str(pskc),
        "--verifier",
        "http://[::1",
        "--api-key",
        "K",
    )
    assert one_error_line(proc) == "--verifier: not an http:// or https:// URL"
    assert sorted(tmp_path.iterdir()) == [manifest]


@pytest.mark.parametrize("key", ["ключ", "bl_0123\nabc"])
def test_an_api_key_that_cannot_be_one_is_refused_without_showing_it(key):
    proc = baoling(
        "verifier", "--server", "http://127.0.0.1:9", "lost", "x", env={"BAOLING_API_KEY": key}
    )
    message = one_error_line(proc)
    assert message.startswith("$BAOLING_API_KEY: not a Baoling API key (")
    assert key not in proc.stderr and key.split("\n")[-1] not in proc.stderr


def test_a_non_ascii_api_key_for_a_batch_is_refused_before_anything_is_written(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("label\nalice\n")
    proc = baoling(
        *("token", "batch", str(manifest), "--pskc", str(tmp_path / "o.pskc")),
        *("--verifier", "http://127.0.0.1:9"),
        env={"BAOLING_API_KEY": "ключ"},
    )
    assert one_error_line(proc).startswith("--api-key (or $BAOLING_API_KEY): not a Baoling")
    assert "ключ" not in proc.stderr
    assert sorted(tmp_path.iterdir()) == [manifest]


# ------------------------------------------------------------------- secrets in URLs


def test_a_password_in_the_store_urls_query_is_masked(tmp_path):
    url = f"postgresql+psycopg://u@127.0.0.1:1/db?password={SECRET}"
    proc = baoling("verifier", "--data-dir", str(tmp_path), "--store-url", url, "list")
    message = one_error_line(proc)
    assert message.startswith("database postgresql+psycopg://u@127.0.0.1:1/db?password=*** ")
    assert SECRET not in proc.stderr


def test_a_password_in_the_server_url_is_masked():
    proc = baoling(
        *("verifier", "--server", f"http://u:{SECRET}@127.0.0.1:9", "lost", "x"),
        env={"BAOLING_API_KEY": "k"},
    )
    assert one_error_line(proc).startswith("the verifier at http://u:***@127.0.0.1:9 is ")
    assert SECRET not in proc.stderr


def test_a_refused_webhook_url_shows_neither_password_nor_path(data_dir, tmp_path):
    secret = tmp_path / "whsec"
    secret.write_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
    secret.chmod(0o600)
    proc = baoling(
        *("verifier", "--data-dir", str(data_dir), "events", "test", "webhook"),
        *("--events-webhook-url", f"ftp://u:{SECRET}@x/hooks/T0KEN"),
        *("--events-webhook-secret-file", str(secret)),
    )
    assert one_error_line(proc) == (
        "--events-webhook-url: not an http:// or https:// URL: 'ftp://x'"
    )
    assert SECRET not in proc.stderr and "T0KEN" not in proc.stderr
