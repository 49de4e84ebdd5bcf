"""Bulk import and migration (docs/users.md, "Bulk import"): token CSVs, otpauth URI CSVs and
PSKC files with a user map; all or nothing, a refused line named by its number, a dry run that
changes nothing; from Python (both stores), the command line and HTTP. Codes of imported tokens
come from pyotp and oathtool, never from Baoling's own OTP code."""

import base64
import json
import re
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from baoling.verifier.errors import BulkImportError, PSKCImportError
from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier
from tests.test_pskc_import import KEYS, pskc_file
from tests.test_users import baoling
from tests.test_verifier_service import T0, code_at

HEADER = "serial,slot,user,secret,algorithm,digits,period,drift"


def secret_of(n: int) -> bytes:
    """A distinct 20-byte secret for line n."""
    return n.to_bytes(4, "big") * 5


def b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")


def csv_lines(count: int) -> list[str]:
    """A header and `count` token lines: BL00000-1 ..., two tokens for each user."""
    return [HEADER] + [
        f"BL{n:05d},1,user{n // 2}@corp,{b32(secret_of(n))},sha1,6,30," for n in range(count)
    ]


def snapshot(v: Verifier) -> tuple[Any, ...]:
    """Everything an import could change: tokens, users, the audit chain's head."""
    return (v.list_tokens(), v.list_users(), v.verify_audit().head)


def oathtool(
    secret: bytes, t: float, *, algorithm: str = "sha1", digits: int = 6, period: int = 30
) -> str:
    done = subprocess.run(
        ["oathtool", f"--totp={algorithm}", "-d", str(digits), "-s", str(period)]
        + ["--now", f"@{int(t)}", secret.hex()],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_ten_thousand_lines_import_in_one_go_with_their_users(
    make_verifier: Callable[..., Verifier],
) -> None:
    v = make_verifier()
    data = "\n".join(csv_lines(10_000)).encode()
    started = time.monotonic()
    result = v.import_tokens(data, file_format="csv")
    took = time.monotonic() - started
    assert took < 60, f"10,000 lines took {took:.1f} s"
    assert not result["dry_run"]
    assert len(result["tokens"]) == 10_000 and len(result["users_added"]) == 5_000
    assert result["tokens"][7_429] == {
        "token": "BL07429-1",
        "user": "user3714@corp",
        "role": "primary",
    }
    assert len(v.list_tokens()) == 10_000 and len(v.list_users()) == 5_000
    assert v.show_user("user3714@corp")["tokens"] == [
        {"token": "BL07428-1", "role": "primary"},
        {"token": "BL07429-1", "role": "primary"},
    ]
    report = v.verify_audit()
    assert report.ok and report.rows == 10_000 + 5_000 + 10_000  # enrol, user_add, assign
    assign = v.audit(1)[0]
    assert assign["detail"] == {
        "user": "user4999@corp",
        "role": "primary",
        "source": "import-csv",
        "possession": "not checked",
    }
    for n in (0, 7_429, 9_999):
        code = oathtool(secret_of(n), T0)
        assert code == code_at(secret_of(n), T0)  # two references agree
        assert v.validate_user(f"user{n // 2}@corp", code, now=T0)


def test_a_bad_line_7431_is_named_and_nothing_is_imported(
    make_verifier: Callable[..., Verifier],
) -> None:
    v = make_verifier()
    v.enrol("kept-1", secret_of(99_999))
    before = snapshot(v)
    lines = csv_lines(10_000)
    serial, slot, user, secret, *rest = lines[7_430].split(",")  # the file's line 7,431
    lines[7_430] = ",".join([serial, slot, user, secret[:8] + "1" + secret[9:], *rest])
    with pytest.raises(BulkImportError) as refused:
        v.import_tokens("\n".join(lines).encode(), file_format="csv")
    assert str(refused.value) == "line 7431: secret is not base32: character 9 is not A-Z or 2-7"
    assert snapshot(v) == before


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("BL1,x,,JBSWY3DPEHPK3PXPJBSWY3DP", "line 3: slot must be a whole number"),
        ("BL1,1,,,", "line 3: give the secret in exactly one of the columns secret and secret_hex"),
        ("BL1,1,,JBSWY3DPEHPK3PXPJBSWY3DP,ab12", "line 3: give the secret in exactly one"),
        ("BL1,1,,,zz", "line 3: secret_hex is not hex (two digits 0-9, a-f per byte)"),
        (
            "BL1,1,,JBSWY3DP",
            "line 3: secret must be 10 to 64 bytes (16 to 103 base32 characters), not 5",
        ),
        (
            "BL1,1,al*ce@corp,JBSWY3DPEHPK3PXPJBSWY3DP",
            "line 3: user must be printable text without",
        ),
        (
            # a secret in the role column (columns out of order): not quoted back
            "BL1,1,bob@corp,,00112233445566778899,JBSWY3DPEHPK3PXPJBSWY3DP",
            "line 3: role must be primary or spare",
        ),
        (
            "BL1,1,,JBSWY3DPEHPK3PXPJBSWY3DP,,,md5",
            "line 3: algorithm must be sha1, sha256 or sha512, not 'md5'",
        ),
        ("BL1,1,,JBSWY3DPEHPK3PXPJBSWY3DP,,,,9", "line 3: digits must be 6, 7 or 8, not 9"),
        ("BL1,1,,JBSWY3DPEHPK3PXPJBSWY3DP,,,,,six", "line 3: period must be a whole number"),
        (
            "BL1,1,,JBSWY3DPEHPK3PXPJBSWY3DP,,,,,,90000",
            "line 3: drift must be at most 86400 seconds",
        ),
        (
            "BL 1,1,,JBSWY3DPEHPK3PXPJBSWY3DP",
            "line 3: serial and slot do not name a token: a token id is",
        ),
        (
            "BL0,1,,JBSWY3DPEHPK3PXPJBSWY3DP",
            "line 3: token 'BL0-1' is given again (first at line 2)",
        ),
        ("taken,1,,JBSWY3DPEHPK3PXPJBSWY3DP", "line 3: token 'taken-1' is already enrolled"),
        ("BL1,1,gone@corp,JBSWY3DPEHPK3PXPJBSWY3DP", "line 3: user 'gone@corp' is deactivated"),
        ("BL1,1", "line 3: 2 fields, but the header names 10 columns"),
    ],
)
def test_each_rule_names_its_line_and_never_the_secret(
    make_verifier: Callable[..., Verifier], line: str, message: str
) -> None:
    v = make_verifier()
    v.enrol("taken-1", secret_of(1))
    v.add_user("gone@corp")
    v.deactivate_user("gone@corp")
    before = snapshot(v)
    header = "serial,slot,user,secret,secret_hex,role,algorithm,digits,period,drift"
    padded = line + "," * (header.count(",") - line.count(",")) if line != "BL1,1" else line
    data = f"{header}\nBL0,1,,{b32(secret_of(2))},,,,,,\n{padded}\n".encode()
    with pytest.raises(BulkImportError) as refused:
        v.import_tokens(data, file_format="csv")
    assert str(refused.value).startswith(message)
    assert "JBSWY3DP" not in str(refused.value) and b32(secret_of(2)) not in str(refused.value)
    assert snapshot(v) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty: it needs a header line naming its columns"),
        (
            b"serial,slot,colour\n",
            "line 1: column 3 is not a column name; the first line names the columns, from serial",
        ),
        (b"serial,slot,secret,Secret\n", "line 1: the column 'secret' is named twice"),
        (b"slot,secret\n", "line 1: the column 'serial' is missing"),
        (b"serial,slot,secret\n", "the file holds no tokens"),
        (b"serial,slot,secret\n\xff\n", "the file is not UTF-8 text (byte 20)"),
        (b'serial,slot,secret\nBL1,1,"JBSW\n', "line 2: not CSV (unexpected end of data)"),
    ],
)
def test_a_file_that_is_not_a_token_csv_is_refused(
    make_verifier: Callable[..., Verifier], data: bytes, message: str
) -> None:
    v = make_verifier()
    with pytest.raises(BulkImportError, match=f"^{re.escape(message)}"):
        v.import_tokens(data, file_format="csv")
    assert v.list_tokens() == [] and v.audit() == []


@pytest.mark.parametrize(
    ("file_format", "line"), [("csv", "BL1,1,{}"), ("uris", "otpauth://totp/x?secret={}")]
)
def test_a_file_without_its_header_line_is_refused_without_quoting_its_secret(
    make_verifier: Callable[..., Verifier], file_format: str, line: str
) -> None:
    v = make_verifier()
    secret = b32(secret_of(1))
    with pytest.raises(BulkImportError) as refused:
        v.import_tokens(line.format(secret).encode(), file_format=file_format)
    assert str(refused.value).startswith("line 1: column 1 is not a column name")
    assert secret.lower()[:8] not in str(refused.value).lower()
    assert v.list_tokens() == []


def test_the_dry_run_lists_what_would_change_and_changes_nothing(
    make_verifier: Callable[..., Verifier],
) -> None:
    v = make_verifier()
    v.add_user("user0@corp")
    before = snapshot(v)
    data = "\n".join([*csv_lines(4), f"BL9,2,,{b32(secret_of(9))},,,,"]).encode()
    planned = v.import_tokens(data, file_format="csv", dry_run=True)
    assert planned == {
        "dry_run": True,
        "tokens": [
            {"token": "BL00000-1", "user": "user0@corp", "role": "primary"},
            {"token": "BL00001-1", "user": "user0@corp", "role": "primary"},
            {"token": "BL00002-1", "user": "user1@corp", "role": "primary"},
            {"token": "BL00003-1", "user": "user1@corp", "role": "primary"},
            {"token": "BL9-2", "user": None, "role": None},
        ],
        "users_added": ["user1@corp"],
    }
    assert snapshot(v) == before
    assert v.import_tokens(data, file_format="csv") == planned | {"dry_run": False}
    assert len(v.list_tokens()) == 5
    # A dry run applies the store's rules too: the tokens are enrolled now.
    with pytest.raises(BulkImportError, match=r"^line 2: token 'BL00000-1' is already enrolled$"):
        v.import_tokens(data, file_format="csv", dry_run=True)


def test_hex_secrets_parameters_roles_and_drift(make_verifier: Callable[..., Verifier]) -> None:
    v = make_verifier()
    sha256, sha512 = bytes(range(32)), bytes(range(64))
    data = (
        "Slot,Serial,Secret_Hex,Secret,Algorithm,Digits,Period,Drift,User,Role,Issuer,Label\n"
        f"1,BL7,{sha256.hex()},,SHA256,8,60,,carol@corp,primary,Bank,carol\n"
        f"2,BL7,,{b32(sha512).lower()},sha512,7,30,90,carol@corp,spare,,\n"
    ).encode()
    v.import_tokens(data, file_format="csv")
    first, second = v.show("BL7-1"), v.show("BL7-2")
    assert (first["algorithm"], first["digits"], first["period"]) == ("sha256", 8, 60)
    assert (first["issuer"], first["label"]) == ("Bank", "carol")
    assert (second["algorithm"], second["digits"], second["period"]) == ("sha512", 7, 30)
    assert second["drift"]["offset_s"] == 90
    assert v.show_user("carol@corp")["tokens"] == [
        {"token": "BL7-1", "role": "primary"},
        {"token": "BL7-2", "role": "spare"},
    ]
    code = oathtool(sha256, T0, algorithm="sha256", digits=8, period=60)
    assert v.validate("BL7-1", code, now=T0)
    # The token's clock is 90 s ahead: it shows now the code of T0 + 90.
    ahead = oathtool(sha512, T0 + 90, algorithm="sha512", digits=7)
    assert v.validate("BL7-2", ahead, now=T0)


def test_a_file_of_otpauth_uris_with_a_user_column(make_verifier: Callable[..., Verifier]) -> None:
    v = make_verifier()
    alice, bob = bytes(range(10, 30)), bytes(range(50, 82))
    data = (
        "user,uri,token\n"
        f"alice@corp,otpauth://totp/Example:alice-phone?secret={b32(alice)}&issuer=Example,\n"
        f"bob@corp,otpauth://totp/bob?secret={b32(bob)}&algorithm=SHA256&digits=8&period=60,"
        "bob-phone\n"
    ).encode()
    result = v.import_tokens(data, file_format="uris")
    assert result["tokens"] == [
        {"token": "alice-phone", "user": "alice@corp", "role": "primary"},
        {"token": "bob-phone", "user": "bob@corp", "role": "primary"},
    ]
    assert (v.show("alice-phone")["issuer"], v.show("bob-phone")["label"]) == ("Example", "bob")
    assert v.validate_user("alice@corp", pyotp.TOTP(b32(alice)).at(T0), now=T0)
    bob_code = oathtool(bob, T0, algorithm="sha256", digits=8, period=60)
    assert v.validate_user("bob@corp", bob_code, now=T0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "alice@corp,otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP",
            "line 2: The otpauth URI is for HOTP",
        ),
        (
            "alice@corp,otpauth://totp/a?secret=JBSWY3DPEHPK3PX1",
            "line 2: The otpauth URI's secret is not valid base32.",
        ),
        (
            "alice@corp,otpauth://totp/a%20b?secret=JBSWY3DPEHPK3PXP",
            "line 2: the URI's account name, the token id, is not a token id",
        ),
    ],
)
def test_a_bad_uri_line_is_named(
    make_verifier: Callable[..., Verifier], line: str, message: str
) -> None:
    v = make_verifier()
    with pytest.raises(BulkImportError) as refused:
        v.import_tokens(f"user,uri\n{line}\n".encode(), file_format="uris")
    assert str(refused.value).startswith(message)
    assert "JBSWY3DPEHPK3P" not in str(refused.value)
    assert v.list_tokens() == []


def test_a_pskc_file_with_a_user_map(make_verifier: Callable[..., Verifier]) -> None:
    v = make_verifier()
    user_map = b"serial,user,role\nSN100,dave@corp,primary\nSN101-0,erin@corp,spare\n"
    result = v.import_tokens(
        pskc_file(protect="password"),
        file_format="pskc",
        user_map=user_map,
        password="correct horse battery",
    )
    assert result == {
        "dry_run": False,
        "tokens": [
            {"token": "SN100-0", "user": "dave@corp", "role": "primary"},
            {"token": "SN100-1", "user": "dave@corp", "role": "primary"},
            {"token": "SN101-0", "user": "erin@corp", "role": "spare"},
        ],
        "users_added": ["dave@corp", "erin@corp"],
    }
    for token_id, secret, _, algorithm, digits, period in KEYS:
        code = oathtool(secret, T0, algorithm=algorithm, digits=digits, period=period)
        user = "erin@corp" if token_id == "SN101-0" else "dave@corp"
        assert v.validate_user(user, code, now=T0), token_id


@pytest.mark.parametrize(
    ("user_map", "message"),
    [
        (
            b"serial,user\nSN999,dave@corp\n",
            "user map line 2: no key of the PSKC file has the serial 'SN999'",
        ),
        (
            b"serial,user\nSN100,dave@corp\nSN100,erin@corp\n",
            "user map line 3: the serial 'SN100' is given a user twice",
        ),
        (b"serial\nSN100\n", "user map line 1: the column 'user' is missing"),
    ],
)
def test_a_bad_user_map_is_named_and_nothing_imported(
    make_verifier: Callable[..., Verifier], user_map: bytes, message: str
) -> None:
    v = make_verifier()
    with pytest.raises(BulkImportError, match=f"^{re.escape(message)}$"):
        v.import_tokens(pskc_file(), file_format="pskc", user_map=user_map)
    assert v.list_tokens() == [] and v.list_users() == []


def test_a_wrongly_keyed_pskc_file_is_a_pskc_error(make_verifier: Callable[..., Verifier]) -> None:
    v = make_verifier()
    with pytest.raises(PSKCImportError, match="wrong pre-shared key or password"):
        v.import_tokens(pskc_file(protect="password"), file_format="pskc", password="wrong")
    with pytest.raises(
        BulkImportError, match=r"^a user map, key or password is for PSKC files only$"
    ):
        v.import_tokens(b"serial,slot,secret\n", file_format="csv", user_map=b"serial,user\n")
    assert v.list_tokens() == []


# ------------------------------------------------------------------------ command line, HTTP


def cli_import_files(tmp_path: Path, count: int) -> tuple[Path, Path]:
    """A new data folder and a CSV file of `count` tokens (csv_lines) to import into it."""
    data = tmp_path / "data"
    with closing(Verifier(data_dir=data)):
        pass
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("\n".join(csv_lines(count)) + "\n")
    return data, tokens


def test_cli_import_dry_run_then_import_and_a_refused_line(tmp_path: Path) -> None:
    data, tokens = cli_import_files(tmp_path, 3)
    dry = baoling(data, "import", str(tokens), "--format", "csv", "--dry-run")
    assert (dry.returncode, dry.stderr) == (0, "")
    assert dry.stdout == (
        "TOKEN      USER        ROLE\n"
        "BL00000-1  user0@corp  primary\n"
        "BL00001-1  user0@corp  primary\n"
        "BL00002-1  user1@corp  primary\n"
        "New user: user0@corp\n"
        "New user: user1@corp\n"
        "Dry run: would enrol 3 tokens, add 2 users and assign 3 tokens; nothing was changed.\n"
    )
    assert json.loads(baoling(data, "list", "--json").stdout) == []
    done = baoling(data, "import", str(tokens), "--format", "csv")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "Imported 3 tokens, added 2 users, assigned 3 tokens.\n",
        "",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\nBL5,1,,{b32(secret_of(5))}1,,,,\n")
    refused = baoling(data, "import", str(bad), "--format", "csv")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == "Error: line 2: secret is not base32: character 33 is not A-Z or 2-7\n"
    as_json = baoling(data, "import", str(bad), "--format", "csv", "--json")
    assert json.loads(as_json.stderr)["error"] == "bulk_import_error"
    for proc in (dry, done, refused, as_json):
        assert b32(secret_of(0)) not in proc.stdout + proc.stderr


def test_cli_import_counts_one_token_and_one_user_in_the_singular(tmp_path: Path) -> None:
    data, tokens = cli_import_files(tmp_path, 1)
    dry = baoling(data, "import", str(tokens), "--format", "csv", "--dry-run")
    assert dry.stdout.splitlines()[-1] == (
        "Dry run: would enrol 1 token, add 1 user and assign 1 token; nothing was changed."
    )
    done = baoling(data, "import", str(tokens), "--format", "csv")
    assert (done.returncode, done.stdout) == (
        0,
        "Imported 1 token, added 1 user, assigned 1 token.\n",
    )


def test_http_import_needs_the_admin_scope_and_names_a_bad_line(
    make_verifier: Callable[..., Verifier],
) -> None:
    v = make_verifier()
    admin, validate = v.create_api_key("ops", ["admin"]), v.create_api_key("vpn", ["validate"])
    client = TestClient(create_app(v))
    body = {"format": "csv", "data": "\n".join(csv_lines(2)), "dry_run": True}
    denied = client.post("/v1/import", json=body, headers={"Authorization": f"Bearer {validate}"})
    assert denied.status_code == 403
    auth = {"Authorization": f"Bearer {admin}"}
    planned = client.post("/v1/import", json=body, headers=auth)
    assert (planned.status_code, planned.json()["users_added"]) == (200, ["user0@corp"])
    assert v.list_tokens() == []
    done = client.post("/v1/import", json=body | {"dry_run": False}, headers=auth)
    assert done.status_code == 200 and not done.json()["dry_run"]
    assert [t["token"] for t in v.list_tokens()] == ["BL00000-1", "BL00001-1"]
    bad = body | {"data": f"{HEADER}\nBL5,1,,{b32(secret_of(5))[:-2]},,,,\n"}
    refused = client.post("/v1/import", json=bad, headers=auth)
    assert refused.status_code == 422
    assert refused.json() == {
        "error": "invalid_import",
        "message": "line 2: secret is not base32: 30 characters cannot be whole bytes",
    }
    user_map = "serial,user\nSN100,dave@corp\n"
    pskc = {"format": "pskc", "data": pskc_file().decode(), "user_map": user_map}
    answer = client.post("/v1/import", json=pskc, headers=auth)
    assert answer.status_code == 200
    assert v.show_user("dave@corp")["tokens"] == [
        {"token": "SN100-0", "role": "primary"},
        {"token": "SN100-1", "role": "primary"},
    ]


def test_hotp_tokens_from_a_token_csv_and_a_uri(make_verifier: Callable[..., Verifier]) -> None:
    v = make_verifier()
    key, phone = bytes(range(20)), bytes(range(30, 50))
    data = f"serial,slot,secret_hex,kind,counter,user\nHT1,1,{key.hex()},HOTP,5,dan@corp\n"
    v.import_tokens(data.encode(), file_format="csv")
    uris = f"uri,user\notpauth://hotp/dan-phone?secret={b32(phone)}&counter=7,dan@corp\n"
    v.import_tokens(uris.encode(), file_format="uris")
    assert (v.show("HT1-1")["kind"], v.show("HT1-1")["counter"]) == ("hotp", 5)
    assert (v.show("dan-phone")["kind"], v.show("dan-phone")["counter"]) == ("hotp", 7)

    def hotp(secret: bytes, counter: int) -> str:
        done = subprocess.run(
            ["oathtool", "--hotp", "-c", str(counter), secret.hex()],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert hotp(key, 5) == pyotp.HOTP(b32(key)).at(5)
    assert not v.validate("HT1-1", hotp(key, 4), now=T0)  # before its counter
    assert v.validate_user("dan@corp", hotp(key, 5), now=T0)
    assert v.validate_user("dan@corp", hotp(phone, 7), now=T0)
    with pytest.raises(BulkImportError, match=r"^line 2: kind must be totp or hotp$"):
        v.import_tokens(
            b"serial,slot,secret_hex,kind\nHT2,1,00112233445566778899,ocra\n", file_format="csv"
        )


def test_an_import_reports_each_token_enrolled_and_assigned_in_its_transaction(
    make_verifier: Callable[..., Verifier],
) -> None:
    """Events of an import are written with it (docs/events.md): one token.enrolled per token,
    one token.assigned per token given a user, routed by that user's realm; a refused file
    writes none, and none holds a secret."""
    v = make_verifier(event_types=frozenset({"token.enrolled", "token.assigned"}))
    lines = csv_lines(3)
    lines[3] = lines[3].replace("user1@corp", "")  # the third token has no user
    bad = lines[:2] + [lines[2].replace(",sha1,", ",md5,")]
    with pytest.raises(BulkImportError):
        v.import_tokens("\n".join(bad).encode(), file_format="csv")
    assert v.outbox.list_events() == []
    v.import_tokens("\n".join(lines).encode(), file_format="csv")
    events = sorted(v.outbox.list_events(), key=lambda e: (e["type"], e["event"]["data"]["token"]))
    assert [(e["type"], e["event"]["data"], e["realm"], e["user"]) for e in events] == [
        ("token.assigned", {"token": tok, "user": "user0@corp", "role": "primary"}, "corp", "user0")
        for tok in ("BL00000-1", "BL00001-1")
    ] + [
        (
            "token.enrolled",
            {"token": tok, "source": "import-csv", "algorithm": "sha1", "digits": 6, "period": 30},
            None,
            None,
        )
        for tok in ("BL00000-1", "BL00001-1", "BL00002-1")
    ]
    for n in range(3):
        assert all(b32(secret_of(n)) not in json.dumps(e["event"]) for e in events)
