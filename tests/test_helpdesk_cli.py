"""The command line with a scope (issue 12 item 4; docs/users.md, "The helpdesk"): the helpdesk's
commands run with `baoling verifier --server URL` and a `helpdesk` API key, against a real served
verifier, from an account that has no store and no master key. The server checks the key's
scope: the helpdesk handles a lost token and resyncs one, and cannot delete a token, enrol, read
the audit trail, override proof of possession, or read a secret or a URI."""

import base64
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.service import Verifier

HW, PHONE = "BL0001-1", "alice-phone"
HW_SECRET, PHONE_SECRET = bytes(range(1, 21)), bytes(range(21, 41))
HW_OTP = pyotp.TOTP(base64.b32encode(HW_SECRET).decode())
CLEAN_ENV = {name: value for name, value in os.environ.items() if not name.startswith("BAOLING_")}


def helpdesk_cli(
    home: Path, url: str, key: str | None, *args: str
) -> subprocess.CompletedProcess[str]:
    """`baoling verifier --server URL ARGS` as a helpdesk operator whose home holds nothing."""
    env = dict(CLEAN_ENV, HOME=str(home), BAOLING_VERIFIER_URL=url)
    if key is not None:
        env["BAOLING_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", "verifier", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=60,
    )


def test_a_helpdesk_key_handles_a_lost_token_from_the_command_line_and_nothing_more(
    tmp_path: Path,
) -> None:
    data, home = tmp_path / "data", tmp_path / "helpdesk-home"
    home.mkdir()
    v = Verifier(data_dir=data)
    v.enrol(HW, HW_SECRET)
    v.enrol(PHONE, PHONE_SECRET)
    v.add_user("alice@corp")
    desk = v.create_api_key("desk-1", ["helpdesk"])
    gate = v.create_api_key("vpn", ["validate"])
    v.close()
    with (
        ServerProcess(["--data-dir", str(data)]) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):

        def desk_cli(*args: str, key: str | None = desk) -> subprocess.CompletedProcess[str]:
            return helpdesk_cli(home, server.url, key, *args)

        def validate(code: str) -> str:
            body = {"user": "alice@corp", "code": code}
            answer = http.post(
                "/v1/validate", json=body, headers={"Authorization": f"Bearer {gate}"}
            )
            assert answer.status_code == 200, answer.text
            return str(answer.json()["result"])

        assigned = desk_cli("assign", HW, "alice@corp", "--code", HW_OTP.now())
        assert (assigned.returncode, assigned.stdout) == (
            0,
            f"Assigned {HW} to alice@corp (primary).\n",
        )
        override = desk_cli("assign", PHONE, "alice@corp", "--role", "spare", "--override")
        assert (override.returncode, override.stderr) == (
            1,
            f"Error: the verifier at {server.url} refused POST /v1/tokens/{PHONE}/assign: "
            "Only an admin key may assign without a code. (HTTP 403)\n",
        )
        lost = desk_cli("lost", HW)
        assert (lost.returncode, lost.stdout) == (0, f"Disabled lost token {HW} (alice@corp).\n")
        last_day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
        issued = desk_cli(
            "user", "backup-codes", "alice@corp", "--expires", last_day, "--count", "3", "--json"
        )
        assert issued.returncode == 0, issued.stderr
        codes = json.loads(issued.stdout)["codes"]
        assert len(codes) == 3 and all(len(code) == 10 and code.isdigit() for code in codes)
        assert [validate(code) for code in codes] == ["accept"] * 3
        assert [validate(code) for code in codes] == ["reject"] * 3
        assert validate(HW_OTP.now()) == "reject"  # the lost token is disabled

        shown = desk_cli("show", HW, "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["enabled"] is False
        user = desk_cli("user", "show", "alice@corp", "--json")
        assert json.loads(user.stdout)["tokens"] == [{"token": HW, "role": "primary"}]
        secret_b32 = base64.b32encode(HW_SECRET).decode().rstrip("=")
        for answer in (shown, user, desk_cli("list", "--json")):
            assert "otpauth" not in answer.stdout and secret_b32 not in answer.stdout
            assert "secret" not in answer.stdout

        # The commands that need the store are not offered through a server at all.
        csv_file = tmp_path / "tokens.csv"
        csv_file.write_text("serial,slot,secret\nBL9,1,JBSWY3DPEHPK3PXPJBSWY3DP\n")
        for args in (
            ["delete", HW, "--force"],
            ["enrol", "new-phone"],
            ["reset-drift", HW],
            ["audit"],
            ["api-key", "create", "mine", "--scope", "admin"],
            ["user", "add", "eve@corp"],
            ["import", str(csv_file), "--format", "csv"],
        ):
            refused = desk_cli(*args)
            words = " ".join(args[:2] if args[0] in ("user", "api-key") else args[:1])
            assert refused.returncode == 2, (args, refused.stderr)
            assert refused.stderr.endswith(
                f"Error: 'baoling verifier {words}' works on the store itself and cannot run "
                "through --server, which runs only the helpdesk's commands (docs/users.md, "
                '"The helpdesk").\n'
            ), refused.stderr

        # A key without the helpdesk scope is refused by the server, and the refusal is audited.
        wrong_key = desk_cli("found", HW, key=gate)
        assert (wrong_key.returncode, wrong_key.stderr) == (
            1,
            f"Error: the verifier at {server.url} refused POST /v1/tokens/{HW}/found: "
            "This API key is not valid for the helpdesk scope. (HTTP 403)\n",
        )
        unknown = desk_cli("lost", "nobody-1", "--json")
        assert (unknown.returncode, json.loads(unknown.stderr)) == (
            1,
            {"error": "unknown_token", "message": "no token 'nobody-1' is enrolled"},
        )
        no_key = desk_cli("lost", HW, key=None)
        assert no_key.returncode == 2
        assert no_key.stderr.endswith("Error: --server needs the API key in $BAOLING_API_KEY.\n")
        found = desk_cli("found", HW)
        assert (found.returncode, found.stdout) == (0, f"Enabled found token {HW} (alice@corp).\n")
        # A drifted token: two consecutive codes it shows are possession, not a secret read.
        ahead = datetime.now(UTC).timestamp() + 300
        codes_ahead = (HW_OTP.at(ahead), HW_OTP.at(ahead + 30))
        resynced = desk_cli("resync", HW, *codes_ahead)
        assert (resynced.returncode, resynced.stderr) == (0, f"Resynchronised {HW}.\n")
        again = desk_cli("resync", HW, *codes_ahead)  # codes used up: not found again
        assert (again.returncode, again.stderr) == (
            1,
            "Error: the two codes were not found one after the other; wait for the next code "
            "and try again with two fresh ones\n",
        )

    assert list(home.iterdir()) == []  # no store, no master key was ever made or read here
    v = Verifier(data_dir=data)
    try:
        assert sorted(token["token"] for token in v.list_tokens()) == sorted([HW, PHONE])
        assert v.show(HW)["enabled"] is True
        rows = [row for row in reversed(v.audit(limit=200))]
        steps = [
            (row["action"], row["detail"]["by"])
            for row in rows
            if row["action"]
            in {"assign", "token_lost", "backup_codes_issue", "token_found", "resync"}
        ]
        assert steps == [
            ("assign", "api-key:desk-1"),
            ("token_lost", "api-key:desk-1"),
            ("backup_codes_issue", "api-key:desk-1"),
            ("token_found", "api-key:desk-1"),
            ("resync", "api-key:desk-1"),
            ("resync", "api-key:desk-1"),
        ]
        forbidden = [row["detail"] for row in rows if row["action"] == "forbidden"]
        assert [(d["path"], d["needs"], d["by"]) for d in forbidden] == [
            ("/v1/tokens/{token_id}/assign", "admin", "api-key:desk-1"),
            ("/v1/tokens/{token_id}/found", "helpdesk", "api-key:vpn"),
        ]
        trail = json.dumps(v.audit(limit=200))
        assert desk not in trail and all(code not in trail for code in codes)
    finally:
        v.close()


def test_a_server_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
        gone = helpdesk_cli(tmp_path, url, "any-key", "lost", HW)
    assert (gone.returncode, gone.stderr) == (
        1,
        f"Error: the verifier at {url} is unreachable (ConnectError): is it running, and is "
        "the URL right?\n",
    )
