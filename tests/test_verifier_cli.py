"""`baoling verifier` admin commands, run with click's CliRunner on a data folder in tmp_path.

Codes come from pyotp; the state the commands leave is read back through the Python API.
"""

import base64
import io
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
import segno
from click.testing import CliRunner
from pskc import PSKC

from baoling.host_tools.cli import cli
from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.service import Verifier
from baoling.verifier.slow_hash import check_secret

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def run(data_dir):
    """Run `baoling verifier --data-dir DATA <args>`, feeding `stdin` as if piped."""

    def invoke(*args: str, stdin: str | None = None):
        return CliRunner().invoke(
            cli, ["verifier", "--data-dir", str(data_dir), *args], input=stdin
        )

    return invoke


@pytest.fixture
def verifier(data_dir):
    v = Verifier(data_dir=data_dir)
    yield v
    v.close()


@pytest.fixture
def alice(run):
    """Token alice enrolled from a piped secret; pyotp computes its codes."""
    run("enrol", "alice", "--secret", stdin=SECRET + "\n")
    return pyotp.TOTP(SECRET)


def baoling(data_dir, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """The real entry point in a child process: how errors look to a user."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "baoling.host_tools",
            "verifier",
            "--data-dir",
            str(data_dir),
            *args,
        ],
        input=stdin,
        capture_output=True,
        text=True,
    )


def test_enrol_prints_a_uri_whose_codes_pyotp_and_the_verifier_agree_on(run, verifier):
    result = run("enrol", "bob", "--issuer", "Example")
    assert result.exit_code == 0
    totp = pyotp.parse_uri(result.stdout.strip())
    assert totp.issuer == "Example"
    assert verifier.validate("bob", totp.now())


def test_enrol_reads_a_given_secret_from_stdin_and_does_not_print_it(run, verifier):
    result = run(
        "enrol", "alice", "--secret", "--digits", "8", "--period", "60", stdin=SECRET + "\n"
    )
    assert result.exit_code == 0
    assert SECRET not in result.output
    assert result.stdout == "Enrolled alice.\n"
    assert verifier.validate("alice", pyotp.TOTP(SECRET, digits=8, interval=60).now())


def test_enrol_qr_draws_the_uri_for_a_phone_to_scan(run, verifier):
    """Issue 12: a phone token enrolled from an otpauth QR. The drawing is read back module by
    module (a light module is a block, a dark one blank; each character is two rows) and
    compared with segno's encoding of the printed URI, inside a quiet zone of four modules."""
    result = run("enrol", "alice-phone", "--label", "alice@corp", "--issuer", "Corp", "--qr")
    assert result.exit_code == 0, result.output
    uri, *drawing = result.stdout.splitlines()
    totp = pyotp.parse_uri(uri)
    assert (totp.name, totp.issuer) == ("alice@corp", "Corp")
    assert verifier.validate("alice-phone", totp.now())
    modules = segno.make(uri, error="m").matrix
    size = len(modules) + 8
    dark = [[False] * size for _ in range(size)]
    for y, row in enumerate(modules):
        for x, module in enumerate(row):
            dark[y + 4][x + 4] = bool(module)
    drawn: list[list[bool]] = []
    for line in drawing:
        drawn.append([char not in "█▀" for char in line])
        drawn.append([char not in "█▄" for char in line])
    assert drawn[:size] == dark
    refused = run("enrol", "bob", "--secret", "--qr", stdin=SECRET + "\n")
    assert refused.exit_code == 2
    assert "a given secret is never shown again, so there is no QR code to draw" in refused.output


def test_enrol_json_gives_token_and_uri(run):
    result = run("enrol", "bob", "--json")
    data = json.loads(result.stdout)
    assert data["token"] == "bob"
    assert data["uri"].startswith("otpauth://totp/bob?secret=")


def test_enrol_of_an_enrolled_token_is_one_line_and_exit_1(data_dir, alice):
    proc = baoling(data_dir, "enrol", "alice")
    assert proc.returncode == 1
    assert proc.stderr == "Error: token 'alice' is already enrolled\n"


def test_enrol_with_a_secret_that_is_not_base32_is_one_line(data_dir):
    proc = baoling(data_dir, "enrol", "bob", "--secret", stdin="not base32!\n")
    assert proc.returncode == 1
    assert proc.stderr == "Error: secret is not base32: character 11 is not A-Z or 2-7\n"


def test_list_json_names_the_tokens(run, alice):
    result = run("list", "--json")
    assert [t["token"] for t in json.loads(result.stdout)] == ["alice"]


def test_list_shows_a_table_for_people(run, alice):
    result = run("list")
    assert result.stdout.splitlines() == [
        "TOKEN  ALGORITHM  DIGITS  PERIOD  STATE",
        "alice  SHA1       6       30 s    ok",
    ]


def test_show_prints_named_fields_and_iso_utc_times(run, verifier, alice):
    enrolled = verifier.show("alice")["created"]
    later = time.time() + 10 * 30
    run("resync", "alice", alice.at(later), alice.at(later + 30))
    lines = run("show", "alice").stdout.splitlines()
    parts = [re.fullmatch(r"([A-Za-z ]+:\s+)(.+)", line).groups() for line in lines]
    assert len({len(name) for name, _ in parts}) == 1  # the values line up
    fields = {name.strip().rstrip(":"): value for name, value in parts}
    assert list(fields) == [
        "Token",
        "Label",
        "Issuer",
        "Algorithm",
        "Digits",
        "Period",
        "State",
        "Failed attempts",
        "Last accepted code",
        "Clock offset",
        "Clock rate",
        "Clock observations",
        "Last resync",
        "Enrolled",
        "Device PIN",
    ]
    assert fields["Algorithm"] == "SHA1"
    assert fields["Device PIN"] == "no"
    assert fields["State"] == "ok"
    enrolled_shown = datetime.strptime(fields["Enrolled"], "%Y-%m-%dT%H:%M:%S%z")
    assert enrolled_shown.utcoffset() == timedelta(0)
    assert abs(enrolled_shown.timestamp() - enrolled) < 1
    offset = re.fullmatch(r"(\d+\.\d) s ahead \(as of (\S+)\)", fields["Clock offset"])
    # the second code is 11 steps ahead: the middle of its step is 315 to 345 s ahead of the
    # time the test read, less the time until the verifier read its clock
    assert offset is not None and 300 < float(offset[1]) <= 345
    assert fields["Last resync"] == offset[2]
    text = "\n".join(lines)  # no Python dict, no Unix time
    assert "{" not in text and str(int(enrolled)) not in text


def test_audit_prints_a_table_with_iso_utc_times(run, verifier, alice):
    verifier.validate("alice", alice.now())
    rows = verifier.audit()
    lines = run("audit").stdout.splitlines()
    assert lines[0].split() == ["SEQ", "TIME", "ACTION", "TOKEN", "DETAIL"]
    assert [line.split()[:4] for line in lines[1:]] == [
        [str(row["seq"]), _iso(row["ts"]), row["action"], "alice"] for row in rows
    ]
    assert lines[1].split()[4:] == ["reason=accepted", "result=accept"]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def test_show_never_prints_the_secret(run, alice):
    result = run("show", "alice", "--json")
    assert json.loads(result.stdout)["digits"] == 6
    for form in (SECRET, SECRET.lower(), base64.b32decode(SECRET).hex()):
        assert form not in result.output


def test_show_of_an_unknown_token_is_one_line(data_dir, alice):
    proc = baoling(data_dir, "show", "nobody")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_disable_makes_the_right_code_fail(run, verifier, alice):
    assert run("disable", "alice").exit_code == 0
    assert not verifier.validate("alice", alice.now())


def test_enable_after_disable_accepts_again(run, verifier, alice):
    run("disable", "alice")
    run("enable", "alice")
    assert verifier.validate("alice", alice.now())


def test_unlock_clears_the_failure_count(run, verifier, alice):
    verifier.validate("alice", "000000" if alice.now() != "000000" else "111111")
    assert run("unlock", "alice").exit_code == 0
    assert verifier.show("alice")["fail_count"] == 0


@pytest.mark.parametrize(
    "args",
    [
        ("resync", "alice", "abc", ""),
        ("resync", "alice", "123456", "12345"),
        ("resync", "alice", "123456", "\u0661\u0662\u0663\u0664\u0665\u0666"),  # not ASCII
        ("assign", "alice", "ann@corp", "--code", "123456789"),
    ],
)
def test_a_malformed_code_is_refused_before_the_token_is_tried(data_dir, verifier, alice, args):
    """As over --server, where the HTTP API refuses it: not a failure of the token's."""
    verifier.add_user("ann@corp")
    done = baoling(data_dir, *args)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith(": must be 6 to 8 digits")
    assert "Traceback" not in done.stderr
    assert verifier.show("alice")["fail_count"] == 0
    assert verifier.show_user("ann@corp")["tokens"] == []


@pytest.mark.parametrize("extra", [[SECRET], [SECRET, "again"]])
def test_extra_words_are_refused_without_repeating_them(data_dir, extra):
    """A secret typed after --secret (which reads stdin) is not echoed back by the error."""
    done = baoling(data_dir, "enrol", "sarg", "--secret", *extra)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "Error: Got unexpected extra words, not repeated here in case one is a secret: "
        "secrets, PINs and passwords are read from stdin or a prompt, never from the command "
        "line."
    )
    assert SECRET not in done.stderr


def test_reset_drift_forgets_the_offset_a_resync_learned(run, verifier, alice):
    later = time.time() + 10 * 30
    assert run("resync", "alice", alice.at(later), alice.at(later + 30)).exit_code == 0
    assert verifier.show("alice")["drift"]["offset_s"] != 0
    result = run("reset-drift", "alice")
    assert result.exit_code == 0
    assert result.stderr == "Reset the drift estimate of alice.\n"
    assert verifier.show("alice")["drift"]["offset_s"] == 0


def test_resync_with_two_consecutive_codes_ten_steps_ahead(run, alice):
    later = time.time() + 10 * 30
    result = run("resync", "alice", alice.at(later), alice.at(later + 30))
    assert result.exit_code == 0
    assert result.stderr == "Resynchronised alice.\n"


def test_resync_with_non_consecutive_codes_says_what_to_do(data_dir, alice):
    later = time.time() + 10 * 30
    proc = baoling(data_dir, "resync", "alice", alice.at(later), alice.at(later + 90))
    assert proc.returncode == 1
    assert proc.stderr == (
        "Error: the two codes were not found one after the other; wait for the next code and "
        "try again with two fresh ones\n"
    )


def test_delete_asks_first_and_keeps_the_token_on_no(run, verifier, alice):
    result = run("delete", "alice", stdin="n\n")
    assert result.exit_code == 1
    assert "Delete token alice? This cannot be undone" in result.stderr
    assert [t["token"] for t in verifier.list_tokens()] == ["alice"]


def test_delete_with_force_deletes(run, verifier, alice):
    assert run("delete", "alice", "--force").exit_code == 0
    assert verifier.list_tokens() == []


def test_audit_json_lists_actions_without_codes(run, verifier, alice):
    code = alice.now()
    verifier.validate("alice", code)
    rows = json.loads(run("audit", "--json").stdout)
    assert [row["action"] for row in rows][:2] == ["validate", "enrol"]
    assert rows[0]["detail"] == {"reason": "accepted", "result": "accept"}


def test_audit_verify_reports_an_intact_chain(run, alice):
    result = run("audit", "verify")
    assert result.exit_code == 0
    assert result.stdout.startswith("Audit chain intact: 1 rows, head 1:")


def test_rotate_key_keeps_the_token_working(run, data_dir, alice):
    assert run("rotate-key", "--force").exit_code == 0
    fresh = Verifier(data_dir=data_dir)
    assert fresh.validate("alice", alice.now())
    fresh.close()


def test_rotate_key_asks_first(run):
    result = run("rotate-key", stdin="n\n")
    assert result.exit_code == 1
    assert "Replace the master key and re-encrypt every secret?" in result.stderr


def test_api_key_prints_a_key_the_verifier_accepts_for_its_scope(run, verifier):
    result = run("api-key", "create", "vpn", "--scope", "validate")
    key = result.stdout.strip()
    assert verifier.check_api_key(key, "validate")
    assert not verifier.check_api_key(key, "admin")


def test_api_key_with_a_name_in_use_is_one_line_and_makes_no_key(run, data_dir, verifier):
    first = run("api-key", "create", "vpn", "--scope", "validate").stdout.strip()
    proc = baoling(data_dir, "api-key", "create", "vpn", "--scope", "admin")
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        "Error: an API key named 'vpn' exists already: give this one another name\n"
    )
    assert verifier.check_api_key(first, "validate")


def test_api_key_list_names_every_key_and_shows_no_key(run, data_dir):
    vpn = run("api-key", "create", "vpn", "--scope", "validate").stdout.strip()
    ops = run("api-key", "create", "ops", "--scope", "admin", "--scope", "helpdesk").stdout.strip()
    text = baoling(data_dir, "api-key", "list")
    assert text.returncode == 0, text.stderr
    header, first, second = text.stdout.splitlines()
    assert header.split() == ["NAME", "SCOPES", "CREATED", "REVOKED", "ID"]
    assert first.split()[:2] == ["vpn", "validate"] and first.split()[3] == "-"
    assert second.split()[:2] == ["ops", "admin,helpdesk"]
    listed = json.loads(baoling(data_dir, "api-key", "list", "--json").stdout)
    assert [(k["name"], k["scopes"], k["revoked"]) for k in listed] == [
        ("vpn", ["validate"], None),
        ("ops", ["admin", "helpdesk"], None),
    ]
    for key in (vpn, ops):
        secret_part = key.rsplit("_", 1)[1]
        assert secret_part not in text.stdout + json.dumps(listed)


def test_a_revoked_api_key_is_refused_and_its_name_stays_taken(run, data_dir):
    key = run("api-key", "create", "vpn", "--scope", "validate", "--scope", "admin").stdout.strip()
    kept = run("api-key", "create", "ops", "--scope", "admin").stdout.strip()
    with ServerProcess(["--data-dir", str(data_dir)]) as server:

        def status(k: str) -> int:
            auth = {"Authorization": f"Bearer {k}"}
            return httpx.get(f"{server.url}/v1/tokens", headers=auth, timeout=30).status_code

        revoked = baoling(data_dir, "api-key", "revoke", "vpn")
        assert (revoked.returncode, revoked.stdout) == (0, "API key vpn is revoked.\n")
        assert (status(key), status(kept)) == (403, 200)  # as any key not stored
    again = baoling(data_dir, "api-key", "revoke", "vpn")
    assert (again.returncode, again.stderr) == (1, "Error: no live API key is named 'vpn'\n")
    reused = baoling(data_dir, "api-key", "create", "vpn", "--scope", "validate")
    assert reused.returncode == 1 and "exists already" in reused.stderr
    [row] = Verifier(data_dir=data_dir).search_audit(action="api_key_revoke")
    assert row["detail"]["name"] == "vpn" and key not in json.dumps(row)
    listed = json.loads(baoling(data_dir, "api-key", "list", "--json").stdout)
    assert [k["revoked"] is not None for k in listed] == [True, False]


def test_import_pskc_reads_the_key_from_stdin(run, verifier, tmp_path):
    pskc = PSKC()
    key = pskc.add_key(secret=base64.b32decode(SECRET), serial="carol")
    key.id = "carol"
    key.algorithm = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
    key.response_length = 6
    key.time_interval = 30
    pskc.encryption.setup_preshared_key(key=bytes(range(16)))
    path = tmp_path / "tokens.pskc"
    out = io.BytesIO()
    pskc.write(out)
    path.write_bytes(out.getvalue())
    result = run("import-pskc", str(path), "--key", stdin=bytes(range(16)).hex() + "\n")
    assert result.exit_code == 0, result.output
    [token_id] = [t["token"] for t in verifier.list_tokens()]
    assert verifier.validate(token_id, pyotp.TOTP(SECRET).now())


def test_radius_pin_prints_a_hash_of_the_piped_pin(run):
    result = run("radius-pin", stdin="4321\n")
    stored = result.stdout.strip()
    assert "4321" not in stored
    assert check_secret("4321", stored)
    assert not check_secret("4322", stored)


def test_no_command_takes_a_secret_as_an_argument():
    """Secrets come from stdin or a prompt: no option of the group takes one as a value."""
    group = cli.commands["verifier"]
    for name, command in group.commands.items():
        for param in command.params:
            if {"--secret", "--key", "--password"} & set(param.opts):
                assert param.is_flag, f"{name} {param.opts} takes a value"


@pytest.mark.parametrize(
    "command", ["enrol", "import-pskc", "delete", "rotate-key", "api-key create"]
)
def test_help_has_examples(command):
    result = CliRunner().invoke(cli, ["verifier", *command.split(), "--help"])
    assert "Examples:" in result.output


def test_default_data_folder_is_under_home(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), BAOLING_DATA_DIR="", BAOLING_STORE_URL="")
    proc = subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", "verifier", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".local/share/baoling/master.key").exists()
