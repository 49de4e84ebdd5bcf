"""The web console's pages in a real headless Chromium (tests/console_browser.py): every page
renders without a console error, in English and in Chinese, and asks no other host (for the
helpdesk too, without the admin's links); unlocking a locked token; the lost-token flow with
backup codes accepted once over /v1/validate; the drift chart's points and line; markup shown
as text (in labels, names and audit details); a form without its CSRF token or with another
refused (403); the Content-Security-Policy enforced; the helpdesk role cannot delete (403); the
overview shows the chain's last verify; enrolment by QR code; the audit page's filters."""

import io
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pyotp
import pytest
import zxingcpp
from PIL import Image
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from baoling.verifier.constants import MAX_AUDIT_LIMIT
from tests.console_browser import Account, Console, closing, running_console

XSS = "<img src=x onerror=alert(1)>"
CSRF_REFUSED = "The form has expired or did not come from this console; nothing was changed."
DAY = 86400.0


@pytest.fixture(scope="module")
def console() -> Iterator[Console]:
    with running_console(["--lockout-after", "3"]) as running:
        yield running


@pytest.fixture(scope="module")
def admin(console: Console) -> Account:
    return console.account("admin")


@pytest.fixture(scope="module")
def helpdesk(console: Console) -> Account:
    return console.account("helpdesk")


@pytest.fixture(scope="module")
def api_key(console: Console) -> str:
    with closing(console.verifier()) as v:
        return v.create_api_key("console-tests", ["validate"])


@pytest.fixture(autouse=True)
def fresh_logs(console: Console) -> None:
    """Each test reads only its own console errors and requests: the browser is shared by the
    module, and pytest-xdist runs its tests in any order."""
    console.console_errors()
    console.requested_urls()


def as_(console: Console, account: Account) -> None:
    """Signed in as `account` (again only when another account is signed in)."""
    console.open("/ui/overview")
    signed_in = console.driver.find_elements(By.ID, "signed-in")
    if not signed_in or f" {account.name} " not in signed_in[0].text:
        console.sign_in(account)
    assert f" {account.name} " in console.text("signed-in")


def users_token(console: Console, token_id: str, user: str, **enrol: str) -> pyotp.TOTP:
    """A token enrolled and assigned to `user`, a new user; returns its TOTP."""
    totp = console.token(token_id, **enrol)
    with closing(console.verifier()) as v:
        v.add_user(user)
        v.assign(token_id, user, override=True)
    return totp


def validate(console: Console, api_key: str, **body: str) -> str:
    answer = httpx.post(
        console.url + "/v1/validate", json=body, headers={"Authorization": f"Bearer {api_key}"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def no_alert(console: Console) -> bool:
    try:
        console.driver.switch_to.alert  # noqa: B018 (raises when there is none)
    except NoAlertPresentException:
        return True
    return False


def test_every_page_renders_without_a_console_error_and_asks_no_other_host(
    console: Console, admin: Account
) -> None:
    console.token("pages-1", label="first")
    with closing(console.verifier()) as v:
        v.add_user("pat")
        v.assign("pages-1", "pat", override=True)
        v.enrol("pages-hotp", kind="hotp")  # a counter token: no clock, no drift chart
    as_(console, admin)
    console.console_errors()
    console.requested_urls()
    pages = [
        "/ui/overview",
        "/ui/tokens",
        "/ui/tokens?state=active&drift=0&used=30",
        "/ui/token?id=pages-1",
        "/ui/token?id=pages-hotp",
        "/ui/users",
        "/ui/user?user=pat",
        "/ui/enrol",
        "/ui/audit",
        "/ui/audit?user=pat&since=2020-01-01",
    ]
    english = {}
    for page in pages:
        console.open(page)
        english[page] = console.driver.find_element(By.TAG_NAME, "h1").text
        assert english[page], page
        assert console.console_errors() == [], page
    console.set_accept_language("zh-CN,zh;q=0.9")
    try:  # the same pages in Chinese, as the browser's language asks
        for page in pages:
            console.open(page)
            assert console.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
            chinese = console.driver.find_element(By.TAG_NAME, "h1").text
            assert chinese and chinese != english[page], page
            assert console.console_errors() == [], page
    finally:
        console.set_accept_language("en-US,en")
    requested = console.requested_urls()
    assert console.url + "/ui/static/console.js" in requested
    assert console.url + "/ui/static/console.css" in requested
    assert console.foreign(requested) == []
    assert [u for u in requested if not u.startswith((console.url + "/ui/", "data:"))] == []


def test_the_helpdesks_pages_render_without_a_console_error_and_ask_no_other_host(
    console: Console, helpdesk: Account
) -> None:
    users_token(console, "pages-hd", "kim", label="helpdesk's view")
    as_(console, helpdesk)
    console.console_errors()
    console.requested_urls()
    pages = [
        "/ui/overview",
        "/ui/tokens",
        "/ui/token?id=pages-hd",
        "/ui/users",
        "/ui/user?user=kim",
    ]
    for page in pages:
        console.open(page)
        assert console.driver.find_element(By.TAG_NAME, "h1").text, page
        assert console.driver.find_elements(By.ID, "nav-enrol") == [], page
        assert console.driver.find_elements(By.ID, "nav-audit") == [], page
        assert console.driver.find_elements(By.ID, "nav-accounts") == [], page
        assert console.console_errors() == [], page
    requested = console.requested_urls()
    assert console.url + "/ui/token?id=pages-hd" in requested
    assert [u for u in requested if not u.startswith((console.url + "/ui/", "data:"))] == []


def test_unlock_a_locked_token_then_its_next_code_is_accepted_over_http(
    console: Console, admin: Account, api_key: str
) -> None:
    totp = console.token("locked-1")
    for _ in range(3):  # --lockout-after 3
        assert validate(console, api_key, token="locked-1", code="000000") == "reject"
    assert validate(console, api_key, token="locked-1", code=totp.now()) == "reject"  # locked
    as_(console, admin)
    console.open("/ui/token?id=locked-1")
    assert console.text("token-state") == "locked"
    assert console.console_errors() == []
    console.click("unlock")
    assert console.text("token-state") == "active"
    assert console.driver.find_element(By.CLASS_NAME, "done").text == "The token is unlocked."
    code = totp.at(time.time() + 30)  # the next step: the one refused above was this step's
    assert validate(console, api_key, token="locked-1", code=code) == "accept"
    with closing(console.verifier()) as v:
        rows = v.search_audit(token="locked-1", action="unlock")
    assert rows[0]["detail"]["console_account"] == admin.name


def test_the_lost_token_flow_disables_and_shows_backup_codes_once(
    console: Console, admin: Account, helpdesk: Account, api_key: str
) -> None:
    lost = users_token(console, "lost-1", "bob")
    as_(console, helpdesk)
    console.open("/ui/user?user=bob")
    console.click("lost")
    codes = [
        item.text for item in console.driver.find_elements(By.CSS_SELECTOR, "#backup-codes li")
    ]
    assert len(codes) == 10
    assert all(len(code) == 10 and code.isdigit() for code in codes)
    assert console.driver.find_element(By.ID, "print").is_displayed()
    # Printed: the codes and whose they are, without the page's header, buttons and warning.
    console.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert console.driver.find_element(By.ID, "backup-codes").is_displayed()
        assert console.driver.find_element(By.ID, "backup-user").is_displayed()
        assert not console.driver.find_element(By.ID, "print").is_displayed()
        assert not console.driver.find_element(By.TAG_NAME, "header").is_displayed()
    finally:
        console.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert console.console_errors() == []
    with closing(console.verifier()) as v:
        assert v.show("lost-1")["enabled"] is False
        done = v.search_audit(detail={"user": "bob@default"}, limit=2)
    assert [(row["action"], row["detail"]["console_account"]) for row in done] == [
        ("backup_codes_issue", helpdesk.name),
        ("token_lost", helpdesk.name),
    ]
    assert not any(code in str(done) for code in codes)
    # Never shown again: not on the user's page, the token's page or (an admin's) audit page.
    for page in ("/ui/user?user=bob", "/ui/token?id=lost-1"):
        console.open(page)
        assert not any(code in console.driver.page_source for code in codes), page
    as_(console, admin)
    console.open("/ui/audit?user=bob")
    assert console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows tbody tr")
    assert not any(code in console.driver.page_source for code in codes)
    assert validate(console, api_key, user="bob", code=codes[3]) == "accept"
    assert validate(console, api_key, user="bob", code=codes[3]) == "reject"  # once
    assert validate(console, api_key, token="lost-1", code=lost.now()) == "reject"  # disabled


def learn_drift(console: Console, token_id: str, rate_ppm: float) -> dict:
    """A token whose clock runs `rate_ppm` fast, used every 4 days over 300 days (codes
    checked at those times, each read from the token's own clock); returns its drift."""
    totp = console.token(token_id)
    start = time.time() - 320 * DAY
    with closing(console.verifier()) as v:
        for day in range(0, 301, 4):
            at = start + day * DAY
            token_clock = at + rate_ppm * 1e-6 * (at - start)
            assert v.check(token_id, totp.at(token_clock), now=at).accepted
        return v.show(token_id)["drift"]


def test_the_drift_chart_draws_the_observations_and_the_learned_rate_line(
    console: Console, admin: Account
) -> None:
    drift = learn_drift(console, "drifty-1", 30.0)
    history = drift["history"]
    assert len(history) >= 10
    assert 20 < drift["rate_ppm"] < 40
    as_(console, admin)
    console.open("/ui/token?id=drifty-1")
    assert console.console_errors() == []
    circles = console.driver.find_elements(By.CSS_SELECTOR, "#drift-chart circle.observation")
    points = [(float(c.get_attribute("cx")), float(c.get_attribute("cy"))) for c in circles]
    assert len(points) == len(history)
    # The scale, from the first and last observation: x grows with time, y with the offset
    # upwards (SVG y grows downwards), each linearly.
    (t0, o0), (t1, o1) = history[0], history[-1]
    (x0, y0), (x1, y1) = points[0], points[-1]
    x_per_s = (x1 - x0) / (t1 - t0)
    y_per_s = (y1 - y0) / (o1 - o0)
    assert x_per_s > 0 and y_per_s < 0

    def x_of(t: float) -> float:
        return x0 + (t - t0) * x_per_s

    def y_of(offset: float) -> float:
        return y0 + (offset - o0) * y_per_s

    for (t, offset), (x, y) in zip(history, points, strict=True):
        assert x == pytest.approx(x_of(t), abs=0.01)
        assert y == pytest.approx(y_of(offset), abs=0.01)
    line = console.driver.find_element(By.ID, "rate-line")
    lx1, ly1, lx2, ly2 = (float(line.get_attribute(a)) for a in ("x1", "y1", "x2", "y2"))

    def learned(t: float) -> float:  # the estimate the verifier stored: offset and rate
        return drift["offset_s"] + drift["rate_ppm"] * 1e-6 * (t - drift["at"])

    assert lx1 == pytest.approx(x0, abs=0.01)  # from the first observation...
    assert ly1 == pytest.approx(y_of(learned(t0)), abs=0.01)
    t_end = t0 + (lx2 - x0) / x_per_s  # ...to now
    assert t_end == pytest.approx(time.time(), abs=120)
    assert ly2 == pytest.approx(y_of(learned(t_end)), abs=0.01)
    # The observations lie near the line (within a step: quantization and the bounded moves).
    for t, offset in history:
        assert abs(offset - learned(t)) < 30


def test_markup_in_a_label_and_a_name_is_shown_as_text(console: Console, admin: Account) -> None:
    console.token("xss-1", label=XSS)
    quoted = 'Robert "Bobby" <script>alert(2)</script>'
    with closing(console.verifier()) as v:
        v.add_user("quotes", display_name=quoted)
        v.assign("xss-1", "quotes", override=True)
    as_(console, admin)
    console.console_errors()
    console.open("/ui/token?id=xss-1")
    assert console.text("token-label") == XSS
    assert console.driver.find_elements(By.CSS_SELECTOR, "#token-label img") == []
    console.open("/ui/tokens?q=xss")
    assert console.driver.find_element(By.CSS_SELECTOR, "tr[data-token='xss-1'] .label").text == XSS
    assert console.driver.find_elements(By.CSS_SELECTOR, "#tokens img") == []
    console.open("/ui/user?user=quotes")
    assert console.text("display-name") == quoted
    assert console.driver.find_elements(By.CSS_SELECTOR, "#display-name script") == []
    assert no_alert(console)
    assert console.console_errors() == []  # no image loaded, no inline handler blocked


def test_the_user_page_says_how_the_user_logs_in_at_radius(
    console: Console, helpdesk: Account
) -> None:
    with closing(console.verifier()) as v:
        v.add_user("rhea")
        v.add_user("rory")
        v.set_login_rounds("rory", "two")
    as_(console, helpdesk)
    console.open("/ui/user?user=rhea")
    assert console.text("login-rounds") == "as its client entry says"
    console.open("/ui/user?user=rory")
    assert console.text("login-rounds") == "in two rounds"
    with closing(console.verifier()) as v:
        v.set_login_rounds("rory", "one")
    console.open("/ui/user?user=rory")
    assert console.text("login-rounds") == "in one round"


def test_markup_typed_as_an_account_name_is_text_in_the_audit_rows(
    console: Console, admin: Account
) -> None:
    typed = f'"q" {XSS}'  # quotes and markup, as someone trying the sign-in form would type
    console.sign_out()
    console.open("/ui/sign-in")
    console.fill("account", typed)
    console.fill("password", "not the password")
    console.fill("code", "123456")
    console.click("sign-in")
    assert console.text("message") == "Wrong name, password or code."
    as_(console, admin)
    console.console_errors()
    console.open("/ui/audit?" + str(httpx.QueryParams(action="console_sign_in", account=typed)))
    details = console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows td.detail")
    assert len(details) == 1
    assert f"console_account={typed}" in details[0].text
    assert console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows img") == []
    field = console.driver.find_element(By.CSS_SELECTOR, "input[name=account]")
    assert field.get_attribute("value") == typed  # the filter echoed in its field, not the page
    assert console.driver.find_elements(By.CSS_SELECTOR, "form img") == []
    assert no_alert(console)
    assert console.console_errors() == []


@pytest.mark.parametrize(
    ("token_id", "tamper"),
    [("csrf-missing", "field.remove()"), ("csrf-wrong", "field.value = 'A' + field.value")],
)
def test_a_form_without_its_csrf_token_is_refused_with_403_and_changes_nothing(
    console: Console, admin: Account, token_id: str, tamper: str
) -> None:
    console.token(token_id)
    as_(console, admin)
    console.open(f"/ui/token?id={token_id}")
    console.driver.execute_script(
        "const field = document.querySelector("
        f"'form[action$=\"/token/disable\"] input[name=csrf]'); {tamper};"
    )
    console.page_statuses()
    console.click("disable")
    assert console.text("message") == CSRF_REFUSED
    assert console.page_statuses() == [403]
    with closing(console.verifier()) as v:
        assert v.show(token_id)["enabled"] is True
        assert v.search_audit(token=token_id, action="disable") == []


def test_every_answer_carries_a_strict_content_security_policy(
    console: Console, admin: Account
) -> None:
    for path in ("/ui/sign-in", "/ui/overview", "/ui/static/console.js"):
        policy = httpx.get(console.url + path).headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'", path
        assert directives["script-src"] == "'self'", path
        assert directives["style-src"] == "'self'", path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
    # The browser enforces it: a script written into the page is not run.
    as_(console, admin)
    console.open("/ui/overview")
    console.console_errors()
    console.driver.execute_script(
        "const s = document.createElement('script');"
        "s.textContent = 'document.title = \"ran\"';"
        "document.head.appendChild(s);"
    )
    assert console.driver.title != "ran"
    errors = console.console_errors()
    assert len(errors) == 1 and "Content Security Policy" in errors[0], errors


def test_the_helpdesk_cannot_delete_or_reset_drift_and_the_attempts_are_audited(
    console: Console, helpdesk: Account
) -> None:
    console.token("keep-1")
    as_(console, helpdesk)
    console.open("/ui/token?id=keep-1")
    assert console.driver.find_elements(By.ID, "delete") == []
    assert console.driver.find_elements(By.ID, "reset-drift") == []
    assert console.driver.find_element(By.ID, "unlock").is_displayed()
    console.page_statuses()
    console.post_by_hand("/ui/token/delete", token="keep-1", confirm="keep-1")
    assert console.text("message") == "Your role may not do this; the attempt was recorded."
    console.open("/ui/token?id=keep-1")  # the other admin-only token action, by URL too
    console.post_by_hand("/ui/token/reset-drift", token="keep-1")
    assert console.text("message") == "Your role may not do this; the attempt was recorded."
    assert console.page_statuses() == [403, 200, 403]
    with closing(console.verifier()) as v:
        assert v.show("keep-1")["token"] == "keep-1"
        denied = v.search_audit(action="console_denied", detail={"console_account": helpdesk.name})
        assert v.search_audit(token="keep-1", action="reset_drift") == []
    paths = [row["detail"]["path"] for row in denied[:2]]
    assert paths == ["/ui/token/reset-drift", "/ui/token/delete"]
    assert denied[0]["detail"]["role"] == "helpdesk"


def test_the_helpdesk_cannot_enrol_a_token_whose_secret_it_would_see(
    console: Console, helpdesk: Account
) -> None:
    with closing(console.verifier()) as v:
        v.add_user("eve")
    as_(console, helpdesk)
    console.open("/ui/user?user=eve")
    assert console.driver.find_elements(By.ID, "enrol-link") == []
    assert console.driver.find_elements(By.ID, "nav-enrol") == []
    console.page_statuses()
    console.open("/ui/enrol?user=eve")
    assert console.text("message") == "Your role may not do this; the attempt was recorded."
    console.post_by_hand("/ui/enrol", user="eve", token_id="phone-eve")
    assert console.text("message") == "Your role may not do this; the attempt was recorded."
    assert console.page_statuses() == [403, 403]
    with closing(console.verifier()) as v:
        assert "phone-eve" not in {token["token"] for token in v.list_tokens()}
        denied = v.search_audit(action="console_denied", detail={"console_account": helpdesk.name})
    assert [row["detail"]["path"] for row in denied[:2]] == ["/ui/enrol", "/ui/enrol"]


def test_the_audit_page_is_an_admins_and_the_helpdesk_sees_a_users_own_rows(
    console: Console, admin: Account, helpdesk: Account
) -> None:
    users_token(console, "watched-1", "wes")
    as_(console, helpdesk)
    console.open("/ui/overview")
    assert console.driver.find_elements(By.ID, "nav-audit") == []
    assert "/ui/audit" not in console.driver.page_source
    console.open("/ui/user?user=wes")  # the user's own rows, as a support call needs them
    assert "assign" in console.text("audit-rows")
    console.page_statuses()
    console.open("/ui/audit?user=wes")
    assert console.text("message") == "Your role may not do this; the attempt was recorded."
    console.post_by_hand("/ui/audit")  # verifying the chain is the audit page's too
    assert console.text("message") == "Your role may not do this; the attempt was recorded."
    assert console.page_statuses() == [403, 403]
    with closing(console.verifier()) as v:
        denied = v.search_audit(action="console_denied", detail={"console_account": helpdesk.name})
    assert [row["detail"]["path"] for row in denied[:2]] == ["/ui/audit", "/ui/audit"]
    as_(console, admin)
    console.open("/ui/overview")
    assert console.driver.find_element(By.ID, "nav-audit").is_displayed()
    console.open("/ui/audit?user=wes")
    assert console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows tbody tr")


def test_an_admin_deletes_after_typing_the_token_id(console: Console, admin: Account) -> None:
    console.token("gone-1")
    as_(console, admin)
    console.open("/ui/token?id=gone-1")
    button = console.driver.find_element(By.ID, "delete")
    assert not button.is_enabled()
    console.fill("confirm", "gone-")
    assert not button.is_enabled()
    console.fill("confirm", "gone-1")
    assert button.is_enabled()
    console.click("delete")
    assert console.driver.current_url == console.url + "/ui/tokens?done=delete"
    assert console.driver.find_element(By.CLASS_NAME, "done").text == "The token is deleted."
    with closing(console.verifier()) as v:
        assert all(t["token"] != "gone-1" for t in v.list_tokens())
        rows = v.search_audit(token="gone-1", action="delete")
    assert rows[0]["detail"]["console_account"] == admin.name


def scan_qr(console: Console) -> str:
    """The text of the QR code on the page, read from the browser's picture of it by a real
    decoder (zxing-cpp), as the phone's camera would."""
    picture = console.driver.find_element(By.ID, "qr").screenshot_as_png
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(picture)))
    assert len(found) == 1
    return found[0].text


def enrol_phone(console: Console, user: str, token_id: str) -> pyotp.TOTP:
    """Enrol a phone token from the enrol page; the app the QR code is scanned into."""
    console.open(f"/ui/enrol?user={user}")
    console.fill("enrol-token", token_id)
    console.click("enrol")
    assert console.text("enrolled-token") == token_id
    uri = scan_qr(console)
    assert uri.startswith("otpauth://totp/")
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    return totp


def test_an_enrolled_phone_token_shows_its_qr_code_once_and_its_code_assigns_it(
    console: Console, admin: Account, api_key: str
) -> None:
    with closing(console.verifier()) as v:
        v.add_user("carol")
    as_(console, admin)
    console.console_errors()  # forget the 403 pages of the tests before
    phone = enrol_phone(console, "carol", "phone-carol")
    assert console.console_errors() == []
    with closing(console.verifier()) as v:  # nobody's until the phone shows a code
        assert v.show_user("carol")["tokens"] == []
    console.fill("confirm-code", phone.now())
    console.click("confirm")
    assert console.driver.current_url == console.url + "/ui/user?user=carol&done=assign"
    assert console.driver.find_element(By.CLASS_NAME, "done").text == "The token is assigned."
    assert console.text("user-tokens") == "phone-carol (primary)"
    with closing(console.verifier()) as v:
        rows = v.search_audit(token="phone-carol", action="assign")
    assert rows[0]["detail"]["possession"] == "proven"
    assert rows[0]["detail"]["console_account"] == admin.name
    # The phone's next code signs carol in over the API.
    assert validate(console, api_key, user="carol", code=phone.at(time.time() + 30)) == "accept"
    # Never shown again: no QR code, no URI, no secret, on any page.
    for page in ("/ui/token?id=phone-carol", "/ui/enrol?user=carol", "/ui/audit"):
        console.open(page)
        assert console.driver.find_elements(By.CSS_SELECTOR, "#qr") == [], page
        assert "otpauth" not in console.driver.page_source, page
        assert phone.secret not in console.driver.page_source, page


def test_a_wrong_confirmation_code_assigns_nothing(console: Console, admin: Account) -> None:
    with closing(console.verifier()) as v:
        v.add_user("cora")
    as_(console, admin)
    phone = enrol_phone(console, "cora", "phone-cora")
    wrong = f"{(int(phone.now()) + 1) % 1_000_000:06d}"
    console.fill("confirm-code", wrong)  # not what the phone shows: nothing is assigned
    console.click("confirm")
    assert console.text("message") == (
        "token 'phone-cora' refused the code (wrong_code); nothing was assigned"
    )
    with closing(console.verifier()) as v:
        assert v.show_user("cora")["tokens"] == []
    # The QR code is gone; the serial and the phone's code still assign it from the user's page.
    console.open("/ui/user?user=cora")
    console.fill("assign-token", "phone-cora")
    console.fill("assign-code", phone.at(time.time() + 30))
    console.click("assign")
    assert console.text("user-tokens") == "phone-cora (primary)"


def test_the_overview_shows_locked_tokens_far_drift_and_the_last_hour(
    console: Console, admin: Account, api_key: str
) -> None:
    console.token("over-locked")
    for _ in range(3):
        assert validate(console, api_key, token="over-locked", code="000000") == "reject"
    learn_drift(console, "over-drift", 30.0)  # about 26 steps ahead by now
    as_(console, admin)
    console.console_errors()  # forget the refused pages of the tests before
    opened = time.time()
    console.open("/ui/overview")
    with closing(console.verifier()) as v:  # the hour's validations; learn_drift's are older
        hour = v.search_audit(action="validate", since=opened - 3600, limit=MAX_AUDIT_LIMIT)
    results = [row["detail"]["result"] for row in hour if row["ts"] <= opened + 1]
    assert int(console.text("total-accepted")) == results.count("accept")
    assert int(console.text("total-rejected")) == len(results) - results.count("accept")
    assert "over-locked" in console.text("locked")
    assert "over-drift" in console.text("far-drift")
    assert "over-locked" not in console.text("far-drift")
    assert console.text("chain-status").startswith("intact, ")
    bars = console.driver.find_elements(By.CSS_SELECTOR, "#minute-chart rect")
    for kind in ("accepted", "rejected"):
        counted = sum(
            int(b.get_attribute("data-count")) for b in bars if b.get_attribute("class") == kind
        )
        assert counted == int(console.text(f"total-{kind}")), kind
    assert int(console.text("total-rejected")) >= 3  # this test's three, within the last minute
    newest = [b for b in bars if b.get_attribute("data-minute") == "1"]
    assert any(b.get_attribute("class") == "rejected" for b in newest)
    assert console.console_errors() == []


def verified_rows(console: Console) -> int:
    """The rows of the chain's last verify, as the overview shows them."""
    console.open("/ui/overview")
    match = re.fullmatch(r"intact, (\d+) rows", console.text("chain-status"))
    assert match, console.text("chain-status")
    return int(match[1])


def test_the_overview_shows_the_last_verify_and_the_audit_page_verifies_again(
    console: Console, admin: Account
) -> None:
    as_(console, admin)
    console.open("/ui/audit")
    console.click("verify-chain")
    report = re.match(r"The audit chain is intact\. (\d+) rows", console.text("chain-report"))
    assert report
    assert verified_rows(console) == int(report[1])
    assert console.text("chain-verified").startswith("Verified ")
    console.token("chain-1")  # more rows: the overview does not read the chain again for them
    with closing(console.verifier()) as v:
        v.disable("chain-1")
    assert verified_rows(console) == int(report[1])
    console.follow(console.driver.find_element(By.LINK_TEXT, "Verify it again on the Audit page."))
    console.click("verify-chain")
    assert verified_rows(console) > int(report[1])
    assert console.console_errors() == []


def test_a_tampered_audit_row_shows_the_chain_broken_on_the_audit_page_and_the_overview() -> None:
    altered = "row 1 was altered (its content does not match its hash)"
    with running_console() as own:  # its own store: the module's chain stays intact
        admin = own.account("admin")
        own.sign_in(admin)
        own.open("/ui/audit")
        own.click("verify-chain")
        assert own.text("chain-report").startswith("The audit chain is intact.")
        with sqlite3.connect(own.data_dir / "verifier.sqlite3") as db:
            db.execute("UPDATE audit SET action = 'tampered' WHERE seq = 1")
        own.open("/ui/audit")
        own.click("verify-chain")
        assert own.text("chain-report") == f"The audit chain is broken: {altered}"
        own.open("/ui/overview")
        assert own.text("chain-status").startswith(f"BROKEN: {altered}")
        assert own.console_errors() == []


def test_the_audit_page_filters_by_account_and_verifies_the_chain(
    console: Console, admin: Account, helpdesk: Account
) -> None:
    console.token("audited-1")
    as_(console, helpdesk)
    console.open("/ui/token?id=audited-1")
    console.click("disable")
    as_(console, admin)
    console.open(f"/ui/audit?account={helpdesk.name}&action=disable")
    rows = console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows tbody tr")
    assert [row.get_attribute("data-action") for row in rows] == ["disable"]
    assert "audited-1" in rows[0].text
    assert f"console_account={helpdesk.name}" in rows[0].text
    console.open("/ui/audit?token=audited-1")
    actions = [
        row.get_attribute("data-action")
        for row in console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows tbody tr")
    ]
    assert actions == ["disable", "enrol"]  # newest first
    console.click("verify-chain")
    assert console.text("chain-report").startswith("The audit chain is intact. ")
    assert console.console_errors() == []


def test_the_tokens_list_filters(console: Console, admin: Account, api_key: str) -> None:
    used = console.token("flt-used")
    console.token("flt-off")
    console.token("flt-never")
    learn_drift(console, "flt-drift", 30.0)
    with closing(console.verifier()) as v:
        v.add_user("fay@corp")
        v.assign("flt-off", "fay@corp", override=True)
        v.disable("flt-off")
    assert validate(console, api_key, token="flt-used", code=used.now()) == "accept"
    console.token("flt-lock")
    for _ in range(3):  # --lockout-after 3
        assert validate(console, api_key, token="flt-lock", code="000000") == "reject"
    as_(console, admin)

    def listed(query: str) -> list[str]:
        console.open("/ui/tokens?q=flt-&" + query)
        rows = console.driver.find_elements(By.CSS_SELECTOR, "#tokens tbody tr[data-token]")
        return sorted(row.get_attribute("data-token") for row in rows)

    assert listed("") == ["flt-drift", "flt-lock", "flt-never", "flt-off", "flt-used"]
    assert listed("state=disabled") == ["flt-off"]
    assert listed("state=locked") == ["flt-lock"]
    assert listed("state=active") == ["flt-drift", "flt-never", "flt-used"]
    assert listed("user=fay") == ["flt-off"]
    assert listed("realm=corp") == ["flt-off"]
    assert listed("drift=3") == ["flt-drift"]
    assert listed("used=1") == ["flt-used"]
    assert listed("used=never") == ["flt-lock", "flt-never", "flt-off"]  # no code accepted
    assert console.console_errors() == []


def test_resync_with_two_codes_from_the_token_page(
    console: Console, helpdesk: Account, api_key: str
) -> None:
    totp = console.token("resync-1")
    ahead = time.time() + 6 * 30  # the token's clock runs six steps ahead: outside the window
    assert validate(console, api_key, token="resync-1", code=totp.at(ahead)) == "reject"
    as_(console, helpdesk)
    console.open("/ui/token?id=resync-1")
    console.fill("code1", totp.at(ahead))
    console.fill("code2", totp.at(ahead + 30))
    console.click("resync")
    assert console.driver.find_element(By.CLASS_NAME, "done").text == "The token is resynchronised."
    assert validate(console, api_key, token="resync-1", code=totp.at(ahead + 60)) == "accept"
    console.fill("code1", "000000")
    console.fill("code2", "111111")
    console.click("resync")
    assert console.driver.find_element(By.CLASS_NAME, "done").text == (
        "The two codes were not found together: nothing changed."
    )


def test_assign_a_token_by_serial_with_a_code_from_it(console: Console, helpdesk: Account) -> None:
    totp = console.token("serial-1")
    with closing(console.verifier()) as v:
        v.add_user("dan")
    as_(console, helpdesk)
    console.open("/ui/user?user=dan")
    console.fill("assign-token", "serial-1")
    console.fill("assign-code", totp.now())
    console.click("assign")
    assert console.driver.find_element(By.CLASS_NAME, "done").text == "The token is assigned."
    assert "serial-1 (primary)" in console.text("user-tokens")
    with closing(console.verifier()) as v:
        rows = v.search_audit(token="serial-1", action="assign")
    assert rows[0]["detail"]["possession"] == "proven"
    assert rows[0]["detail"]["console_account"] == helpdesk.name


def test_disable_enable_and_unassign_from_the_token_page_show_in_its_audit_rows(
    console: Console, helpdesk: Account
) -> None:
    users_token(console, "cycle-1", "gus")
    as_(console, helpdesk)
    console.open("/ui/token?id=cycle-1")
    console.click("disable")
    assert console.driver.find_element(By.CLASS_NAME, "done").text == "The token is disabled."
    assert console.text("token-state") == "disabled"
    console.click("enable")
    assert console.driver.find_element(By.CLASS_NAME, "done").text == "The token is enabled."
    assert console.text("token-state") == "active"
    assert console.text("unassign") == "Unassign (gus@default)"
    console.click("unassign")
    assert console.driver.find_element(By.CLASS_NAME, "done").text == "The token is unassigned."
    assert console.driver.find_elements(By.ID, "unassign") == []
    rows = console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows tbody tr")
    actions = [row.get_attribute("data-action") for row in rows]
    assert actions[:3] == ["unassign", "enable", "disable"]  # newest first
    assert all(f"console_account={helpdesk.name}" in row.text for row in rows[:3])
    with closing(console.verifier()) as v:
        assert v.show_user("gus")["tokens"] == []
        assert v.show("cycle-1")["enabled"] is True
    assert console.console_errors() == []


def test_the_audit_page_filters_by_time_to_the_minute(console: Console, admin: Account) -> None:
    console.token("timed-1")
    with closing(console.verifier()) as v:
        for moment in ("2026-01-05T08:30:00", "2026-01-05T11:00:00", "2026-01-06T09:00:00"):
            at = datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()
            v.check("timed-1", "000000", now=at)
    as_(console, admin)

    def shown(since: str, until: str) -> list[str]:
        console.open("/ui/audit?token=timed-1&action=validate")
        console.fill("since", since)
        console.fill("until", until)
        console.follow(console.driver.find_element(By.CSS_SELECTOR, "#audit-filters button"))
        rows = console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows tbody tr[data-action]")
        return [row.find_elements(By.TAG_NAME, "td")[1].text for row in rows]

    assert shown("2026-01-05 08:00", "2026-01-05 12:00") == [
        "2026-01-05 11:00:00 UTC",
        "2026-01-05 08:30:00 UTC",
    ]
    assert shown("2026-01-05 10:00", "") == [
        "2026-01-06 09:00:00 UTC",
        "2026-01-05 11:00:00 UTC",
    ]
    assert shown("", "2026-01-05") == [  # until a day: through its end
        "2026-01-05 11:00:00 UTC",
        "2026-01-05 08:30:00 UTC",
    ]
    assert shown("2026-01-06", "2026-01-06") == ["2026-01-06 09:00:00 UTC"]
    for moment in ("since=this+morning", "until=9999-12-31"):  # the latter: no next day
        console.open(f"/ui/audit?{moment}")
        assert console.text("message") == "A time is written YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC)."


def test_the_audit_pages_user_filter_takes_the_short_name_and_shows_the_users_tokens(
    console: Console, admin: Account
) -> None:
    console.token("hal-1")
    console.token("not-hal")
    with closing(console.verifier()) as v:
        v.add_user("hal")
        v.assign("hal-1", "hal", override=True)
        v.disable("hal-1")  # a row that names the token only
        v.disable("not-hal")
    as_(console, admin)
    console.open("/ui/audit?user=hal")
    rows = console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows tbody tr[data-action]")
    shown = [
        (row.get_attribute("data-action"), row.find_elements(By.TAG_NAME, "td")[3].text)
        for row in rows
    ]
    assert shown == [
        ("disable", "hal-1"),
        ("assign", "hal-1"),
        ("user_add", ""),
        ("enrol", "hal-1"),
    ]
    console.open("/ui/audit?user=hal&action=disable")
    rows = console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows tbody tr[data-action]")
    assert [row.find_elements(By.TAG_NAME, "td")[3].text for row in rows] == ["hal-1"]
    console.open("/ui/audit?user=nobody-at-all")
    assert console.driver.find_elements(By.CSS_SELECTOR, "#audit-rows tbody tr[data-action]") == []
