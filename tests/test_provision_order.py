"""Every option of `token provision` and `token batch` is checked before the token is touched
(docs/provisioning.md, "What is checked first"): each mistake is one line and the token's
`info` is the same before and after. A verifier that fails after the write (mid-batch) leaves
the token recorded as not enrolled, says so, and the same command run again enrols it."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from provisioning_sim import baoling, run_baoling

from baoling.host_tools.simulator import Simulator
from baoling.host_tools.verifier_process import ServerProcess
from baoling.provisioning.batch import Batch, Results, read_manifest
from baoling.provisioning.enrol import VerifierClient
from baoling.provisioning.errors import EnrolError
from baoling.provisioning.keystore import KeyStore
from baoling.provisioning.link import Link
from baoling.provisioning.profile import Profile
from baoling.provisioning.provision import provision
from baoling.provisioning.pskc_export import PskcFile
from baoling.provisioning.token import Token, system_clock_ms
from baoling.verifier.service import Verifier

PASSWORD = "batch password 1"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "token") as simulator:
        yield simulator


def info(port: str) -> dict:
    """The token's `info --json` without the two clocks that move on their own."""
    shown = json.loads(baoling("token", "info", "--port", port, "--json").stdout)
    return {k: v for k, v in shown.items() if k not in ("time_ms", "uptime_ms")}


def refused_untouched(sim: Simulator, *args: str, env: dict | None = None) -> str:
    """Run `baoling token provision` with `args`; assert one line, exit 1, the token unchanged."""
    before = info(sim.port)
    proc = run_baoling(
        "token", "provision", "--port", sim.port, *args, env={**os.environ, **(env or {})}
    )
    assert (proc.returncode, proc.stdout) == (1, ""), proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert info(sim.port) == before
    return proc.stderr


def test_short_pskc_password_fails_before_the_token(sim, tmp_path):
    out = tmp_path / "t.pskc"
    stderr = refused_untouched(
        sim,
        *("--label", "a", "--pskc", str(out), "--pskc-password", "--lock"),
        *("--keys", str(tmp_path / "k")),
        env={"BAOLING_PSKC_PASSWORD": "short"},
    )
    assert stderr == "Error: The PSKC password must have at least 8 characters.\n"
    assert not out.exists() and not (tmp_path / "k").exists()


def test_one_byte_pskc_key_fails_before_the_token(sim, tmp_path):
    key_file = tmp_path / "psk.hex"
    key_file.write_text("ab\n")
    stderr = refused_untouched(
        sim, "--label", "a", "--pskc", str(tmp_path / "t.pskc"), "--pskc-key-file", str(key_file)
    )
    assert stderr == (
        "Error: The PSKC key must be 16 bytes: privacyIDEA and LinOTP decrypt AES-128 only "
        "(the rfc6030 flavour also takes 24 or 32).\n"
    )


def test_unwritable_pskc_output_fails_before_the_token(sim, tmp_path):
    in_the_way = tmp_path / "notes.txt"
    in_the_way.write_text("a file, not a folder\n")
    out = in_the_way / "t.pskc"
    stderr = refused_untouched(sim, "--label", "a", "--pskc", str(out))
    assert stderr == (
        f"Error: The PSKC file {out} cannot be written: {in_the_way} cannot be a folder: a file "
        "is in its way.\n"
    )


def test_pskc_output_that_is_a_folder_is_a_usage_error_before_the_token(sim, tmp_path):
    before = info(sim.port)
    proc = run_baoling("token", "provision", "--port", sim.port, "--pskc", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.endswith(
        f"Error: Invalid value for '--pskc': File '{tmp_path}' is a directory.\n"
    )
    assert info(sim.port) == before


def test_existing_output_that_is_no_pskc_file_fails_before_the_token(sim, tmp_path):
    out = tmp_path / "t.pskc"
    out.write_text("someone's notes\n")
    stderr = refused_untouched(sim, "--label", "a", "--pskc", str(out), "--pskc-append")
    assert stderr == f"Error: The existing file {out} is not a PSKC file: give a new file.\n"
    assert out.read_text() == "someone's notes\n"


def test_existing_output_with_another_password_fails_before_the_token(sim, tmp_path):
    out = tmp_path / "t.pskc"
    first = baoling(
        *("token", "provision", "--port", sim.port, "--label", "a", "--slot", "1"),
        *("--pskc", str(out), "--pskc-password"),
        env={"BAOLING_PSKC_PASSWORD": PASSWORD},
    )
    assert first.returncode == 0, first.stderr
    kept = out.read_bytes()
    stderr = refused_untouched(
        sim,
        *("--label", "b", "--pskc", str(out), "--pskc-append", "--pskc-password"),
        env={"BAOLING_PSKC_PASSWORD": "another password"},
    )
    assert stderr == (
        f"Error: The existing PSKC file {out} does not open with this password: give the one it "
        "was written with.\n"
    )
    assert out.read_bytes() == kept


@pytest.mark.parametrize(
    ("written_with", "given", "needed"),
    [
        (
            (),
            ("--pskc-key-file", "psk.hex"),
            "is not encrypted: add to it without --pskc-key-file and --pskc-password",
        ),
        (
            (),
            ("--pskc-password",),
            "is not encrypted: add to it without --pskc-key-file and --pskc-password",
        ),
        (
            ("--pskc-key-file", "psk.hex"),
            ("--pskc-password",),
            "is protected by the pre-shared key psk.hex: give its key file with --pskc-key-file",
        ),
        (
            ("--pskc-key-file", "psk.hex"),
            (),
            "is protected by the pre-shared key psk.hex: give its key file with --pskc-key-file",
        ),
        (
            ("--pskc-password",),
            ("--pskc-key-file", "psk.hex"),
            "is protected by a password: give it with --pskc-password",
        ),
        (("--pskc-password",), (), "is protected by a password: give it with --pskc-password"),
    ],
)
def test_existing_output_keeps_its_protection(sim, tmp_path, written_with, given, needed):
    """Added to (--pskc-append), a PSKC file keeps the protection it was written with: another
    one (a plain file given a key, a key file given a password, ...) is one line naming what the
    file needs, before the token is touched; never python-pskc's 'No algorithm specified', never
    a plain file silently encrypted."""
    (tmp_path / "psk.hex").write_text("00112233445566778899aabbccddeeff\n")
    written_with, given = (
        tuple(str(tmp_path / a) if a == "psk.hex" else a for a in args)
        for args in (written_with, given)
    )
    out = tmp_path / "t.pskc"
    env = {"BAOLING_PSKC_PASSWORD": PASSWORD}
    first = baoling(
        *("token", "provision", "--port", sim.port, "--label", "a", "--slot", "1"),
        *("--pskc", str(out), *written_with),
        env=env,
    )
    assert first.returncode == 0, first.stderr
    kept = out.read_bytes()
    stderr = refused_untouched(
        sim, "--label", "b", "--pskc", str(out), "--pskc-append", *given, env=env
    )
    assert stderr == f"Error: The existing PSKC file {out} {needed}.\n"
    assert out.read_bytes() == kept


def pskc_labels(path: Path) -> list[str]:
    return [entry.profile.label for entry in PskcFile(path, append=True).entries()]


def test_existing_pskc_output_is_refused_before_the_token(sim, tmp_path):
    """An existing --pskc file is not added to unless asked: one line, the token and the file
    unchanged (a mistyped name must not mix a secret into another batch's file)."""
    out = tmp_path / "t.pskc"
    first = baoling(
        *("token", "provision", "--port", sim.port, "--label", "a", "--slot", "1"),
        "--pskc",
        str(out),
    )
    assert first.returncode == 0, first.stderr
    kept = out.read_bytes()
    stderr = refused_untouched(sim, "--label", "b", "--pskc", str(out))
    assert (
        stderr == f"Error: {out} exists: give --pskc-append to add to it, or a new --pskc name.\n"
    )
    assert out.read_bytes() == kept


def test_pskc_append_adds_to_an_existing_file(sim, tmp_path):
    out = tmp_path / "t.pskc"
    first = baoling(
        *("token", "provision", "--port", sim.port, "--label", "a", "--slot", "1"),
        "--pskc",
        str(out),
    )
    assert first.returncode == 0, first.stderr
    added = baoling(
        *("token", "provision", "--port", sim.port, "--label", "b"),
        "--pskc",
        str(out),
        "--pskc-append",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.endswith(f"\nAdded to {out}.\n")
    assert pskc_labels(out) == ["a", "b"]
    profiles = info(sim.port)["profiles"]
    assert (profiles[0]["label"], profiles[1]["label"]) == ("b", "a")


def test_pskc_append_without_a_pskc_file_is_a_usage_error(sim, tmp_path):
    proc = run_baoling("token", "provision", "--port", sim.port, "--label", "a", "--pskc-append")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.endswith(
        "Error: --pskc-key-file, --pskc-password and --pskc-append go with a --pskc FILE.\n"
    )


def test_batch_refuses_an_existing_pskc_file_unless_appending(sim, tmp_path):
    """A first run of a batch refuses an existing PSKC file before any token (no results file
    written); --pskc-append adds the batch's tokens to it."""
    out = tmp_path / "s.pskc"
    first = baoling(
        *("token", "provision", "--port", sim.port, "--label", "a", "--slot", "1"),
        "--pskc",
        str(out),
    )
    assert first.returncode == 0, first.stderr
    kept, before = out.read_bytes(), info(sim.port)
    manifest = tmp_path / "staff.csv"
    manifest.write_text("label\nalice\n")
    args = ["token", "batch", str(manifest), "--port", sim.port, "--pskc", str(out)]
    proc = run_baoling(*args)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        f"Error: {out} exists: give --pskc-append to add to it, or a new --pskc name.\n"
    )
    assert info(sim.port) == before and out.read_bytes() == kept
    assert not (tmp_path / "staff.csv.results.jsonl").exists()
    appended = baoling(*args, "--pskc-append", "--json")
    assert appended.returncode == 0, appended.stderr
    assert json.loads(appended.stdout)["done"] == 1
    assert pskc_labels(out) == ["a", "alice"]


def test_taken_slot_fails_before_the_token(sim, tmp_path):
    out = tmp_path / "t.pskc"
    first = baoling("token", "provision", "--port", sim.port, "--label", "a", "--pskc", str(out))
    assert first.returncode == 0, first.stderr
    kept = out.read_bytes()
    stderr = refused_untouched(
        sim, "--label", "b", "--pskc", str(out), "--pskc-append", "--slot", "0"
    )
    assert stderr == (
        f"Error: Slot 0 of the token on {sim.port} already holds a profile: add --force to "
        "replace it, or choose a free slot with --slot.\n"
    )
    assert out.read_bytes() == kept


def test_unreachable_verifier_fails_before_the_token(sim, tmp_path):
    url = "http://127.0.0.1:9"  # discard: nothing listens there
    stderr = refused_untouched(
        sim, "--label", "a", "--verifier", url, "--api-key", "k", "--pskc", str(tmp_path / "t")
    )
    assert stderr == (
        f"Error: The verifier at {url} is unreachable (ConnectError): is it running, and is the "
        "URL right?\n"
    )
    assert not (tmp_path / "t").exists()


def test_a_web_server_that_is_no_verifier_fails_before_the_token(sim, tmp_path):
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().split("port ")[1].split()[0]
        url = f"http://127.0.0.1:{port}"
        stderr = refused_untouched(sim, "--label", "a", "--verifier", url, "--api-key", "k")
    finally:
        server.terminate()
        server.wait()
    assert stderr == (
        f"Error: The verifier at {url} does not answer as a Baoling verifier (GET /healthz gave "
        "HTTP 404): is the URL right?\n"
    )


def test_key_file_others_can_read_fails_before_the_token_is_written(sim, tmp_path):
    keys = tmp_path / "k.json"
    keys.write_text("{}")
    keys.chmod(0o644)
    stderr = refused_untouched(
        sim, "--label", "a", "--pskc", str(tmp_path / "t"), "--lock", "--keys", str(keys)
    )
    assert stderr == (
        f"Error: Admin key file {keys} can be read by other users: run `chmod 600 {keys}` and "
        "check who has seen it.\n"
    )


def test_key_file_that_cannot_be_written_fails_before_the_token(sim, tmp_path):
    in_the_way = tmp_path / "config"
    in_the_way.write_text("")
    keys = in_the_way / "k.json"
    stderr = refused_untouched(
        sim, "--label", "a", "--pskc", str(tmp_path / "t"), "--lock", "--keys", str(keys)
    )
    assert stderr == (
        f"Error: Admin key file {keys} cannot be written: {in_the_way} cannot be a folder: a "
        "file is in its way.\n"
    )


def test_batch_with_an_unwritable_results_file_touches_no_token(sim, tmp_path):
    manifest = tmp_path / "staff.csv"
    manifest.write_text("label\nalice\n")
    in_the_way = tmp_path / "out"
    in_the_way.write_text("")
    before = info(sim.port)
    proc = run_baoling(
        *("token", "batch", str(manifest), "--port", sim.port),
        *("--results", str(in_the_way / "r.jsonl"), "--pskc", str(tmp_path / "s.pskc")),
    )
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        f"Error: The results file {in_the_way / 'r.jsonl'} cannot be written: {in_the_way} "
        "cannot be a folder: a file is in its way.\n"
    )
    assert "Traceback" not in proc.stderr
    assert info(sim.port) == before


def test_batch_with_an_unreachable_verifier_touches_no_token(sim, tmp_path):
    manifest = tmp_path / "staff.csv"
    manifest.write_text("label\nalice\n")
    before = info(sim.port)
    url = "http://127.0.0.1:9"
    proc = run_baoling(
        *("token", "batch", str(manifest), "--port", sim.port),
        *("--verifier", url, "--api-key", "k"),
    )
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        f"Error: The verifier at {url} is unreachable (ConnectError): is it running, and is "
        "the URL right?\n"
    )
    assert info(sim.port) == before
    assert not (tmp_path / "staff.csv.results.jsonl").exists()


def _short_password(tmp_path: Path) -> tuple[list[str], dict[str, str], str]:
    return (
        ["--pskc-password", "--lock", "--keys", str(tmp_path / "k")],
        {"BAOLING_PSKC_PASSWORD": "short"},
        "Error: The PSKC password must have at least 8 characters.\n",
    )


def _one_byte_key(tmp_path: Path) -> tuple[list[str], dict[str, str], str]:
    key_file = tmp_path / "psk.hex"
    key_file.write_text("ab\n")
    return (
        ["--pskc-key-file", str(key_file)],
        {},
        "Error: The PSKC key must be 16 bytes: privacyIDEA and LinOTP decrypt AES-128 only "
        "(the rfc6030 flavour also takes 24 or 32).\n",
    )


def _unwritable_output(tmp_path: Path) -> tuple[list[str], dict[str, str], str]:
    in_the_way = tmp_path / "notes.txt"
    in_the_way.write_text("a file, not a folder\n")
    out = in_the_way / "s.pskc"
    return (
        ["--pskc", str(out)],
        {},
        f"Error: The PSKC file {out} cannot be written: {in_the_way} cannot be a folder: a file "
        "is in its way.\n",
    )


def _key_file_others_read(tmp_path: Path) -> tuple[list[str], dict[str, str], str]:
    keys = tmp_path / "k.json"
    keys.write_text("{}")
    keys.chmod(0o644)
    return (
        ["--lock", "--keys", str(keys)],
        {},
        f"Error: Admin key file {keys} can be read by other users: run `chmod 600 {keys}` and "
        "check who has seen it.\n",
    )


@pytest.mark.parametrize(
    "mistake",
    [_short_password, _one_byte_key, _unwritable_output, _key_file_others_read],
    ids=["short password", "one-byte key", "unwritable output", "key file others read"],
)
def test_batch_with_a_bad_option_touches_no_token(sim, tmp_path, mistake):
    """The same mistakes as for `provision`, given to `token batch`: one line (no progress bar
    before it), exit 1, the token's `info` unchanged and no results file."""
    manifest = tmp_path / "staff.csv"
    manifest.write_text("label\nalice\n")
    args, env, message = mistake(tmp_path)
    if "--pskc" not in args:
        args = ["--pskc", str(tmp_path / "s.pskc"), *args]
    before = info(sim.port)
    proc = run_baoling(
        *("token", "batch", str(manifest), "--port", sim.port, *args),
        env={**os.environ, **env},
    )
    assert (proc.returncode, proc.stdout) == (1, ""), proc.stderr
    assert proc.stderr == message  # one line, before the progress bar
    assert info(sim.port) == before
    assert not (tmp_path / "staff.csv.results.jsonl").exists()
    assert not (tmp_path / "s.pskc").exists()


def test_batch_into_a_pskc_file_of_another_password_touches_no_token(sim, tmp_path):
    """Added to (--pskc-append), an existing PSKC file must open with the password given:
    another password is one line before any token is touched, and the file is kept."""
    manifest = tmp_path / "staff.csv"
    manifest.write_text("label\nalice\n")
    out = tmp_path / "s.pskc"
    first = baoling(
        *("token", "provision", "--port", sim.port, "--label", "a", "--slot", "1"),
        *("--pskc", str(out), "--pskc-password"),
        env={"BAOLING_PSKC_PASSWORD": PASSWORD},
    )
    assert first.returncode == 0, first.stderr
    kept, before = out.read_bytes(), info(sim.port)
    proc = run_baoling(
        *("token", "batch", str(manifest), "--port", sim.port, "--pskc", str(out)),
        *("--pskc-append", "--pskc-password"),
        env={**os.environ, "BAOLING_PSKC_PASSWORD": "another password"},
    )
    assert (proc.returncode, proc.stdout) == (1, ""), proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr == (
        f"Error: The existing PSKC file {out} does not open with this password: give the one it "
        "was written with.\n"
    )
    assert info(sim.port) == before and out.read_bytes() == kept
    assert not (tmp_path / "staff.csv.results.jsonl").exists()


def test_batch_leaves_a_token_whose_slot_is_taken_untouched(sim, tmp_path):
    """The slot is checked for each token before it is written: a taken one is reported, the
    token left out with its `info` unchanged, and nothing recorded for it."""
    taken = baoling("token", "provision", "--port", sim.port, "--label", "a", "--show-uri")
    assert taken.returncode == 0, taken.stderr
    manifest = tmp_path / "staff.csv"
    manifest.write_text("label,slot\nalice,0\n")
    before = info(sim.port)
    failures: list[str] = []

    class NoMoreTokens(Exception):
        """Raised when the batch waits for another token: this test has no other."""

    def stop_waiting(_seconds: float) -> None:
        raise NoMoreTokens

    run = Batch(
        read_manifest(manifest),
        Results(tmp_path / "r.jsonl"),
        PskcFile(tmp_path / "s.pskc"),
        KeyStore(tmp_path / "k"),
        ports=[sim.port],
        sleep=stop_waiting,
    )
    with pytest.raises(NoMoreTokens):
        run.run(
            on_wait=lambda: None,
            on_done=lambda outcome: None,
            on_failed=lambda serial, exc: failures.append(f"{serial}: {exc}"),
        )
    assert failures == [
        f"{before['serial']}: Slot 0 of the token on {sim.port} already holds a profile: add "
        "--force to replace it, or choose a free slot with --slot."
    ]
    assert info(sim.port) == before
    assert run.results.records == [] and run.pskc.entries() == []


@pytest.fixture
def verifier_dir(tmp_path: Path) -> tuple[Path, str, str]:
    data_dir = tmp_path / "verifier"
    v = Verifier(data_dir=data_dir)
    admin = v.create_api_key("batch-admin", ["admin"])
    validate = v.create_api_key("batch-validate", ["validate"])
    v.close()
    return data_dir, admin, validate


def test_verifier_down_mid_batch_leaves_a_record_and_the_same_command_finishes(
    sim, tmp_path, verifier_dir
):
    data_dir, api_key, validate_key = verifier_dir
    manifest = tmp_path / "staff.csv"
    manifest.write_text("label,issuer\nalice,ACME\n")
    results, pskc = tmp_path / "staff.results.jsonl", tmp_path / "staff.pskc"
    serial = info(sim.port)["serial"]
    with ServerProcess(["--data-dir", str(data_dir)]) as server:

        def clock_that_stops_the_verifier() -> float:
            # Called while the token's clock is set: after every check, before the write.
            if server.process.poll() is None:
                server.stop()
            return system_clock_ms()

        run = Batch(
            read_manifest(manifest),
            Results(results),
            PskcFile(pskc, password=PASSWORD),
            KeyStore(tmp_path / "k"),
            ports=[sim.port],
            verifier=VerifierClient(server.url, api_key),
            clock=clock_that_stops_the_verifier,
        )
        with pytest.raises(EnrolError) as failure:
            run.run(on_wait=lambda: None, on_done=lambda o: None, on_failed=lambda s, e: None)
        url = server.url
    assert str(failure.value) == (
        f"Token {serial} slot 0 (row 1) holds a new secret, kept in {pskc} and recorded as not "
        f"enrolled in {results}, but enrolling it failed: The verifier at {url} is unreachable "
        "(ConnectError): is it running, and is the URL right? To finish, run the same command "
        "again once the verifier answers: recorded tokens are enrolled first. To roll back, wipe "
        "the token (`baoling token wipe`) and give the rows left to a new batch with new "
        "--results and --pskc files."
    )
    [record] = [json.loads(line) for line in results.read_text().splitlines()]
    assert (record["token_id"], record["enrolled"]) == (f"{serial}-0", False)
    assert info(sim.port)["profiles"][0]["label"] == "alice"

    args = ["token", "batch", str(manifest), "--port", sim.port, "--results", str(results)]
    args += ["--pskc", str(pskc), "--pskc-password"]
    without = run_baoling(*args, env={**os.environ, "BAOLING_PSKC_PASSWORD": PASSWORD})
    assert without.stderr == (
        f"Error: {results} records tokens not enrolled yet: give the same --verifier to enrol "
        "them.\n"
    )
    with ServerProcess(["--data-dir", str(data_dir)]) as server:
        again = baoling(
            *args,
            *("--verifier", server.url, "--json"),
            env={"BAOLING_PSKC_PASSWORD": PASSWORD, "BAOLING_API_KEY": api_key},
        )
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["done"] == 1
        [record] = [json.loads(line) for line in results.read_text().splitlines()]
        assert record["enrolled"] is True
        code = sim.wait_screen(lambda s: s.get("screen") == "code", 10)["code"]
        answer = httpx.post(
            f"{server.url}/v1/validate",
            json={"token": f"{serial}-0", "code": code},
            headers={"Authorization": f"Bearer {validate_key}"},
        )
        assert answer.json() == {"result": "accept", "amr": ["hwk", "otp"]}


def test_verifier_down_after_the_write_says_where_the_secret_is_and_how_to_finish(
    sim, tmp_path, verifier_dir
):
    data_dir, api_key, _ = verifier_dir
    pskc = tmp_path / "alice.pskc"
    profile = Profile(b"\x01" * 20, "sha1", 6, 30, "alice", "ACME")
    with ServerProcess(["--data-dir", str(data_dir)]) as server, Link(sim.port) as link:

        def clock_that_stops_the_verifier() -> float:
            if server.process.poll() is None:
                server.stop()
            return system_clock_ms()

        tok = Token(link)
        with pytest.raises(EnrolError) as failure:
            provision(
                tok,
                profile,
                keys=KeyStore(tmp_path / "k"),
                registrars=[PskcFile(pskc), VerifierClient(server.url, api_key)],
                clock=clock_that_stops_the_verifier,
            )
    assert str(failure.value) == (
        f"The verifier at {server.url} is unreachable (ConnectError): is it running, and is the "
        f"URL right? Slot 0 of token {tok.serial} holds a new secret, registered only in the "
        f"PSKC file {pskc}: finish by registering it from there (`baoling token export --keys "
        "FILE --uri` gives its URI), or roll back by wiping the token (`baoling token wipe`)."
    )
    exported = baoling("token", "export", "--keys", str(pskc), "--uri", "--json")
    [uri] = json.loads(exported.stdout)["uris"]
    totp = pyotp.parse_uri(uri)
    assert (totp.secret, totp.name, totp.issuer) == (profile.secret_b32, "alice", "ACME")


def test_batch_with_a_verifier_enrols_each_token_and_records_it(sim, tmp_path, verifier_dir):
    data_dir, api_key, validate_key = verifier_dir
    manifest = tmp_path / "staff.csv"
    manifest.write_text("label,issuer\nbob,ACME\n")
    with ServerProcess(["--data-dir", str(data_dir)]) as server:
        proc = baoling(
            *("token", "batch", str(manifest), "--port", sim.port, "--json"),
            *("--verifier", server.url),
            env={"BAOLING_API_KEY": api_key},
        )
        assert proc.returncode == 0, proc.stderr
        [record] = [
            json.loads(line)
            for line in (tmp_path / "staff.csv.results.jsonl").read_text().splitlines()
        ]
        assert record["enrolled"] is True
        code = sim.wait_screen(lambda s: s.get("screen") == "code", 10)["code"]
        answer = httpx.post(
            f"{server.url}/v1/validate",
            json={"token": record["token_id"], "code": code},
            headers={"Authorization": f"Bearer {validate_key}"},
        )
        assert answer.json() == {"result": "accept", "amr": ["hwk", "otp"]}
