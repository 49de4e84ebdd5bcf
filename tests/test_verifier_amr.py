"""The verifier records that a token has a device PIN, and accepted validations carry RFC 8176
`amr` values (issue 17 item 2; docs/verifier.md, "amr"): ["hwk", "otp"], plus "pin" for a token
with a device PIN. Through the Python API on both stores, and over HTTP against a served
verifier that `baoling token provision --pin --verifier` enrolled a simulated token into.

Sources of truth: RFC 8176's registered values (hwk, otp, pin), pyotp for the codes, the
simulator's screen for the token's code.
"""

import json
import os
from pathlib import Path

import httpx
import pytest
from provisioning_sim import baoling, sim_token
from test_verifier_service import SECRET, T0, code_at, wrong_code

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.errors import InvalidRequest
from baoling.verifier.service import Verifier
from tests.test_token_pin_sim import enter

HWK_OTP = ("hwk", "otp")
WITH_PIN = ("hwk", "otp", "pin")
PIN = "4812"


def test_accepts_carry_amr_with_pin_only_for_a_device_pin_token(make_verifier) -> None:
    v = make_verifier()
    v.enrol("plain", SECRET, now=T0)
    v.enrol("pinned", SECRET, device_pin=True, now=T0)
    assert (v.show("plain")["device_pin"], v.show("pinned")["device_pin"]) == (False, True)
    assert v.check("plain", code_at(SECRET, T0), now=T0).amr == HWK_OTP
    assert v.check("pinned", code_at(SECRET, T0), now=T0).amr == WITH_PIN
    rejected = v.check("pinned", wrong_code(SECRET, T0 + 30), now=T0 + 30)
    assert (rejected.accepted, rejected.amr) == (False, ())
    v.add_user("carol")
    v.assign("pinned", "carol", override=True)
    by_user = v.check_user("carol", code_at(SECRET, T0 + 60), now=T0 + 60)
    assert (by_user.accepted, by_user.amr) == (True, WITH_PIN)
    assert v.check_user("carol", code_at(SECRET, T0 + 60), now=T0 + 61).amr == ()  # a replay
    with pytest.raises(InvalidRequest, match="^device_pin must be true or false$"):
        v.enrol("odd", SECRET, device_pin="yes")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("verifier")
    v = Verifier(data_dir=data_dir)
    keys = {
        "admin": v.create_api_key("amr-admin", ["admin"]),
        "validate": v.create_api_key("amr-validate", ["validate"]),
    }
    v.close()
    with ServerProcess(["--data-dir", str(data_dir)]) as server:
        server.keys = keys
        yield server


def post(served, path: str, body: dict, key: str = "admin") -> httpx.Response:
    auth = {"Authorization": f"Bearer {served.keys[key]}"}
    return httpx.post(f"{served.url}{path}", json=body, headers=auth)


def test_http_enrol_takes_device_pin_and_validate_answers_amr(served) -> None:
    base = {"secret": "JBSWY3DPEHPK3PXPJBSWY3DP"}
    assert post(served, "/v1/tokens", {"token": "h-pin", "device_pin": True, **base}).status_code
    refused = post(served, "/v1/tokens", {"token": "h-odd", "device_pin": "yes", **base})
    assert (refused.status_code, refused.json()["error"]) == (422, "invalid_request")
    auth = {"Authorization": f"Bearer {served.keys['admin']}"}
    shown = httpx.get(f"{served.url}/v1/tokens/h-pin", headers=auth).json()
    assert shown["device_pin"] is True
    reject = post(served, "/v1/validate", {"token": "h-pin", "code": "000000"}, "validate")
    assert reject.json() == {"result": "reject"}


def test_provision_with_pin_enrols_it_and_its_codes_answer_pin(served, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    with sim_token(tmp_path / "token") as (sim, tok):
        tok.link.close()
        proc = baoling(
            "token", "provision", "--port", sim.port, "--label", "dora", "--pin-file",
            str(pin_file), "--verifier", served.url, "--keys", str(tmp_path / "k"), "--json",
            env={**os.environ, "BAOLING_API_KEY": served.keys["admin"]},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        token_id = json.loads(proc.stdout)["token_id"]
        auth = {"Authorization": f"Bearer {served.keys['admin']}"}
        shown = httpx.get(f"{served.url}/v1/tokens/{token_id}", headers=auth).json()
        assert shown["device_pin"] is True
        sim.restart()
        sim.wait_screen(lambda s: s.get("screen") == "pin")
        enter(sim, PIN)
        screen = sim.wait_screen(lambda s: s.get("screen") == "code")
        answer = post(
            served, "/v1/validate", {"token": token_id, "code": screen["code"]}, "validate"
        )
        assert answer.json() == {"result": "accept", "amr": list(WITH_PIN)}


def test_cli_enrol_records_a_device_pin_and_show_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "BAOLING_DATA_DIR": str(tmp_path / "data")}
    enrolled = baoling("verifier", "enrol", "fob-1", "--device-pin", env=env)
    assert enrolled.returncode == 0, enrolled.stderr
    plain = baoling("verifier", "enrol", "fob-2", env=env)
    assert plain.returncode == 0, plain.stderr
    shown = [baoling("verifier", "show", name, env=env).stdout for name in ("fob-1", "fob-2")]
    assert "Device PIN:          yes" in shown[0].splitlines()
    assert "Device PIN:          no" in shown[1].splitlines()
