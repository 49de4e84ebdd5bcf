"""`baoling_validations_total{door, result, reason}` counts the answers of every door that checks
codes (docs/operations.md, "Metrics"): POST /v1/validate, RADIUS (through FreeRADIUS's
`radclient`), privacyIDEA's /validate/check and /validate/radiuscheck, and the console's
sign-in, each on one served verifier, read from its /metrics."""

import base64
import os
import re
from pathlib import Path

import httpx
import pyotp
from test_http_api import wrong_code
from test_radius_radclient import SHARED_SECRET, radclient

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.radius import hash_pin
from baoling.verifier.service import Verifier

TIMEOUT_S = 30  # generous: the suite may share two cores with other test runs
PIN = "4321"
PASSWORD = "console password 1"


def enrol(v: Verifier, token_id: str) -> pyotp.TOTP:
    secret = os.urandom(20)
    v.enrol(token_id, secret)
    return pyotp.TOTP(base64.b32encode(secret).decode())


def counted(url: str) -> dict[tuple[str, str, str], float]:
    """The validations counter's samples, by (door, result, reason)."""
    text = httpx.get(f"{url}/metrics", timeout=TIMEOUT_S).text
    found = {}
    for labels, value in re.findall(r"^baoling_validations_total\{([^}]*)\} (\S+)$", text, re.M):
        named = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        found[(named["door"], named["result"], named["reason"])] = float(value)
    return found


def console_sign_in(url: str, account: str, code: str) -> str:
    """Sign in through the console's form as a browser would; the page's text."""
    with httpx.Client(base_url=url, timeout=TIMEOUT_S) as browser:
        form = browser.get("/ui/sign-in").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        answer = browser.post(
            "/ui/sign-in",
            data={"csrf": csrf[1], "account": account, "password": PASSWORD, "code": code},
        )
        return answer.text


def test_every_door_counts_its_answers_by_result_and_reason(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    v = Verifier(data_dir=data_dir)
    http, radius, pin, pi, console = (
        enrol(v, name) for name in ("http-1", "radius-1", "pin-1", "pi-1", "console-1")
    )
    key = v.create_api_key("web", ["validate"])
    v.console.add("ops", "admin", PASSWORD, "console-1")
    v.close()
    config = tmp_path / "radius.toml"
    config.write_text(
        f'port = 0\n[clients."127.0.0.1"]\nsecret = "{SHARED_SECRET}"\n'
        f'[users.pinned]\ntoken = "pin-1"\npin_hash = "{hash_pin(PIN)}"\n'
    )
    serve = ["--radius", "--radius-config", str(config), "--privacyidea-allow", "127.0.0.1"]
    with ServerProcess(["--data-dir", str(data_dir)], serve) as server:
        assert counted(server.url) == {}

        auth = {"Authorization": f"Bearer {key}"}
        code = http.now()
        for token, sent in (("http-1", code), ("http-1", code), ("nobody", code)):
            httpx.post(
                f"{server.url}/v1/validate",
                json={"token": token, "code": sent},
                headers=auth,
                timeout=TIMEOUT_S,
            )

        code = radius.now()
        assert radclient(server.radius_port, "radius-1", code) == "accept"
        assert radclient(server.radius_port, "radius-1", code) == "reject"
        assert radclient(server.radius_port, "radius-1", wrong_code(radius)) == "reject"
        assert radclient(server.radius_port, "pinned", "9999" + pin.now()) == "reject"

        check = f"{server.url}/validate/check"
        assert httpx.post(check, data={"serial": "pi-1", "pass": pi.now()}).json()["result"][
            "value"
        ]
        radiuscheck = f"{server.url}/validate/radiuscheck"
        assert (
            httpx.post(radiuscheck, data={"serial": "pi-1", "pass": wrong_code(pi)}).status_code
            == 400
        )
        assert httpx.post(check, data={"user": "nobody", "pass": "123456"}).status_code == 200

        assert "Wrong name, password or code." in console_sign_in(
            server.url, "ops", wrong_code(console)
        )
        console_sign_in(server.url, "ops", console.now())

        assert counted(server.url) == {
            ("http", "accept", "accepted"): 1.0,
            ("http", "reject", "replay"): 1.0,
            ("http", "reject", "unknown_token"): 1.0,
            ("radius", "accept", "accepted"): 1.0,
            ("radius", "reject", "replay"): 1.0,
            ("radius", "reject", "wrong_code"): 1.0,
            ("radius", "reject", "wrong_pin"): 1.0,
            ("privacyidea", "accept", "accepted"): 1.0,
            ("privacyidea", "reject", "wrong_code"): 1.0,
            ("privacyidea", "reject", "unknown_user"): 1.0,
            ("console", "reject", "wrong_code"): 1.0,
            ("console", "accept", "accepted"): 1.0,
        }
