"""The token lifecycle (docs/users.md, "Lost tokens"): proof of possession on assign, a lost
token disabled and replaced by one-time backup codes or the spare, a found token enabled again,
a deactivated user reactivated, and the helpdesk key that may do all of it but cannot delete a
token or read a URI. From Python, the command line, and HTTP against a served verifier."""

import base64
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier import audit
from baoling.verifier.errors import (
    AssignmentConflict,
    InvalidRequest,
    LifecycleConflict,
    PossessionNotProven,
    UnknownUser,
)
from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier
from baoling.verifier.store import backup_codes

HW = "BL0001-1"
PHONE = "alice-phone"
HW_SECRET = bytes(range(1, 21))
PHONE_SECRET = bytes(range(21, 41))
HW_OTP = pyotp.TOTP(base64.b32encode(HW_SECRET).decode())
PHONE_OTP = pyotp.TOTP(base64.b32encode(PHONE_SECRET).decode())
ENV = {name: value for name, value in os.environ.items() if not name.startswith("BAOLING_")}
HTTP_TIMEOUT_S = 30


def later_code(otp: pyotp.TOTP) -> tuple[str, float]:
    """A code of a later step than the fixture's proof of possession used, and its time."""
    at = time.time() + 90
    return otp.at(at), at


def today() -> datetime:
    return datetime.now(UTC)


def audit_rows(v: Verifier, actions: set[str]) -> list[tuple[str, str | None, dict]]:
    """The audit rows of `actions`, oldest first: (action, token, detail)."""
    rows = [row for row in reversed(v.audit(limit=1000)) if row["action"] in actions]
    return [(row["action"], row["token"], row["detail"]) for row in rows]


@pytest.fixture
def v(tmp_path):
    """alice@corp with the hardware token (primary, proven) and her phone (spare)."""
    verifier = Verifier(data_dir=tmp_path, policy=None)
    verifier.enrol(HW, HW_SECRET)
    verifier.enrol(PHONE, PHONE_SECRET)
    verifier.add_user("alice@corp")
    verifier.assign(HW, "alice@corp", code=HW_OTP.now())
    verifier.assign(PHONE, "alice@corp", role="spare", code=PHONE_OTP.now())
    yield verifier
    verifier.close()


# ------------------------------------------------------------------- proof of possession


def test_assign_needs_a_code_from_the_token(tmp_path):
    v = Verifier(data_dir=tmp_path)
    v.enrol(HW, HW_SECRET)
    v.add_user("bob@corp")
    with pytest.raises(PossessionNotProven) as missing:
        v.assign(HW, "bob@corp")
    assert str(missing.value) == (
        f"assigning token '{HW}' needs a code from it (proof of possession), "
        "or the administrator's override"
    )
    wrong = f"{(int(HW_OTP.now()) + 1) % 1_000_000:06d}"
    with pytest.raises(PossessionNotProven) as refused:
        v.assign(HW, "bob@corp", code=wrong)
    assert str(refused.value) == f"token '{HW}' refused the code (wrong_code); nothing was assigned"
    assert v.show_user("bob@corp")["tokens"] == []
    assert v.show(HW)["fail_count"] == 1  # a wrong code counts, as for a validation
    right = HW_OTP.now()
    assert v.assign(HW, "bob@corp", code=right)["tokens"] == [{"token": HW, "role": "primary"}]
    v.unassign(HW)
    with pytest.raises(PossessionNotProven) as replayed:
        v.assign(HW, "bob@corp", code=right)  # the code was used up by the assign
    assert str(replayed.value) == f"token '{HW}' refused the code (replay); nothing was assigned"
    assert not v.validate(HW, right)
    assert [
        (a, t, d.get("result"), d.get("reason")) for a, t, d in audit_rows(v, {"possession"})
    ] == [
        ("possession", HW, "reject", "wrong_code"),
        ("possession", HW, "accept", "accepted"),
        ("possession", HW, "reject", "replay"),
    ]
    assigned = audit_rows(v, {"assign"})
    assert [d["possession"] for _, _, d in assigned] == ["proven"]
    assert all(right not in json.dumps(d) and wrong not in json.dumps(d) for _, _, d in assigned)
    v.close()


def test_the_override_assigns_without_a_code_and_says_who(tmp_path):
    v = Verifier(data_dir=tmp_path)
    v.enrol(HW, HW_SECRET)
    v.add_user("bob@corp")
    with audit.origin(by="console:root"):
        v.assign(HW, "bob@corp", override=True)
    assert audit_rows(v, {"assign"}) == [
        (
            "assign",
            HW,
            {
                "user": "bob@corp",
                "role": "primary",
                "possession": "overridden",
                "by": "console:root",
            },
        )
    ]
    assert v.show(HW)["fail_count"] == 0 and v.show(HW)["last_step"] is None
    v.close()


def test_a_code_and_the_override_together_are_refused_before_anything(tmp_path):
    v = Verifier(data_dir=tmp_path)
    v.enrol(HW, HW_SECRET)
    v.add_user("bob@corp")
    with pytest.raises(InvalidRequest) as refused:
        v.assign(HW, "bob@corp", code=HW_OTP.now(), override=True)
    assert str(refused.value) == "give a code from the token or the override, not both"
    assert v.show_user("bob@corp")["tokens"] == [] and audit_rows(v, {"assign"}) == []
    v.close()
    both = subprocess.run(
        [sys.executable, "-m", "baoling.host_tools", "verifier", "--data-dir", str(tmp_path)]
        + ["assign", HW, "bob@corp", "--code", HW_OTP.now(), "--override"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert (both.returncode, both.stdout, both.stderr) == (
        1,
        "",
        "Error: give a code from the token or the override, not both\n",
    )


def test_the_checks_come_before_the_code_so_a_refused_assign_uses_nothing(v):
    v.add_user("bob@corp")
    code = HW_OTP.now()
    with pytest.raises(AssignmentConflict):
        v.assign(HW, "bob@corp", code=code)
    assert v.show(HW)["fail_count"] == 0
    assert audit_rows(v, {"possession"})[-1][2]["result"] == "accept"  # the fixture's, only


# ------------------------------------------------------------------------ lost tokens


def test_a_lost_token_is_disabled_and_backup_codes_stand_in_once_each(v):
    assert v.report_lost(HW) == {"token": HW, "user": "alice@corp", "enabled": False}
    assert not v.show(HW)["enabled"]
    assert v.check_user("alice@corp", HW_OTP.now()).accepted is False  # the lost token's code
    rows = [detail for _, token, detail in audit_rows(v, {"validate"}) if token == HW]
    assert rows[-1]["reason"] == "disabled"

    last_day = (today() + timedelta(days=7)).date()
    codes, expires = v.issue_backup_codes("alice@corp", last_day)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code) == 10 and code.isdigit() for code in codes)
    assert sorted(code[0] for code in codes) == list("0123456789")
    midnight = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + timedelta(1)
    assert expires == midnight.timestamp()  # lockout_tz is UTC by default

    for code in codes:
        assert v.check_user("alice@corp", code).reason == "backup_code"
    for code in codes[:2]:  # a few: each failure counts in the rate limits
        assert v.check_user("alice@corp", code).reason == "backup_code_used"
    wrong = codes[0][0] + f"{(int(codes[0][1:]) + 1) % 10**9:09d}"
    assert v.check_user("alice@corp", wrong).reason == "wrong_backup_code"
    assert not v.validate_user("bob@corp", codes[1])

    trail = json.dumps(v.audit(limit=1000))
    assert all(code not in trail for code in codes)
    issued = audit_rows(v, {"backup_codes_issue"})
    assert issued == [
        (
            "backup_codes_issue",
            None,
            {"user": "alice@corp", "count": 10, "expires": expires, "revoked": 0},
        )
    ]


def test_the_store_keeps_only_slow_hashes_of_backup_codes(v, tmp_path):
    codes, _ = v.issue_backup_codes("alice@corp", today().date(), count=3)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'verifier.sqlite3'}")
    with engine.connect() as conn:
        stored = [row.code_hash for row in conn.execute(sa.select(backup_codes))]
    engine.dispose()
    assert len(stored) == 3 and all(value.startswith("scrypt$") for value in stored)
    raw = (tmp_path / "verifier.sqlite3").read_bytes()
    assert all(code.encode() not in raw for code in codes)


def test_an_expired_backup_code_fails(v):
    codes, expires = v.issue_backup_codes("alice@corp", today().date(), count=2)
    assert v.check_user("alice@corp", codes[0], now=expires).reason == "backup_code_expired"
    assert v.check_user("alice@corp", codes[0], now=expires - 1).reason == "backup_code"


def test_a_new_set_replaces_the_old_one(v):
    old, _ = v.issue_backup_codes("alice@corp", today().date(), count=2)
    new, _ = v.issue_backup_codes("alice@corp", today().date(), count=2)
    assert v.check_user("alice@corp", old[0]).reason == "wrong_backup_code"
    assert v.check_user("alice@corp", new[0]).reason == "backup_code"
    assert audit_rows(v, {"backup_codes_issue"})[-1][2]["revoked"] == 2


@pytest.mark.parametrize(
    ("days", "count", "message"),
    [
        (-1, 10, "expires must be today ({today}) or later"),
        (91, 10, "expires must be at most 90 days ahead"),
        (1, 0, "count must be a whole number from 1 to 10"),
        (1, 11, "count must be a whole number from 1 to 10"),
    ],
)
def test_backup_codes_are_refused_outside_their_limits(v, days, count, message):
    with pytest.raises(InvalidRequest) as refused:
        v.issue_backup_codes("alice@corp", (today() + timedelta(days=days)).date(), count)
    assert str(refused.value) == message.format(today=today().date().isoformat())


def test_a_deactivated_user_gets_no_backup_codes_and_its_codes_fail(v):
    codes, _ = v.issue_backup_codes("alice@corp", today().date(), count=1)
    v.deactivate_user("alice@corp")
    assert v.check_user("alice@corp", codes[0]).reason == "user_deactivated"
    with pytest.raises(LifecycleConflict) as refused:
        v.issue_backup_codes("alice@corp", today().date())
    assert str(refused.value) == "user 'alice@corp' is deactivated; reactivate it first"
    with pytest.raises(UnknownUser):
        v.issue_backup_codes("nobody@corp", today().date())


def test_one_backup_code_is_accepted_once_by_twenty_threads(v):
    codes, _ = v.issue_backup_codes("alice@corp", today().date(), count=1)
    results: list[bool] = []
    start = threading.Barrier(20)

    def submit() -> None:
        start.wait()
        results.append(v.validate_user("alice@corp", codes[0]))

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 19 + [True]


def test_a_found_token_works_again_and_the_backup_codes_stop(v):
    v.report_lost(HW)
    codes, _ = v.issue_backup_codes("alice@corp", today().date(), count=3)
    assert v.token_found(HW) == {
        "token": HW,
        "user": "alice@corp",
        "enabled": True,
        "backup_codes_revoked": 3,
    }
    assert v.check_user("alice@corp", codes[0]).reason == "wrong_backup_code"
    assert v.validate_user("alice@corp", *later_code(HW_OTP))
    assert [(a, t) for a, t, _ in audit_rows(v, {"token_lost", "token_found"})] == [
        ("token_lost", HW),
        ("token_found", HW),
    ]


def test_the_spare_becomes_the_primary_token_and_the_backup_codes_stop(v):
    v.report_lost(HW)
    codes, _ = v.issue_backup_codes("alice@corp", today().date(), count=3)
    assert v.check_user("alice@corp", codes[0]).reason == "backup_code"
    v.disable(PHONE)  # kept at the helpdesk until handed out
    assert v.activate_spare(PHONE) == {
        "token": PHONE,
        "user": "alice@corp",
        "role": "primary",
        "enabled": True,
        "backup_codes_revoked": 2,
    }
    # The replacement is in her hands: the stopgap's codes left on paper no longer work.
    assert v.check_user("alice@corp", codes[1]).reason == "wrong_backup_code"
    assert audit_rows(v, {"spare_activate"})[-1][2]["backup_codes_revoked"] == 2
    tokens = v.show_user("alice@corp")["tokens"]
    assert {"token": PHONE, "role": "primary"} in tokens
    assert v.validate_user("alice@corp", *later_code(PHONE_OTP))
    with pytest.raises(LifecycleConflict) as refused:
        v.activate_spare(HW)
    assert str(refused.value) == f"token '{HW}' is not a user's spare token"


def test_a_spare_reported_lost_stays_off_until_found(v, tmp_path):
    """A careless helpdesk cannot switch back on the token whoever found it holds: neither
    activate-spare nor enable turns a lost token on; only found does, revoking the codes."""
    v.report_lost(PHONE)
    assert v.show(PHONE)["lost"] is True
    with pytest.raises(LifecycleConflict) as refused:
        v.activate_spare(PHONE)
    assert str(refused.value) == (
        f"token '{PHONE}' is reported lost and cannot be activated; if it is back, report it found"
    )
    with pytest.raises(LifecycleConflict) as refused:
        v.enable(PHONE)
    assert "cannot be enabled" in str(refused.value)
    code, at = later_code(PHONE_OTP)
    assert v.check_user("alice@corp", code, now=at).accepted is False
    assert not v.show(PHONE)["enabled"]
    assert v.show_user("alice@corp")["tokens"][1] == {"token": PHONE, "role": "spare"}
    codes, _ = v.issue_backup_codes("alice@corp", today().date(), count=1)
    v.close()
    enabled = baoling(tmp_path, "enable", PHONE)
    assert (enabled.returncode, enabled.stdout) == (1, "")
    assert enabled.stderr == (
        f"Error: token '{PHONE}' is reported lost and cannot be enabled; "
        "if it is back, report it found\n"
    )
    v = Verifier(data_dir=tmp_path)
    assert v.token_found(PHONE)["backup_codes_revoked"] == 1
    assert v.show(PHONE)["lost"] is False
    assert v.validate_user("alice@corp", code, now=at)
    assert v.check_user("alice@corp", codes[0]).reason == "wrong_backup_code"
    v.disable(HW)
    v.enable(HW)  # a token disabled, not lost, is enabled as before
    assert v.show(HW)["enabled"]
    v.close()


def test_enabling_a_lost_token_over_http_is_a_documented_409(v):
    key = v.create_api_key("desk-1", ["helpdesk"])
    client = TestClient(create_app(v))
    v.report_lost(HW)
    answer = client.post(f"/v1/tokens/{HW}/enable", headers={"Authorization": f"Bearer {key}"})
    assert (answer.status_code, answer.json()["error"]) == (409, "lifecycle_conflict")
    assert not v.show(HW)["enabled"]
    spec = client.get("/openapi.json").json()["paths"]
    assert "409" in spec["/v1/tokens/{token_id}/enable"]["post"]["responses"]


# ------------------------------------------------------------------------ reactivation


def test_reactivating_a_user_unassigns_its_tokens_unless_kept(v, tmp_path):
    with pytest.raises(LifecycleConflict) as refused:
        v.reactivate_user("alice@corp")
    assert str(refused.value) == "user 'alice@corp' is active"
    v.deactivate_user("alice@corp")
    v.reactivate_user("alice@corp")
    assert v.show_user("alice@corp")["active"]
    assert v.show_user("alice@corp")["tokens"] == []
    assert v.validate_user("alice@corp", HW_OTP.now()) is False  # no token: not inherited
    row = audit_rows(v, {"user_reactivate"})[-1]
    assert row == (
        "user_reactivate",
        None,
        {
            "user": "alice@corp",
            "tokens_kept": [],
            "tokens_unassigned": [HW, PHONE],
            "directory_entry_replaced": False,
        },
    )


def test_reactivating_with_keep_tokens_keeps_them_said_in_the_audit(v):
    v.deactivate_user("alice@corp")
    answer = v.reactivate_user("alice@corp", keep_tokens=True)
    assert answer == {"user": "alice@corp", "tokens_kept": [HW, PHONE], "tokens_unassigned": []}
    assert v.validate_user("alice@corp", *later_code(HW_OTP))
    assert audit_rows(v, {"user_reactivate"})[-1][2]["tokens_kept"] == [HW, PHONE]


# ------------------------------------------------------------------ the command line


def baoling(data_dir, *args: str) -> subprocess.CompletedProcess[str]:
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
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )


def test_the_helpdesk_commands_handle_a_lost_token_and_name_the_operator(tmp_path):
    v = Verifier(data_dir=tmp_path)
    v.enrol(HW, HW_SECRET)
    v.add_user("alice@corp")
    v.close()
    wrong = baoling(tmp_path, "assign", HW, "alice@corp", "--code", "000000")
    assert wrong.returncode == 1
    assert wrong.stderr == (
        f"Error: token '{HW}' refused the code (wrong_code); nothing was assigned\n"
    )
    missing = baoling(tmp_path, "assign", HW, "alice@corp", "--json")
    assert missing.returncode == 1
    assert json.loads(missing.stderr) == {
        "error": "possession_not_proven",
        "message": f"assigning token '{HW}' needs a code from it (proof of possession), "
        "or the administrator's override",
    }
    assert baoling(tmp_path, "assign", HW, "alice@corp", "--code", HW_OTP.now()).returncode == 0
    lost = baoling(tmp_path, "lost", HW)
    assert (lost.returncode, lost.stdout) == (0, f"Disabled lost token {HW} (alice@corp).\n")
    day = today().date()
    last_day, ends = day.isoformat(), (day + timedelta(days=1)).isoformat()  # ends: in UTC
    issued = baoling(tmp_path, "user", "backup-codes", "alice@corp", "--expires", last_day)
    assert issued.returncode == 0, issued.stderr
    codes = issued.stdout.split()
    assert len(codes) == 10 and all(len(code) == 10 for code in codes)
    assert issued.stderr == (
        f"Backup codes for alice@corp, each usable once, through {last_day} "
        f"(until {ends} 00:00:00Z):\n"
    )
    again = baoling(tmp_path, "user", "reactivate", "alice@corp")
    assert (again.returncode, again.stderr) == (1, "Error: user 'alice@corp' is active\n")

    v = Verifier(data_dir=tmp_path)
    assert v.validate_user("alice@corp", codes[3])
    assert not v.validate_user("alice@corp", codes[3])
    login = os.environ.get("USER") or __import__("getpass").getuser()
    steps = audit_rows(v, {"assign", "token_lost", "backup_codes_issue"})
    assert [(action, detail["by"]) for action, _, detail in steps] == [
        ("assign", f"cli:{login}"),
        ("token_lost", f"cli:{login}"),
        ("backup_codes_issue", f"cli:{login}"),
    ]
    v.close()


# ------------------------------------------------------------------------------- HTTP


def test_the_helpdesk_key_handles_a_lost_token_over_http_but_cannot_delete_or_read_uris(
    tmp_path,
):
    v = Verifier(data_dir=tmp_path)
    v.enrol(HW, HW_SECRET)
    v.add_user("alice@corp")
    desk = {"Authorization": f"Bearer {v.create_api_key('desk-1', ['helpdesk'])}"}
    check = {"Authorization": f"Bearer {v.create_api_key('vpn', ['validate'])}"}
    v.close()
    with (
        ServerProcess(["--data-dir", str(tmp_path)]) as server,
        httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT_S) as http,
    ):
        assign = f"/v1/tokens/{HW}/assign"
        override = http.post(assign, json={"user": "alice@corp", "override": True}, headers=desk)
        assert (override.status_code, override.json()) == (
            403,
            {"error": "forbidden", "message": "Only an admin key may assign without a code."},
        )
        wrong = http.post(assign, json={"user": "alice@corp", "code": "000000"}, headers=desk)
        assert (wrong.status_code, wrong.json()["error"]) == (422, "possession_not_proven")
        right = http.post(assign, json={"user": "alice@corp", "code": HW_OTP.now()}, headers=desk)
        assert right.status_code == 200, right.text

        lost = http.post(f"/v1/tokens/{HW}/lost", headers=desk)
        assert lost.json() == {"token": HW, "user": "alice@corp", "enabled": False}
        last_day = (today() + timedelta(days=3)).date().isoformat()
        issued = http.post(
            "/v1/users/backup-codes",
            json={"user": "alice@corp", "expires": last_day, "count": 4},
            headers=desk,
        )
        assert issued.status_code == 201
        codes = issued.json()["codes"]
        assert len(codes) == 4 and issued.json()["user"] == "alice@corp"

        def validate(code: str) -> str:
            answer = http.post(
                "/v1/validate", json={"user": "alice@corp", "code": code}, headers=check
            )
            assert answer.status_code == 200, answer.text
            return answer.json()["result"]

        assert [validate(code) for code in codes] == ["accept"] * 4
        assert [validate(code) for code in codes] == ["reject"] * 4
        assert validate(HW_OTP.now()) == "reject"  # the lost token is disabled

        shown = http.get(f"/v1/tokens/{HW}", headers=desk)
        assert shown.json()["enabled"] is False
        listed = http.get("/v1/tokens", headers=desk)
        secret_b32 = base64.b32encode(HW_SECRET).decode().rstrip("=")
        for answer in (shown, listed):  # the state, never the secret or its URI
            assert answer.status_code == 200, answer.text
            assert "otpauth" not in answer.text and secret_b32 not in answer.text
            assert "secret" not in answer.text
        for method, path, body in [
            ("DELETE", f"/v1/tokens/{HW}", None),
            ("POST", "/v1/tokens", {"token": "new-phone"}),
            ("GET", "/v1/audit", None),
        ]:
            refused = http.request(method, path, json=body, headers=desk)
            assert (refused.status_code, refused.json()) == (
                403,
                {"error": "forbidden", "message": "This API key is not valid for the admin scope."},
            ), path
        found = http.post(f"/v1/tokens/{HW}/found", headers=desk)
        assert found.json()["backup_codes_revoked"] == 0
        assert http.get(f"/v1/tokens/{HW}", headers=desk).json()["enabled"] is True

    v = Verifier(data_dir=tmp_path)
    assert HW in [token["token"] for token in v.list_tokens()]
    assert "new-phone" not in [token["token"] for token in v.list_tokens()]
    forbidden = audit_rows(v, {"forbidden"})
    assert [(d["method"], d["path"], d["needs"], d["by"]) for _, _, d in forbidden] == [
        ("POST", "/v1/tokens/{token_id}/assign", "admin", "api-key:desk-1"),
        ("DELETE", "/v1/tokens/{token_id}", "admin", "api-key:desk-1"),
        ("POST", "/v1/tokens", "admin", "api-key:desk-1"),
        ("GET", "/v1/audit", "admin", "api-key:desk-1"),
    ]
    steps = audit_rows(v, {"assign", "token_lost", "backup_codes_issue", "token_found"})
    assert [(action, d["by"]) for action, _, d in steps] == [
        ("assign", "api-key:desk-1"),
        ("token_lost", "api-key:desk-1"),
        ("backup_codes_issue", "api-key:desk-1"),
        ("token_found", "api-key:desk-1"),
    ]
    v.close()
