"""The overview's events outbox, in a real headless Chromium (tests/console_browser.py): with a
webhook that cannot be reached, an event the console's own action records goes dead, and the
overview shows the outbox's pending and dead events as the store counts them."""

import base64
import os
import time
from collections.abc import Iterator

import pytest

from tests.console_browser import Console, closing, running_console


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    secret = tmp_path_factory.mktemp("events") / "webhook.secret"
    secret.write_text("whsec_" + base64.b64encode(os.urandom(32)).decode())
    args = [
        "--events-webhook-url",
        "http://127.0.0.1:9/nobody-listens",  # the discard port: refused at once
        "--events-webhook-secret-file",
        str(secret),
        "--events-max-age-seconds",
        "1",  # the first failed attempt is the last
    ]
    with running_console(args) as running:
        yield running


def test_the_overview_shows_pending_and_dead_events(console: Console) -> None:
    admin = console.account("admin")
    console.token("evented-1")
    console.sign_in(admin)
    console.open("/ui/overview")
    assert (console.text("events-pending"), console.text("events-dead")) == ("0", "0")
    console.open("/ui/token?id=evented-1")
    console.click("disable")  # token.disabled, recorded by the served verifier
    with closing(console.verifier()) as v:
        deadline = time.monotonic() + 30
        while v.outbox.count("dead") < 1:
            assert time.monotonic() < deadline, "the event never went dead"
            time.sleep(0.2)
        dead, pending = v.outbox.count("dead"), v.outbox.backlog()
    console.open("/ui/overview")
    assert (console.text("events-pending"), console.text("events-dead")) == (
        str(pending),
        str(dead),
    )
    assert dead == 1
    assert console.console_errors() == []


def test_without_events_the_overview_says_so() -> None:
    with running_console() as plain:
        admin = plain.account("admin")
        plain.sign_in(admin)
        assert plain.text("events") == "Events outbox\nEvents are off (no webhook)."
