"""The console's sign-in limit (verifier/console/security.py's rule, the counts in the store):
failures in a sliding window per account name and per client address, seen by every node and
kept across restarts, on SQLite and PostgreSQL, with the time given; a name no account can have
(a NUL in it, which PostgreSQL refuses in a query) is a wrong name, and changes nothing."""

import base64
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest

from baoling.verifier.console.accounts import RATE_LIMITED, WRONG, SignInRefused
from baoling.verifier.console.security import (
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    WINDOW_S,
)
from baoling.verifier.errors import InvalidRequest
from baoling.verifier.service import Verifier

PASSWORD = "a long enough password"
T0 = 1_800_000_000.0


def account(v: Verifier, name: str) -> pyotp.TOTP:
    """A helpdesk console account `name` with a token of its own; its TOTP."""
    secret = os.urandom(20)
    v.enrol(f"console-{name}", secret, now=T0)
    v.console.add(name, "helpdesk", PASSWORD, f"console-{name}")
    return pyotp.TOTP(base64.b32encode(secret).decode())


def refusal(v: Verifier, name: str, password: str, code: str, at: float, address: str) -> str:
    """Why the sign-in was refused ("" when it was not)."""
    try:
        v.console.sign_in(name, password, code, now=at, address=address)
    except SignInRefused as exc:
        return exc.reason
    return ""


def test_an_account_is_limited_on_every_node_then_free_after_the_window(
    make_verifier: Callable[..., Verifier],
) -> None:
    first, second = make_verifier(), make_verifier()  # two nodes on one store
    totp = account(first, "erin")
    for i in range(MAX_FAILURES_PER_ACCOUNT):  # wrong passwords from ever new addresses
        node = (first, second)[i % 2]
        assert refusal(node, "erin", "guess", "", T0 + i, f"10.0.0.{i}") == WRONG
    right = totp.at(T0 + 10)
    for node in (first, second):  # either node refuses the right password and code
        assert refusal(node, "erin", PASSWORD, right, T0 + 10, "10.0.0.99") == RATE_LIMITED
    assert refusal(first, "other", "guess", "", T0 + 10, "10.0.0.99") == WRONG  # not limited
    first.close()  # a restart forgets nothing
    restarted = make_verifier()
    assert refusal(restarted, "erin", PASSWORD, right, T0 + 11, "10.0.0.98") == RATE_LIMITED
    assert restarted.show("console-erin")["last_step"] is None  # the token was never asked
    rows = restarted.search_audit(action="console_sign_in", detail={"reason": RATE_LIMITED})
    assert len(rows) == 3
    # The window slides: the first failure leaves it, and one more attempt may be made.
    at = T0 + WINDOW_S + 0.5
    assert refusal(second, "erin", PASSWORD, totp.at(at), at, "10.0.0.97") == ""


def test_an_address_is_limited_across_account_names(
    make_verifier: Callable[..., Verifier],
) -> None:
    v = make_verifier()
    totp = account(v, "fay")
    for i in range(MAX_FAILURES_PER_ADDRESS):
        assert refusal(v, f"name{i}", "guess", "", T0, "192.0.2.7") == WRONG
    right = totp.at(T0 + 1)
    assert refusal(v, "fay", PASSWORD, right, T0 + 1, "192.0.2.7") == RATE_LIMITED
    assert refusal(v, "fay", PASSWORD, right, T0 + 1, "192.0.2.8") == ""


def test_a_name_of_any_length_is_counted(make_verifier: Callable[..., Verifier]) -> None:
    v = make_verifier()
    long_name = "x" * 5000
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert refusal(v, long_name, "guess", "", T0, "") == WRONG
    assert refusal(v, long_name, "guess", "", T0, "") == RATE_LIMITED


def test_a_name_with_a_nul_is_a_wrong_name_and_counted(
    make_verifier: Callable[..., Verifier],
) -> None:
    """On PostgreSQL it was a DataError traceback, from anyone who can reach the form."""
    v = make_verifier()
    account(v, "gus")
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert refusal(v, "gus\x00", PASSWORD, "", T0, "") == WRONG
    assert refusal(v, "gus\x00", PASSWORD, "", T0, "") == RATE_LIMITED
    rows = v.search_audit(action="console_sign_in", detail={"reason": "unknown_account"})
    assert len(rows) == MAX_FAILURES_PER_ACCOUNT


def test_changing_an_account_named_with_a_nul_is_refused(
    make_verifier: Callable[..., Verifier],
) -> None:
    v = make_verifier()
    account(v, "hal")
    for change in (
        lambda: v.console.set_active("hal\x00", False),
        lambda: v.console.set_password("hal\x00", "another long password"),
        lambda: v.console.set_token("hal\x00", "console-hal"),
    ):
        with pytest.raises(InvalidRequest, match="an account name is"):
            change()
    assert v.console.list_accounts()[0]["active"] is True


def test_parallel_attempts_cannot_outrun_the_limit(make_verifier: Callable[..., Verifier]) -> None:
    """Sign-ins sent at once all reach the check before the first failure is counted unless
    the check also counts: no more passwords are tried than the limit allows."""
    v = make_verifier()
    account(v, "gus")
    attempts = 4 * MAX_FAILURES_PER_ACCOUNT
    start = threading.Barrier(attempts)

    def attempt(i: int) -> str:
        start.wait()
        return refusal(v, "gus", f"guess {i}", "", T0, f"10.1.0.{i}")

    with ThreadPoolExecutor(attempts) as pool:
        reasons = list(pool.map(attempt, range(attempts)))
    assert reasons.count(WRONG) == MAX_FAILURES_PER_ACCOUNT
    assert reasons.count(RATE_LIMITED) == attempts - MAX_FAILURES_PER_ACCOUNT
