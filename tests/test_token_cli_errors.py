"""Every user mistake gives one line on stderr, exit code 1, no traceback, and changes nothing.

The messages asserted here are the ones docs/cli.md lists.
"""

import json
import os
import socket

import pytest
from provisioning_sim import baoling, run_baoling, sim_token

from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.link import open_port
from baoling.provisioning.profile import Profile
from baoling.provisioning.provision import provision

SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def fails_with(proc, message: str) -> None:
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"Error: {message}\n")


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory):
    """A token in development mode with slot 0 in use."""
    folder = tmp_path_factory.mktemp("dev")
    with sim_token(folder / "token") as (sim, tok):
        provision(tok, Profile(bytes(range(20)), label="alice"), keys=KeyStore(folder / "k"))
        tok.link.close()
        yield sim


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    """A locked token with slot 0 in use; its admin key is in `keys`."""
    folder = tmp_path_factory.mktemp("locked")
    with sim_token(folder / "token") as (sim, tok):
        provision(
            tok, Profile(bytes(range(20)), label="alice"), lock=True, keys=KeyStore(folder / "k")
        )
        tok.link.close()
        sim.keys = folder / "k"
        yield sim


def profiles(sim) -> list:
    return json.loads(baoling("token", "info", "--port", sim.port, "--json").stdout)["profiles"]


def test_no_such_port():
    fails_with(
        run_baoling("token", "info", "--port", "/dev/baoling-no-such-port"),
        "There is no serial port /dev/baoling-no-such-port. Is the token plugged in? "
        "`baoling token list` shows the tokens it finds.",
    )


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda path: path.write_text("root:x:0:0\n"), "a file"),
        (lambda path: path.mkdir(), "a folder"),
        (lambda path: os.mkfifo(path), "a pipe"),
    ],
)
def test_a_path_that_is_not_a_device_is_named_for_what_it_is(tmp_path, make, kind):
    path = tmp_path / "port"
    make(path)
    fails_with(
        run_baoling("token", "info", "--port", str(path)),
        f"{path} is {kind}, not a serial port. Give the token's port, such as /dev/ttyACM0 "
        "(`baoling token list` shows the tokens it finds).",
    )


def test_a_device_that_is_not_a_serial_port_says_so():
    fails_with(
        run_baoling("token", "info", "--port", "/dev/null"),
        "/dev/null is a device, but not a serial port. Give the token's port, such as "
        "/dev/ttyACM0 (`baoling token list` shows the tokens it finds).",
    )


def test_port_busy(provisioned):
    holder = open_port(provisioned.port)
    try:
        fails_with(
            run_baoling("token", "info", "--port", provisioned.port),
            f"Serial port {provisioned.port} is in use by another program (a terminal, mpremote, "
            "another baoling?). Close it and try again.",
        )
    finally:
        holder.close()


def test_not_a_token():
    controller, device = os.openpty()  # a serial line with nothing speaking the protocol
    try:
        port = os.ttyname(device)
        fails_with(
            run_baoling("token", "info", "--port", port),
            f"{port} does not answer as a Baoling token: is the token's firmware flashed "
            "(`baoling token flash`) and running, not stopped at the REPL?",
        )
    finally:
        os.close(controller)
        os.close(device)


def test_no_at_the_question_with_json_is_an_aborted_object_and_the_token_unchanged(provisioned):
    proc = run_baoling("token", "wipe", "--port", provisioned.port, "--json", stdin="n\n")
    assert (proc.returncode, proc.stdout) == (1, "")
    question, error = proc.stderr.splitlines()
    assert question.startswith("Erase every secret on token ")
    assert json.loads(error) == {"error": "aborted", "message": "Aborted."}
    assert [p["label"] for p in profiles(provisioned)] == ["alice"]


def test_token_locked(locked, tmp_path):
    fails_with(
        run_baoling(
            "token", "lock", "--port", locked.port, "--keys", str(tmp_path / "k"), "--force"
        ),
        f"The token on {locked.port} is locked: only `baoling token wipe`, confirmed on the "
        "token's button, unlocks it.",
    )


def test_slot_occupied_in_development_mode_needs_force(provisioned, tmp_path):
    fails_with(
        run_baoling(
            "token",
            "provision",
            "--port",
            provisioned.port,
            "--secret",
            "-",
            "--keys",
            str(tmp_path / "k"),
            stdin=SECRET,
        ),
        f"Slot 0 of the token on {provisioned.port} already holds a profile: add --force to "
        "replace it, or choose a free slot with --slot.",
    )
    assert [p["label"] for p in profiles(provisioned)] == ["alice"]


def test_slot_occupied_on_a_locked_token(locked):
    fails_with(
        run_baoling(
            "token",
            "provision",
            "--port",
            locked.port,
            "--secret",
            "-",
            "--force",
            "--keys",
            str(locked.keys),
            stdin=SECRET,
        ),
        f"Slot 0 of the token on {locked.port} is occupied and the token is locked: write to a "
        "free slot (`baoling token info` lists them).",
    )


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "otpauth://hotp/alice?secret=GEZDGNBVGY3TQOJQ&counter=1",
            "The otpauth URI is for HOTP (counter-based codes); a Baoling token shows TOTP only.",
        ),
        (
            "otpauth://totp/A:alice?secret=GEZDGNBVGY3TQOJQ&issuer=B",
            "The otpauth URI's issuer 'A' in the label does not match its issuer parameter 'B'.",
        ),
        ("https://example.com/", "Not an otpauth URI: it must start with otpauth://totp/."),
    ],
)
def test_bad_uri(provisioned, tmp_path, uri, message):
    fails_with(
        run_baoling(
            "token",
            "provision",
            "--port",
            provisioned.port,
            "--slot",
            "1",
            "--uri",
            "-",
            "--keys",
            str(tmp_path / "k"),
            stdin=uri,
        ),
        message,
    )
    assert [p["slot"] for p in profiles(provisioned)] == [0]


def test_bad_base32(provisioned, tmp_path):
    fails_with(
        run_baoling(
            "token",
            "provision",
            "--port",
            provisioned.port,
            "--slot",
            "1",
            "--secret",
            "-",
            "--keys",
            str(tmp_path / "k"),
            stdin="NOT-BASE32-18!\n",
        ),
        "secret is not base32: character 12 is not A-Z or 2-7",
    )


def test_verifier_unreachable_fails_before_the_token_changes(provisioned, tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    fails_with(
        run_baoling(
            "token",
            "provision",
            "--port",
            provisioned.port,
            "--slot",
            "1",
            "--verifier",
            url,
            "--api-key",
            "k",
            "--keys",
            str(tmp_path / "k"),
        ),
        f"The verifier at {url} is unreachable (ConnectError): is it running, and is the URL "
        "right?",
    )
    assert [p["slot"] for p in profiles(provisioned)] == [0]


def test_new_secret_without_a_destination_is_a_usage_error(provisioned):
    proc = run_baoling("token", "provision", "--port", provisioned.port, "--slot", "1")
    assert proc.returncode == 2
    assert proc.stderr.endswith(
        "Error: A new secret must be registered somewhere: give --verifier, --pskc or --show-uri.\n"
    )
