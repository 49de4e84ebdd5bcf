"""The web console's browser harness (docs/console.md): a verifier served on 127.0.0.1 from a
temporary data folder, and a real headless Chromium driven by Selenium through Debian's
chromedriver, which records the page's console messages and every network request.

The tests (tests/test_console_*.py) and scripts/console_screenshots.py use it; `tour` shows
every page with sample data, for both. One browser and one server per test module: starting
Chromium costs seconds.
"""

import base64
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import (
    presence_of_element_located,
    staleness_of,
)
from selenium.webdriver.support.wait import WebDriverWait

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.service import Verifier

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "correct horse battery staple"
# URL schemes that never leave the browser.
_LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome"})


@dataclass
class Account:
    """A console account made for a test, with the TOTP of its own token."""

    name: str
    role: str
    token_id: str
    totp: pyotp.TOTP
    last_step: int = -1

    def code(self) -> str:
        """A code the verifier has not seen and will accept: this step's, after waiting for the
        next step when this one's was used. Never a step ahead: after a sign-in the verifier
        has learned the token's offset, which can put its predicted step behind the clock's
        (a code seen 5 s early), and a code ahead of that by two would be refused and count
        towards the account token's lock."""
        step = max(int(time.time()) // 30, self.last_step + 1)
        time.sleep(max(0.0, step * 30 + 0.5 - time.time()))
        self.last_step = step
        return self.totp.at(step * 30)


@dataclass
class Console:
    """A served verifier with its console, a browser, and the data folder they share."""

    server: ServerProcess
    driver: WebDriver
    data_dir: Path
    _accounts: int = 0

    @property
    def url(self) -> str:
        return self.server.url

    def verifier(self) -> Verifier:
        """A Verifier on the served store (SQLite in WAL mode: both may use it at once)."""
        return Verifier(data_dir=self.data_dir)

    def token(self, token_id: str, **enrol: Any) -> pyotp.TOTP:
        """Enrol a token with a fresh secret; returns its TOTP."""
        secret = os.urandom(20)
        with closing(self.verifier()) as v:
            v.enrol(token_id, secret, **enrol)
        return pyotp.TOTP(base64.b32encode(secret).decode())

    def account(self, role: str, name: str | None = None) -> Account:
        """A new console account with a token of its own."""
        self._accounts += 1
        name = name or f"{role}{self._accounts}"
        totp = self.token(f"console-{name}")
        with closing(self.verifier()) as v:
            v.console.add(name, role, PASSWORD, f"console-{name}")
        return Account(name, role, f"console-{name}", totp)

    def open(self, path: str) -> None:
        self.driver.get(self.url + path)

    def find(self, element_id: str) -> WebElement:
        """The page's element with this id, waited for up to half a minute: on a loaded CI
        machine Chromium has now and then answered a lookup on a page that was still being
        replaced. If it never comes, the failure says which page the browser shows instead."""
        try:
            return WebDriverWait(self.driver, 30).until(
                presence_of_element_located((By.ID, element_id))
            )
        except TimeoutException:
            raise AssertionError(f"no #{element_id} on {self.showing()}") from None

    def fill(self, element_id: str, text: str) -> None:
        field_ = self.find(element_id)
        field_.clear()
        field_.send_keys(text)

    def click(self, element_id: str) -> None:
        """Click the element and wait for the page it leads to (a form sent, a link followed).
        Chromedriver now and then cannot hand over an element it has just found ("Node with
        given id does not belong to the document"): `follow` then never clicked, so it is
        found and clicked again (at most three times)."""
        for attempt in range(3):
            try:
                self.follow(self.find(element_id))
                return
            except WebDriverException as exc:
                if "does not belong to the document" not in str(exc.msg) or attempt == 2:
                    raise

    def follow(self, element: WebElement) -> None:
        """Click `element` and wait until the browser has left the page (up to a minute: a
        sign-in checks a slow hash, and CI shares two cores with Chromium and the servers).

        The click is the element's own `click()` run in the page: the browser's activation
        (a form sent, a link followed) exactly as a user's click, and it either ran or raised.
        Chromedriver's synthesised mouse click was twice reported as refused in CI although
        the page went on to send the form, so a retry sent it twice."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.execute_script("arguments[0].click();", element)
        try:
            WebDriverWait(self.driver, 60).until(staleness_of(page))
        except TimeoutException:
            raise AssertionError(f"a click left the page open: {self.showing()}") from None

    def showing(self) -> str:
        """The page the browser shows, for a failure's message: its URL, title and text."""
        body = self.driver.find_element(By.TAG_NAME, "body").text[:500]
        return f"{self.driver.current_url} ({self.driver.title!r}): {body!r}"

    def post_by_hand(self, path: str, **fields: str) -> None:
        """Send a POST form the page does not offer, with the session's own CSRF token, as
        someone typing the URL would (the browser then shows the answer)."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.execute_script(
            """
            const [path, fields] = arguments;
            const form = document.createElement("form");
            form.method = "post";
            form.action = path;
            const csrf = document.querySelector("input[name=csrf]").value;
            for (const [name, value] of Object.entries({...fields, csrf})) {
              const input = document.createElement("input");
              input.type = "hidden"; input.name = name; input.value = value;
              form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
            """,
            path,
            fields,
        )
        WebDriverWait(self.driver, 20).until(staleness_of(page))

    def text(self, element_id: str) -> str:
        return self.find(element_id).text

    def sign_in(
        self, account: Account, *, password: str = PASSWORD, code: str | None = None
    ) -> None:
        """Fill and send the sign-in form (the page that follows is left open)."""
        self.sign_out()
        self.open("/ui/sign-in")
        self.fill("account", account.name)
        self.fill("password", password)
        self.fill("code", code if code is not None else account.code())
        self.click("sign-in")

    def sign_out(self) -> None:
        """Sign out if signed in, and forget the cookies."""
        if self.driver.find_elements(By.ID, "sign-out"):
            self.click("sign-out")
        self.driver.delete_all_cookies()

    def console_errors(self) -> list[str]:
        """The page's console messages of level SEVERE since the last call (CSP violations,
        script errors, failed loads)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def requested_urls(self) -> list[str]:
        """Every URL the browser requested since the last call (its performance log)."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def page_statuses(self) -> list[int]:
        """The HTTP status of every page (document) the browser received since the last call
        (its performance log: a page's status is not in the DOM)."""
        statuses = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.responseReceived" and params["type"] == "Document":
                statuses.append(params["response"]["status"])
        return statuses

    def foreign(self, urls: list[str]) -> list[str]:
        """The URLs whose host and port are not the console's; data: URLs and the browser's
        own pages (chrome:, about:) go nowhere, so only they are let through."""
        ours = urlsplit(self.url).netloc
        return [
            url
            for url in urls
            if urlsplit(url).scheme not in _LOCAL_SCHEMES and urlsplit(url).netloc != ours
        ]

    def set_accept_language(self, value: str) -> None:
        """The Accept-Language header the browser sends from now on."""
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Accept-Language": value}}
        )


@contextmanager
def closing(verifier: Verifier) -> Iterator[Verifier]:
    try:
        yield verifier
    finally:
        verifier.close()


def browser(download_dir: Path) -> WebDriver:
    """Headless Chromium with its console and network logged, English by default."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root (containers, CI)
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--lang=en-US",
        f"--user-data-dir={download_dir / 'profile'}",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@contextmanager
def running_console(serve_args: Sequence[str] = ()) -> Iterator[Console]:
    """A verifier serving its console from a new data folder, and a browser; both stopped
    and the folder removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="baoling-console-"))
    data_dir = folder / "data"
    try:
        Verifier(data_dir=data_dir).close()  # the store and key exist before the server starts
        with ServerProcess(["--data-dir", str(data_dir)], serve_args) as server:
            driver = browser(folder)
            try:
                console = Console(server, driver, data_dir)
                console.requested_urls()  # the browser's own start-up pages are not the tests'
                yield console
            finally:
                driver.quit()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------- the tour

# Every page of the console, in the order the tour shows them: docs/console.md's table lists
# the same names, and scripts/console_screenshots.py saves each as docs/console/NAME.png.
PAGES = (
    "sign-in",
    "overview",
    "tokens",
    "token",
    "users",
    "user",
    "enrol",
    "enrolled",
    "backup-codes",
    "audit",
    "accounts",
)


def _sample_data(console: Console) -> None:
    """Users, tokens and an hour of validations, so every page has something to show: a token
    with nine months of clock drift, a locked one, accepted and rejected codes."""
    now = time.time()
    busy = console.token("BL0101-0", label="VPN")
    drifty = console.token("BL0102-0", label="GitHub")
    console.token("BL0103-0", label="Bank")
    with closing(console.verifier()) as v:
        for user, name in (("alice", "Alice Wang"), ("bob", "Bob Li"), ("carol", "Carol Zhang")):
            v.add_user(user, display_name=name)
        v.assign("BL0101-0", "alice", override=True)
        v.assign("BL0102-0", "bob", override=True)
        v.assign("BL0103-0", "carol", override=True)
        start = now - 280 * 86400
        for day in range(0, 271, 5):  # BL0102-0's clock runs 25 ppm fast
            at = start + day * 86400
            v.check("BL0102-0", drifty.at(at + 25e-6 * (at - start)), now=at)
        for minute in range(59, 0, -1):  # an hour of traffic on BL0101-0
            at = now - minute * 60
            for _ in range(minute % 4):
                v.check("BL0101-0", "000000", now=at)
            v.check("BL0101-0", busy.at(at), now=at)
        for _ in range(10):
            v.check("BL0103-0", "000000", now=now)  # locked until midnight


def tour(console: Console) -> Iterator[str]:
    """Sign in as an administrator and show every page in PAGES, with sample data; yields each
    page's name while the browser shows it."""
    _sample_data(console)
    admin = console.account("admin", "alice.admin")
    console.sign_out()
    console.open("/ui/sign-in")
    console.fill("account", admin.name)
    yield "sign-in"
    console.fill("password", PASSWORD)
    console.fill("code", admin.code())
    console.click("sign-in")
    yield "overview"
    console.open("/ui/tokens")
    yield "tokens"
    console.open("/ui/token?id=BL0102-0")
    yield "token"
    console.open("/ui/users")
    yield "users"
    console.open("/ui/user?user=alice")
    yield "user"
    console.open("/ui/enrol?user=alice")
    yield "enrol"
    console.fill("enrol-token", "phone-alice")
    console.fill("enrol-label", "alice's phone")
    console.click("enrol")
    yield "enrolled"
    console.open("/ui/user?user=carol")
    console.click("lost")
    yield "backup-codes"
    console.open("/ui/audit")
    console.click("verify-chain")
    yield "audit"
    console.account("helpdesk", "bob.helpdesk")
    console.open("/ui/accounts")
    yield "accounts"
