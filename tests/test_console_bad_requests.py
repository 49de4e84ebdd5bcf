"""Requests the console's own pages never send, from a hostile or careless person, against the
real server (tests/console_browser.py): each gets the console's error page in the person's
language, with a clear message and no traceback, and changes nothing."""

import base64
import html
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.service import Verifier
from tests.console_browser import PASSWORD, Console, closing, running_console
from tests.fixtures_postgres import PostgresServer

UNREADABLE = "The form could not be read; nothing was changed."
ROLE_REFUSED = "Your role may not do this; the attempt was recorded."
NUL_PATHS = ("/ui/token?id=pg-1%00", "/ui/audit?token=%00", "/ui/audit?action=disable%00")
CSRF_REFUSED = "The form has expired or did not come from this console; nothing was changed."


@pytest.fixture(scope="module")
def console() -> Iterator[Console]:
    with running_console() as running:
        yield running


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page
    return found[1]


def message_of(page: str) -> str:
    """The error page's message, as the person reads it."""
    found = re.search(r'id="message" role="alert">([^<]*)</p>', page)
    assert found is not None, page
    return html.unescape(found[1])


@dataclass
class SignedIn:
    """An admin signed in over HTTP, as a script with the browser's cookies would be, and the
    session's CSRF token for the forms it sends by hand."""

    client: httpx.Client
    csrf: str


def sign_in(client: httpx.Client, account: str, code: str) -> SignedIn:
    form = client.get("/ui/sign-in")
    fields = {"account": account, "password": PASSWORD, "code": code}
    answer = client.post("/ui/sign-in", data={"csrf": csrf_of(form.text), **fields})
    assert answer.status_code == 303, answer.text
    return SignedIn(client, csrf_of(client.get("/ui/overview").text))


@contextmanager
def signed_in(console: Console, role: str) -> Iterator[SignedIn]:
    account = console.account(role)
    with httpx.Client(base_url=console.url) as client:
        yield sign_in(client, account.name, account.code())


@pytest.fixture
def admin(console: Console) -> Iterator[SignedIn]:
    with signed_in(console, "admin") as admin:
        yield admin


def test_an_unreadable_form_is_the_consoles_error_page_and_changes_nothing(
    console: Console, admin: SignedIn
) -> None:
    console.token("unreadable-1")
    client, csrf = admin.client, admin.csrf
    no_boundary = {"content-type": "multipart/form-data"}
    body = f"csrf={csrf}&token=unreadable-1".encode()
    answer = client.post("/ui/token/disable", content=body, headers=no_boundary)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert message_of(answer.text) == UNREADABLE
    assert 'id="signed-in"' in answer.text  # still the person's own console, signed in
    chinese = client.post(
        "/ui/token/disable",
        content=body,
        headers={**no_boundary, "accept-language": "zh-CN"},
    )
    assert chinese.status_code == 400
    assert message_of(chinese.text) == "无法读取表单，未做任何更改。"
    too_many = {"csrf": csrf, "token": "unreadable-1", **{f"f{n}": "x" for n in range(1000)}}
    answer = client.post("/ui/token/disable", data=too_many)
    assert answer.status_code == 400
    assert message_of(answer.text) == UNREADABLE
    with closing(console.verifier()) as v:
        assert v.show("unreadable-1")["enabled"] is True
        assert v.search_audit(token="unreadable-1", action="disable") == []


def test_an_unreadable_sign_in_form_is_the_consoles_error_page(console: Console) -> None:
    answer = httpx.post(
        console.url + "/ui/sign-in",
        content=b"account=x",
        headers={"content-type": "multipart/form-data"},
    )
    assert answer.status_code == 400
    assert message_of(answer.text) == UNREADABLE
    assert "baoling_console=" not in answer.headers.get("set-cookie", "")


def test_a_csrf_token_with_non_ascii_characters_is_refused_as_any_other_wrong_one(
    console: Console, admin: SignedIn
) -> None:
    console.token("csrf-unicode")
    answer = admin.client.post("/ui/token/disable", data={"csrf": "令牌", "token": "csrf-unicode"})
    assert answer.status_code == 403
    assert message_of(answer.text) == CSRF_REFUSED
    with closing(console.verifier()) as v:
        assert v.show("csrf-unicode")["enabled"] is True
    with httpx.Client(base_url=console.url) as client:
        client.get("/ui/sign-in")  # the sign-in form's own CSRF cookie
        fields = {"csrf": "é" * 43, "account": "someone", "password": PASSWORD, "code": "1"}
        answer = client.post("/ui/sign-in", data=fields)
    assert answer.status_code == 403
    assert message_of(answer.text) == CSRF_REFUSED


def test_the_lost_token_flow_refused_leaves_the_token_enabled(
    console: Console, admin: SignedIn
) -> None:
    """The token was disabled before the codes were refused (a day they may not have, a user
    deactivated since the page was opened): the user then had neither the token nor codes."""
    with closing(console.verifier()) as v:
        for user, token_id in (("lena", "lena-1"), ("omar", "omar-1"), ("nina", "nina-1")):
            console.token(token_id)
            v.add_user(user)
            v.assign(token_id, user, override=True)
        v.deactivate_user("nina")
    week = (date.today() + timedelta(days=7)).isoformat()  # a day codes may have
    refused = [
        ("lena", "lena-1", "2000-01-01", "expires must be today"),
        ("lena", "lena-1", f"{date.today().year + 2}-01-01", "expires must be at most 90 days"),
        ("lena", "omar-1", week, "The token is not this user's: nothing was changed."),
        ("nina", "nina-1", week, "The user is deactivated: nothing was changed."),
    ]
    for user, token_id, day, message in refused:
        fields = {"csrf": admin.csrf, "user": user, "token": token_id, "expires": day}
        answer = admin.client.post("/ui/user/lost-token", data=fields)
        assert answer.status_code == 400, (user, token_id, day)
        assert message_of(answer.text).startswith(message)
    with closing(console.verifier()) as v:
        assert [v.show(t)["enabled"] for t in ("lena-1", "omar-1", "nina-1")] == [True] * 3
        assert v.search_audit(action="token_lost") == []
        assert v.search_audit(action="backup_codes_issue") == []
    fields = {"csrf": admin.csrf, "user": "lena", "token": "lena-1", "expires": week}
    answer = admin.client.post("/ui/user/lost-token", data=fields)
    assert answer.status_code == 200
    assert len(re.findall(r"<li>\d{10}</li>", answer.text)) == 10
    with closing(console.verifier()) as v:
        assert v.show("lena-1")["enabled"] is False


def test_an_address_with_no_page_or_a_forms_address_opened_is_the_consoles_error_page(
    console: Console, admin: SignedIn
) -> None:
    answer = admin.client.get("/ui/tokenz")
    assert answer.status_code == 404
    assert message_of(answer.text) == "There is no such page in the console."
    assert 'id="signed-in"' in answer.text
    answer = admin.client.get("/ui/token/delete?token=x", headers={"accept-language": "zh-CN"})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert message_of(answer.text) == "此地址只接受其页面上的表单：请打开该页面并使用其按钮。"
    console.open("/ui/no-such-page")  # in the browser, signed out: the page and its styles
    assert console.text("message") == "There is no such page in the console."
    # Chromium reports the 404 itself; nothing else (a refused style or script).
    assert [e for e in console.console_errors() if "status of 404" not in e] == []


def test_a_huge_name_typed_at_sign_in_is_cut_in_its_audit_row(console: Console) -> None:
    typed = "n" + "é" * 100_000  # within the body limit, far longer than any account's name
    with httpx.Client(base_url=console.url) as client:
        form = client.get("/ui/sign-in")
        fields = {"csrf": csrf_of(form.text), "account": typed, "password": "x", "code": "1"}
        answer = client.post("/ui/sign-in", data=fields)
    assert answer.status_code == 200
    assert message_of(answer.text) == "Wrong name, password or code."
    with closing(console.verifier()) as v:
        [row] = v.search_audit(action="console_sign_in", detail={"typed_chars": len(typed)})
    assert row["detail"]["console_account"] == typed[:64] + "…"
    assert row["detail"]["reason"] == "unknown_account"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("used=7d", "Used within is a number of days, or never."),
        ("used=nan", "Used within is a number of days, or never."),
        ("drift=nan", "Drift beyond is a number of steps, 0 or more."),
        ("drift=-1", "Drift beyond is a number of steps, 0 or more."),
        ("drift=1e999", "Drift beyond is a number of steps, 0 or more."),
    ],
)
def test_a_tokens_list_filter_that_is_no_number_is_refused_not_an_empty_list(
    console: Console, admin: SignedIn, query: str, message: str
) -> None:
    """`7d` in the used filter listed no token at all, as if none had been used in a week;
    `nan` listed every one."""
    answer = admin.client.get("/ui/tokens?" + query)
    assert answer.status_code == 400
    assert message_of(answer.text) == message


def test_the_tokens_list_still_takes_numbers_and_never(console: Console, admin: SignedIn) -> None:
    console.token("never-used")
    for query in ("used=7", "used=0.5", "used=never", "drift=0", "drift=2.5"):
        assert admin.client.get("/ui/tokens?" + query).status_code == 200, query
    listed = admin.client.get("/ui/tokens?used=never").text
    assert 'data-token="never-used"' in listed


def test_the_helpdesk_cannot_change_a_token_a_console_account_signs_in_with(
    console: Console, admin: SignedIn
) -> None:
    """A helpdesk account disabled an admin's own token: every admin was then shut out."""
    boss = console.account("admin")
    console.token("helpdesk-may")
    with closing(console.verifier()) as v:
        v.add_user("boss-person")
        v.assign(boss.token_id, "boss-person", override=True)
    week = (date.today() + timedelta(days=7)).isoformat()
    with signed_in(console, "helpdesk") as helpdesk:
        shown = helpdesk.client.get(f"/ui/token?id={boss.token_id}").text
        assert 'id="account-token"' in shown  # no buttons it may not use, but why
        assert "/ui/token/disable" not in shown
        for action in ("disable", "unlock", "enable", "unassign"):
            fields = {"csrf": helpdesk.csrf, "token": boss.token_id}
            answer = helpdesk.client.post(f"/ui/token/{action}", data=fields)
            assert answer.status_code == 403, action
            assert message_of(answer.text) == ROLE_REFUSED
        lost = {"user": "boss-person", "token": boss.token_id, "expires": week}
        answer = helpdesk.client.post("/ui/user/lost-token", data={"csrf": helpdesk.csrf, **lost})
        assert answer.status_code == 403
        fields = {"csrf": helpdesk.csrf, "token": "helpdesk-may"}
        assert helpdesk.client.post("/ui/token/disable", data=fields).status_code == 303
    with closing(console.verifier()) as v:
        assert v.show(boss.token_id)["enabled"] is True
        assert v.show_user("boss-person")["tokens"][0]["token"] == boss.token_id
        denied = v.search_audit(token=boss.token_id, action="console_denied")
        assert v.show("helpdesk-may")["enabled"] is False
    assert len(denied) == 5
    assert {row["detail"]["role"] for row in denied} == {"helpdesk"}
    assert "/ui/token/disable" in admin.client.get(f"/ui/token?id={boss.token_id}").text
    fields = {"csrf": admin.csrf, "token": boss.token_id}  # an admin may
    assert admin.client.post("/ui/token/disable", data=fields).status_code == 303


def test_a_nul_in_a_field_is_refused_on_postgresql(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """PostgreSQL refuses a NUL in a query: a token id or an audit filter holding one was a
    500 and a DataError traceback in the log."""
    url, data_dir, secret = postgres_server.create_database(), tmp_path / "data", os.urandom(20)
    with closing(Verifier(url, data_dir=data_dir)) as v:
        v.enrol("console-pg", secret)
        v.console.add("pg", "admin", PASSWORD, "console-pg")
        v.enrol("pg-1", os.urandom(20))
    code = pyotp.TOTP(base64.b32encode(secret).decode()).now()
    with (
        ServerProcess(["--data-dir", str(data_dir), "--store-url", url]) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        admin = sign_in(client, "pg", code)
        answers = [client.get(path) for path in NUL_PATHS]
        answers.append(
            client.post("/ui/token/disable", data={"csrf": admin.csrf, "token": "pg-1\x00"})
        )
        for answer in answers:
            assert answer.status_code == 400, answer.url
            assert message_of(answer.text) == "A field holds a NUL character; nothing was changed."
    assert "Traceback" not in server.log()
    with closing(Verifier(url, data_dir=data_dir)) as v:
        assert v.show("pg-1")["enabled"] is True
