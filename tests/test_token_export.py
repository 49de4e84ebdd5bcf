"""`baoling token export`: secrets exported again from the keys file the host kept (the PSKC file
of `provision --pskc` or a batch), never from the token. The URIs and the PSKC file it writes
carry the secrets the token holds (the token proves them; pyotp's code is the one on its
screen); a missing or locked keys file, or an existing output, is refused in one line."""

import base64
import hashlib
import json
import os
from pathlib import Path

import pyotp
import pytest
from provisioning_sim import baoling, run_baoling
from pskc import PSKC

from baoling.host_tools.simulator import Simulator

PASSWORD = "keys password 1"
OUT_PASSWORD = "export password 2"


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory) -> tuple[Simulator, Path, str]:
    """A token with two slots, their secrets kept in a password-locked keys file."""
    tmp = tmp_path_factory.mktemp("export")
    keys = tmp / "staff.pskc"
    with Simulator(tmp / "token") as sim:
        for slot, algorithm in (("0", "sha1"), ("1", "sha256")):
            proc = baoling(
                *("token", "provision", "--port", sim.port, "--slot", slot),
                *("--label", f"alice{slot}", "--issuer", "ACME", "--algorithm", algorithm),
                *("--pskc", str(keys), "--pskc-password"),
                *(("--pskc-append",) if slot == "1" else ()),
                env={"BAOLING_PSKC_PASSWORD": PASSWORD},
            )
            assert proc.returncode == 0, proc.stderr
        serial = json.loads(baoling("token", "info", "--port", sim.port, "--json").stdout)
        yield sim, keys, serial["serial"]


def export(*args: str, env: dict | None = None):
    return baoling("token", "export", *args, env={"BAOLING_KEYS_PASSWORD": PASSWORD, **(env or {})})


def proves(sim: Simulator, slot: int, secret_b32: str) -> bool:
    proc = baoling(
        "token", "prove", "--port", sim.port, "--slot", str(slot), "--secret", "-",
        stdin=secret_b32 + "\n",
    )  # fmt: skip
    return proc.returncode == 0


def test_uris_from_the_keys_file_carry_the_secrets_the_token_holds(provisioned):
    sim, keys, serial = provisioned
    proc = export("--keys", str(keys), "--keys-password", "--uri", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["tokens"] == [f"{serial}-0", f"{serial}-1"]
    totps = [pyotp.parse_uri(uri) for uri in data["uris"]]
    assert [t.digest().name for t in totps] == ["sha1", "sha256"]
    assert [t.name for t in totps] == ["alice0", "alice1"]
    for slot, totp in enumerate(totps):
        assert proves(sim, slot, totp.secret)
    screen = sim.wait_screen(
        lambda s: s.get("screen") == "code" and s.get("code") == totps[0].now(), 10
    )
    assert screen["code"] == totps[0].now()


def test_qr_and_uri_text_name_each_slot(provisioned):
    _, keys, serial = provisioned
    proc = export("--keys", str(keys), "--keys-password", "--serial", serial, "--qr")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{serial}-0: otpauth://totp/ACME:alice0?")
    assert sum(line.startswith(f"{serial}-") for line in lines) == 2
    assert len(lines) > 20  # the QR codes, drawn in the terminal


def test_a_new_pskc_file_from_the_keys_file_imports_with_the_token_s_secrets(provisioned, tmp_path):
    sim, keys, serial = provisioned
    out = tmp_path / "for-privacyidea.pskc"
    proc = export(
        *("--keys", str(keys), "--keys-password", "--pskc", str(out), "--pskc-password"),
        env={"BAOLING_PSKC_PASSWORD": OUT_PASSWORD},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"2 slots exported to {out}.\n"
    assert out.stat().st_mode & 0o777 == 0o600
    pskc = PSKC(str(out))
    pskc.encryption.derive_key(OUT_PASSWORD)
    assert [key.serial for key in pskc.keys] == [f"{serial}-0", f"{serial}-1"]
    for slot, key in enumerate(pskc.keys):
        digest = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}[key.algorithm_suite]
        secret_b32 = base64.b32encode(key.secret).decode().rstrip("=")
        totp = pyotp.TOTP(secret_b32, digest=digest, interval=key.time_interval)
        assert proves(sim, slot, totp.secret)
        if slot == 0:
            sim.wait_screen(lambda s, t=totp: s.get("code") == t.now(), 10)


def test_a_piped_password_is_read_as_typed_and_without_a_warning(provisioned):
    """Piped, the password is the line as given (its spaces kept), and no prompt is shown: a
    prompt on a pipe prints getpass's warning that the input may be echoed."""
    _, keys, serial = provisioned
    proc = run_baoling(
        *("token", "export", "--keys", str(keys), "--keys-password", "--uri", "--json"),
        stdin=PASSWORD + "\n",
        env={**os.environ, "BAOLING_KEYS_PASSWORD": ""},
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert json.loads(proc.stdout)["tokens"] == [f"{serial}-0", f"{serial}-1"]


def refused(*args: str, env: dict | None = None) -> str:
    proc = run_baoling(
        "token", "export", *args, env={**os.environ, "BAOLING_KEYS_PASSWORD": "", **(env or {})}
    )
    assert (proc.returncode, proc.stdout) == (1, ""), proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    return proc.stderr


def test_a_missing_keys_file_is_refused(tmp_path):
    missing = tmp_path / "staff.pskc"
    assert refused("--keys", str(missing), "--uri") == (
        f"Error: The keys file {missing} does not exist: give the PSKC file the batch or `token "
        "provision --pskc` wrote (a token never gives its secrets back).\n"
    )


def test_an_admin_key_file_given_as_the_keys_file_is_refused(tmp_path):
    """`provision --keys` names the admin key file; `export --keys` the PSKC file: the mix-up is
    one line that says which file is wanted."""
    admin_keys = tmp_path / "admin-keys.json"
    admin_keys.write_text('{"E6614C311B4A": "00"}\n')
    assert refused("--keys", str(admin_keys), "--uri") == (
        f"Error: The keys file {admin_keys} is not a PSKC file: give the PSKC file the batch or "
        "`token provision --pskc` wrote (an admin key file holds no OTP secrets).\n"
    )


def test_a_locked_keys_file_without_its_password_is_refused(provisioned):
    _, keys, _ = provisioned
    assert refused("--keys", str(keys), "--uri") == (
        f"Error: The keys file {keys} is locked with a password: give --keys-password (the "
        "password from $BAOLING_KEYS_PASSWORD or a prompt).\n"
    )


def test_a_keys_file_with_the_wrong_password_is_refused(provisioned):
    _, keys, _ = provisioned
    stderr = refused(
        "--keys", str(keys), "--keys-password", "--uri", env={"BAOLING_KEYS_PASSWORD": "wrong!!!"}
    )
    assert stderr == (
        f"Error: The keys file {keys} does not open with this password: give the one it was "
        "written with.\n"
    )


def test_a_keys_file_locked_with_a_pre_shared_key_needs_its_key_file(tmp_path):
    sim_dir = tmp_path / "token"
    key_file = tmp_path / "transport.key"
    key_file.write_text("00112233445566778899aabbccddeeff\n")
    keys = tmp_path / "k.pskc"
    with Simulator(sim_dir) as sim:
        proc = baoling(
            *("token", "provision", "--port", sim.port, "--label", "bob"),
            *("--pskc", str(keys), "--pskc-key-file", str(key_file)),
        )
        assert proc.returncode == 0, proc.stderr
    assert refused("--keys", str(keys), "--keys-password", "--uri") == (
        f"Error: The keys file {keys} is locked with the pre-shared key transport.key: give its "
        "key file with --keys-key-file.\n"
    )
    other = tmp_path / "other.key"
    other.write_text("ffeeddccbbaa99887766554433221100\n")
    assert refused("--keys", str(keys), "--keys-key-file", str(other), "--uri") == (
        f"Error: The keys file {keys} does not open with this key: give the one it was written "
        "with.\n"
    )
    opened = export("--keys", str(keys), "--keys-key-file", str(key_file), "--uri", "--json")
    assert opened.returncode == 0, opened.stderr
    assert pyotp.parse_uri(json.loads(opened.stdout)["uris"][0]).name == "bob"


def test_an_existing_output_is_never_replaced(provisioned, tmp_path):
    _, keys, _ = provisioned
    out = tmp_path / "out.pskc"
    out.write_text("kept\n")
    assert refused("--keys", str(keys), "--keys-password", "--pskc", str(out)) == (
        f"Error: {out} exists: an export never replaces a file; give a new --pskc name.\n"
    )
    assert out.read_text() == "kept\n"


def test_an_unknown_serial_is_refused(provisioned):
    _, keys, _ = provisioned
    assert refused(
        "--keys", str(keys), "--keys-password", "--serial", "nosuch", "--uri",
        env={"BAOLING_KEYS_PASSWORD": PASSWORD},
    ) == f"Error: The keys file {keys} holds no token nosuch.\n"  # fmt: skip


def test_one_output_kind_is_required(provisioned):
    _, keys, _ = provisioned
    proc = run_baoling("token", "export", "--keys", str(keys), "--uri", "--qr")
    assert proc.returncode == 2
    assert proc.stderr.endswith("Error: Give one of --pskc FILE, --uri or --qr.\n")
