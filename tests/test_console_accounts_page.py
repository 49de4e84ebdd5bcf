"""The console's Accounts page, in a real headless Chromium (tests/console_browser.py): an admin
adds a console account that then signs in with its password and its token's code, deactivates
it (its live session ends on the server), gives it a new password and another token; each
change is audited with the admin's name. The helpdesk neither sees the page nor may open it."""

from collections.abc import Iterator

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.console_browser import PASSWORD, Account, Console, closing, running_console

WRONG = "Wrong name, password or code."
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(scope="module")
def console() -> Iterator[Console]:
    with running_console() as running:
        yield running


def account_row(console: Console, name: str) -> str:
    return console.driver.find_element(By.CSS_SELECTOR, f"tr[data-account='{name}']").text


def in_row(console: Console, name: str, selector: str) -> WebElement:
    return console.driver.find_element(By.CSS_SELECTOR, f"tr[data-account='{name}'] {selector}")


def test_an_admin_adds_deactivates_and_resets_an_account(console: Console) -> None:
    admin = console.account("admin", "root")
    totp = console.token("console-erin")
    erin = Account("erin", "helpdesk", "console-erin", totp)
    console.sign_in(admin)
    console.follow(console.driver.find_element(By.ID, "nav-accounts"))
    assert console.driver.current_url == console.url + "/ui/accounts"
    console.fill("new-account", "erin")
    console.fill("new-token", "console-erin")
    console.fill("new-password", PASSWORD)
    console.driver.find_element(By.CSS_SELECTOR, "#new-role option[value=helpdesk]").click()
    console.click("add-account")
    assert console.driver.find_element(By.CLASS_NAME, "done").text == "The account is added."
    assert account_row(console, "erin").startswith("erin helpdesk console-erin Active")
    # The admin's own row has no Deactivate button.
    assert console.driver.find_elements(By.CSS_SELECTOR, "tr[data-account='root'] .disable") == []
    assert console.console_errors() == []

    console.sign_in(erin)  # the new account signs in with its password and its token's code
    assert console.text("signed-in") == "Signed in as erin (helpdesk)"
    erin_cookie = console.driver.get_cookie("baoling_console")
    assert erin_cookie is not None
    console.driver.delete_all_cookies()  # erin's session stays open on the server

    console.sign_in(admin)
    console.open("/ui/accounts")
    console.follow(in_row(console, "erin", ".disable"))
    assert console.driver.find_element(By.CLASS_NAME, "done").text == (
        "The account is deactivated; its sessions ended."
    )
    assert "Deactivated" in account_row(console, "erin")
    answer = httpx.get(
        console.url + "/ui/tokens", cookies={"baoling_console": erin_cookie["value"]}
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/sign-in?ended=1")
    console.follow(in_row(console, "erin", ".enable"))
    assert console.driver.find_element(By.CLASS_NAME, "done").text == "The account is active again."

    field = in_row(console, "erin", "input[name=password]")
    field.send_keys(NEW_PASSWORD)
    console.follow(in_row(console, "erin", ".password"))
    assert console.driver.find_element(By.CLASS_NAME, "done").text == (
        "The password is replaced; the account's sessions ended."
    )
    assert NEW_PASSWORD not in console.driver.page_source
    with closing(console.verifier()) as v:
        rows = v.search_audit(detail={"account": "erin"})
    changes = [
        (row["action"], row["detail"]["console_account"])
        for row in rows
        if row["action"].startswith("console_account_")
    ]
    assert changes == [
        ("console_account_password", "root"),
        ("console_account_enable", "root"),
        ("console_account_disable", "root"),
        ("console_account_add", "root"),
    ]
    assert all(PASSWORD not in str(row) and NEW_PASSWORD not in str(row) for row in rows)

    console.sign_in(erin)  # the old password no longer signs in
    assert console.text("message") == WRONG
    console.sign_in(erin, password=NEW_PASSWORD)
    assert console.text("signed-in") == "Signed in as erin (helpdesk)"


def test_an_admin_gives_an_account_another_token(console: Console) -> None:
    admin = console.account("admin")
    helper = console.account("helpdesk")
    spare = console.token("spare-token")
    console.sign_in(admin)
    console.open("/ui/accounts")
    in_row(console, helper.name, "input[name=token]").send_keys("spare-token")
    console.follow(in_row(console, helper.name, ".token"))
    assert console.driver.find_element(By.CLASS_NAME, "done").text == (
        "The account signs in with the new token; its sessions ended."
    )
    assert f"{helper.name} helpdesk spare-token Active" in account_row(console, helper.name)
    console.sign_in(helper)  # the lost token's code no longer signs in
    assert console.text("message") == WRONG
    console.sign_in(Account(helper.name, "helpdesk", "spare-token", spare))
    assert console.text("signed-in") == f"Signed in as {helper.name} (helpdesk)"


def test_bad_input_on_the_accounts_page_changes_nothing(console: Console) -> None:
    admin = console.account("admin")
    console.token("console-short")
    console.sign_in(admin)
    console.open("/ui/accounts")
    console.post_by_hand(
        "/ui/accounts/add", account="short", role="helpdesk", token="console-short", password="x"
    )
    assert console.text("message") == "a password has at least 12 characters"
    console.open("/ui/accounts")
    console.post_by_hand("/ui/accounts/disable", account=admin.name)
    assert console.text("message") == "You cannot deactivate your own account."
    with closing(console.verifier()) as v:
        accounts = {a["account"]: a for a in v.console.list_accounts()}
    assert "short" not in accounts
    assert accounts[admin.name]["active"] is True


def test_the_helpdesk_neither_sees_nor_opens_the_accounts_page(console: Console) -> None:
    helper = console.account("helpdesk")
    console.sign_in(helper)
    assert console.driver.find_elements(By.ID, "nav-accounts") == []
    console.console_errors()
    console.page_statuses()
    console.open("/ui/accounts")
    assert console.text("message") == "Your role may not do this; the attempt was recorded."
    assert "data-account" not in console.driver.page_source
    console.post_by_hand(
        "/ui/accounts/add", account="sneaky", role="admin", token="x", password=PASSWORD
    )
    assert console.text("message") == "Your role may not do this; the attempt was recorded."
    assert console.page_statuses() == [403, 403]
    with closing(console.verifier()) as v:
        denied = v.search_audit(action="console_denied", detail={"console_account": helper.name})
        names = [a["account"] for a in v.console.list_accounts()]
    assert [row["detail"]["path"] for row in denied] == ["/ui/accounts/add", "/ui/accounts"]
    assert "sneaky" not in names
