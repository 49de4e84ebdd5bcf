"""Signing in to the web console with a password and a code from the account's own Baoling
token, in a real headless Chromium (tests/console_browser.py): wrong, replayed and locked
refuse; signing out ends the session on the server; the sign-in form needs its CSRF token; the
rate limit; the session cookie's flags; both languages; the first admin made with the command
line signs in."""

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pyotp
import pytest
from selenium.webdriver.common.by import By

from tests.console_browser import PASSWORD, Account, Console, closing, running_console

WRONG = "Wrong name, password or code."


@pytest.fixture(scope="module")
def console() -> Iterator[Console]:
    with running_console(["--lockout-after", "3"]) as running:
        yield running


def test_password_and_code_sign_in_with_a_strict_http_only_cookie(console: Console) -> None:
    admin = console.account("admin")
    console.sign_in(admin)
    assert console.driver.current_url == console.url + "/ui/overview"
    assert console.text("signed-in") == f"Signed in as {admin.name} (admin)"
    cookie = console.driver.get_cookie("baoling_console")
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/ui"
    assert cookie["secure"] is False  # plain HTTP on 127.0.0.1; Secure behind TLS
    assert console.console_errors() == []
    with closing(console.verifier()) as v:
        rows = v.search_audit(detail={"console_account": admin.name}, limit=10)
    actions = [(row["action"], row["detail"].get("result")) for row in rows]
    assert ("console_sign_in", "accept") in actions
    assert ("validate", "accept") in actions  # the code went through the same validation


def test_the_first_admin_made_with_the_command_line_signs_in(console: Console) -> None:
    """docs/console.md's way: enrol the account's token, add the account with the password on
    stdin, then sign in from the browser with a code from that token."""
    env = {**os.environ, "BAOLING_DATA_DIR": str(console.data_dir)}

    def baoling(*args: str, stdin: str = "") -> str:
        command = [sys.executable, "-m", "baoling.host_tools", "verifier", *args]
        done = subprocess.run(command, input=stdin, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    uri = baoling("enrol", "console-first").strip()
    baoling(
        "console-account",
        "add",
        "first",
        "--role",
        "admin",
        "--token",
        "console-first",
        stdin="a long private passphrase\n",
    )
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    first = Account("first", "admin", "console-first", totp)
    console.sign_in(first, password="a long private passphrase")
    assert console.driver.current_url == console.url + "/ui/overview"
    assert console.text("signed-in") == "Signed in as first (admin)"
    assert console.driver.find_element(By.ID, "nav-accounts").is_displayed()


def test_a_wrong_code_is_refused(console: Console) -> None:
    helper = console.account("helpdesk")
    good = helper.code()
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    console.sign_in(helper, code=wrong)
    assert console.text("message") == WRONG
    assert console.driver.get_cookie("baoling_console") is None
    assert console.driver.find_elements(By.ID, "signed-in") == []


def test_a_wrong_password_leaves_the_code_unused(console: Console) -> None:
    helper = console.account("helpdesk")
    code = helper.code()
    console.sign_in(helper, password="not the password", code=code)
    assert console.text("message") == WRONG
    console.sign_in(helper, code=code)  # the same code still signs in: it was never tried
    assert console.text("signed-in") == f"Signed in as {helper.name} (helpdesk)"


def test_a_replayed_code_is_refused(console: Console) -> None:
    admin = console.account("admin")
    code = admin.code()
    console.sign_in(admin, code=code)
    assert console.text("signed-in").startswith("Signed in as")
    console.sign_in(admin, code=code)
    assert console.text("message") == "This code was used already: wait for the next one."
    assert console.driver.get_cookie("baoling_console") is None


def test_a_locked_token_refuses_even_the_right_code(console: Console) -> None:
    admin = console.account("admin")
    wrong = "000000" if admin.totp.now() != "000000" else "111111"
    for _ in range(3):  # --lockout-after 3
        console.sign_in(admin, code=wrong)
        assert console.text("message") == WRONG
    console.sign_in(admin)
    assert console.text("message") == "Your token is locked: ask an administrator to unlock it."
    with closing(console.verifier()) as v:
        assert v.show(admin.token_id)["fail_count"] == 3


def test_signing_out_ends_the_session_on_the_server(console: Console) -> None:
    admin = console.account("admin")
    console.sign_in(admin)
    cookie = console.driver.get_cookie("baoling_console")
    assert cookie is not None
    console.click("sign-out")
    assert console.driver.current_url == console.url + "/ui/sign-in"
    # The old cookie, presented again, is no session any more: back to sign-in.
    console.driver.add_cookie({"name": cookie["name"], "value": cookie["value"], "path": "/ui"})
    console.open("/ui/tokens")
    assert console.driver.current_url == console.url + "/ui/sign-in?ended=1"
    assert console.text("message") == "Your session has ended: sign in again."
    answer = httpx.get(console.url + "/ui/tokens", cookies={"baoling_console": cookie["value"]})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/sign-in?ended=1"
    with closing(console.verifier()) as v:
        rows = v.search_audit(action="console_sign_out", detail={"console_account": admin.name})
    assert len(rows) == 1


def test_the_sign_in_form_needs_its_csrf_token(console: Console) -> None:
    admin = console.account("admin")
    console.sign_out()
    console.open("/ui/sign-in")
    console.driver.execute_script("document.querySelector('input[name=csrf]').remove()")
    console.fill("account", admin.name)
    console.fill("password", "x")
    console.fill("code", "123456")
    console.click("sign-in")
    assert console.text("message") == (
        "The form has expired or did not come from this console; nothing was changed."
    )
    assert console.driver.find_element(By.TAG_NAME, "h1").text == "Refused"
    with closing(console.verifier()) as v:  # refused before the password was even checked
        assert (
            v.search_audit(detail={"console_account": admin.name}, action="console_sign_in") == []
        )
    # A HEAD of the form is its GET without the body (a link checker's), not a refused post.
    head = httpx.head(console.url + "/ui/sign-in")
    assert (head.status_code, head.headers["content-type"], head.content) == (
        200,
        "text/html; charset=utf-8",
        b"",
    )


def test_sign_in_is_rate_limited_per_account(console: Console) -> None:
    helper = console.account("helpdesk")
    for _ in range(5):  # the code is never checked after a wrong password
        console.sign_in(helper, password="guess", code="123456")
        assert console.text("message") == WRONG
    console.sign_in(helper)  # right password and code, but too many failures just now
    assert console.text("message") == "Too many failed sign-ins: wait a few minutes."
    with closing(console.verifier()) as v:  # the refused attempt never reached the token
        assert v.show(helper.token_id)["last_step"] is None


def test_chinese_by_accept_language_and_the_switch(console: Console) -> None:
    console.sign_out()
    console.console_errors()  # forget the earlier tests' messages (their 403 and 429 pages)
    console.set_accept_language("zh-CN,zh;q=0.9,en;q=0.5")
    try:
        console.open("/ui/sign-in")
        assert console.driver.find_element(By.TAG_NAME, "h1").text == "登录"
        assert console.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
        console.follow(console.driver.find_element(By.LINK_TEXT, "English"))
        assert console.driver.find_element(By.TAG_NAME, "h1").text == "Sign in"
        console.follow(console.driver.find_element(By.LINK_TEXT, "中文"))
        assert console.driver.find_element(By.TAG_NAME, "h1").text == "登录"
        assert console.console_errors() == []
    finally:
        console.set_accept_language("en-US,en")
        console.driver.delete_all_cookies()


def test_signing_in_again_ends_the_browsers_previous_session(console: Console) -> None:
    admin = console.account("admin")
    console.sign_in(admin)
    first = console.driver.get_cookie("baoling_console")
    assert first is not None
    console.open("/ui/sign-in")  # still signed in; sign in once more over it
    console.fill("account", admin.name)
    console.fill("password", PASSWORD)
    console.fill("code", admin.code())
    console.click("sign-in")
    second = console.driver.get_cookie("baoling_console")
    assert second is not None and second["value"] != first["value"]
    answer = httpx.get(console.url + "/ui/overview", cookies={"baoling_console": first["value"]})
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/sign-in?ended=1")
