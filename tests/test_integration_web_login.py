"""docs/integrations/web-login.md's example, taken out of the page and run against a real
`baoling verifier serve`: a right code signs alice in, a replayed or wrong code is refused,
a wrong password does not use the code up, and no answer from the verifier is no login."""

import base64
import importlib.util
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.service import Verifier

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs/integrations/web-login.md"
BLOCK = re.compile(
    r"<!-- web-login example: tests/test_integration_web_login.py runs this block -->\n"
    r"```python\n(?P<body>.*?)```",
    re.S,
)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
REFUSED = "Wrong user, password or code."


def load_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, key: str) -> ModuleType:
    """The guide's one marked block, saved as web_login.py and imported as a fresh module."""
    blocks = BLOCK.findall(GUIDE.read_text())
    assert len(blocks) == 1, "the guide must hold exactly one marked example block"
    path = tmp_path / "web_login.py"
    path.write_text(blocks[0])
    monkeypatch.setenv("BAOLING_URL", url)
    monkeypatch.setenv("BAOLING_VALIDATE_KEY", key)
    spec = importlib.util.spec_from_file_location(f"web_login_{id(path)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.delitem(sys.modules, spec.name, raising=False)
    return module


@pytest.fixture
def verifier(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    """A served verifier with alice's token and a validate-only API key."""
    data = tmp_path / "data"
    v = Verifier(data_dir=data)
    v.enrol("alice", base64.b32decode(SECRET))
    key = v.create_api_key("web-login", ["validate"])
    v.close()
    with ServerProcess(["--data-dir", str(data)]) as server:
        yield server, key


def sign_in(client: TestClient, password: str, code: str) -> httpx.Response:
    return client.post(
        "/login",
        content=f"user=alice&password={password.replace(' ', '+')}&code={code}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def a_wrong_code(now: float) -> str:
    """A six-digit code no time step near `now` shows (so it cannot be right by chance)."""
    totp = pyotp.TOTP(SECRET)
    near = {totp.at(now + 30 * step) for step in range(-3, 4)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in near)


def test_right_code_signs_in_and_the_same_code_again_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verifier: tuple[ServerProcess, str]
) -> None:
    server, key = verifier
    app = load_example(tmp_path, monkeypatch, server.url, key).app
    code = pyotp.TOTP(SECRET).now()
    with TestClient(app) as browser:
        assert browser.get("/", follow_redirects=False).headers["location"] == "/login"

        wrong_password = sign_in(browser, "wrong horse", code)
        assert wrong_password.status_code == 401
        assert REFUSED in wrong_password.text
        assert "session" not in browser.cookies

        signed_in = sign_in(browser, "correct horse", code)  # the code was not used up above
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/"
        assert "HttpOnly" in signed_in.headers["set-cookie"]
        assert browser.get("/").text == "<p>Signed in as alice.</p>"

    with TestClient(app) as attacker:  # a second browser replays the code just used
        replayed = sign_in(attacker, "correct horse", code)
        assert replayed.status_code == 401
        assert REFUSED in replayed.text
        assert "session" not in attacker.cookies
        assert attacker.get("/", follow_redirects=False).status_code == 303


def test_wrong_and_malformed_codes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verifier: tuple[ServerProcess, str]
) -> None:
    server, key = verifier
    app = load_example(tmp_path, monkeypatch, server.url, key).app
    with TestClient(app) as browser:
        for code in (a_wrong_code(time.time()), "12ab56", ""):
            refused = sign_in(browser, "correct horse", code)
            assert refused.status_code == 401, code
            assert REFUSED in refused.text
            assert "session" not in browser.cookies
        assert browser.get("/", follow_redirects=False).headers["location"] == "/login"


def test_no_answer_from_the_verifier_is_no_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    app = load_example(tmp_path, monkeypatch, closed, "any-key").app
    with TestClient(app) as browser:
        answer = sign_in(browser, "correct horse", pyotp.TOTP(SECRET).now())
        assert answer.status_code == 503
        assert "Cannot check codes now, try again." in answer.text
        assert "session" not in browser.cookies
