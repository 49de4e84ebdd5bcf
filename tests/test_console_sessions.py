"""Console sessions end on their own: after console_idle_seconds without a request and after
console_session_seconds however busy (in a real headless Chromium, tests/console_browser.py);
the cookie is Secure when the browser came over TLS through a proxy on the same host."""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from baoling.host_tools.verifier_process import ServerProcess
from tests.console_browser import PASSWORD, Console, closing, running_console

ENDED = "Your session has ended: sign in again."


@pytest.fixture(scope="module")
def console() -> Iterator[Console]:
    args = ["--console-idle-seconds", "3", "--console-session-seconds", "8"]
    with running_console(args) as running:
        yield running


def test_a_session_ends_after_the_idle_time(console: Console) -> None:
    admin = console.account("admin")
    console.token("idle-1")
    console.sign_in(admin)
    console.open("/ui/token?id=idle-1")
    assert console.text("signed-in").startswith("Signed in as")
    time.sleep(4)
    console.click("disable")  # a form sent from the page left open: refused, nothing done
    assert console.driver.current_url == console.url + "/ui/sign-in?ended=1"
    assert console.text("message") == ENDED
    with closing(console.verifier()) as v:
        assert v.show("idle-1")["enabled"] is True
        assert v.search_audit(token="idle-1", action="disable") == []
        ended = v.search_audit(action="console_session_end", detail={"console_account": admin.name})
    assert len(ended) == 1


def test_a_busy_session_ends_at_its_absolute_limit(console: Console) -> None:
    admin = console.account("admin")
    console.sign_in(admin)
    started = time.monotonic()
    while time.monotonic() - started < 7:  # a request every second: never idle
        console.open("/ui/overview")
        assert console.text("signed-in").startswith("Signed in as")
        time.sleep(1)
    time.sleep(max(0.0, 8.5 - (time.monotonic() - started)))
    console.open("/ui/overview")
    assert console.text("message") == ENDED


def test_the_cookies_are_secure_behind_a_tls_proxy(console: Console) -> None:
    # The proxy in front says the browser came over TLS.
    answer = httpx.get(console.url + "/ui/sign-in", headers={"X-Forwarded-Proto": "https"})
    cookie = answer.headers["set-cookie"]
    assert re.search(r"; secure(;|$)", cookie, flags=re.IGNORECASE), cookie
    plain = httpx.get(console.url + "/ui/sign-in").headers["set-cookie"]
    assert not re.search(r"; secure(;|$)", plain, flags=re.IGNORECASE), plain


def test_the_session_cookie_is_secure_behind_a_tls_proxy(console: Console) -> None:
    admin = console.account("admin")
    tls = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy in front sends
    with httpx.Client(base_url=console.url, headers=tls) as client:
        form = client.get("/ui/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        fields = {"csrf": csrf[1], "account": admin.name, "password": PASSWORD}
        # The proxy talks plain HTTP to the verifier: hand back the Secure cookie by hand.
        cookie = form.headers["set-cookie"].split(";")[0]
        answer = client.post(
            "/ui/sign-in", data={**fields, "code": admin.code()}, headers={"Cookie": cookie}
        )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui/overview"
    session = [c for c in answer.headers.get_list("set-cookie") if c.startswith("baoling_console=")]
    assert len(session) == 1
    flags = {flag.strip().lower() for flag in session[0].split(";")[1:]}
    assert {"secure", "httponly", "samesite=strict", "path=/ui"} <= flags, session[0]


def test_the_console_can_be_turned_off(tmp_path: Path) -> None:
    with ServerProcess(["--data-dir", str(tmp_path)], ["--no-console"]) as server:
        assert httpx.get(server.url + "/ui/sign-in").status_code == 404
        assert httpx.get(server.url + "/healthz").status_code == 200
