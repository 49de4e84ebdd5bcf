"""The console's sign-in limit (verifier/console/security.py), with the time given: failures in
a sliding window per account name and per client address."""

from baoling.verifier.console.security import (
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    MAX_KEYS,
    WINDOW_S,
    SignInLimit,
)


def test_an_account_is_limited_then_free_again_after_the_window() -> None:
    limit = SignInLimit()
    for i in range(MAX_FAILURES_PER_ACCOUNT):
        assert limit.allowed("root", f"10.0.0.{i}", now=100.0 + i)
        limit.failed("root", f"10.0.0.{i}", now=100.0 + i)
    assert not limit.allowed("root", "10.0.0.99", now=110.0)
    assert limit.allowed("other", "10.0.0.99", now=110.0)
    assert limit.allowed("root", "10.0.0.99", now=100.0 + MAX_FAILURES_PER_ACCOUNT - 1 + WINDOW_S)


def test_an_address_is_limited_across_account_names() -> None:
    limit = SignInLimit()
    for i in range(MAX_FAILURES_PER_ADDRESS):
        limit.failed(f"name{i}", "192.0.2.7", now=50.0)
    assert not limit.allowed("fresh", "192.0.2.7", now=51.0)
    assert limit.allowed("fresh", "192.0.2.8", now=51.0)


def test_made_up_names_do_not_grow_the_memory_without_end() -> None:
    limit = SignInLimit()
    for i in range(3 * MAX_KEYS):
        limit.failed(f"name{i}", "192.0.2.1", now=float(i // 100) * WINDOW_S)
    assert len(limit._failures) <= MAX_KEYS + 2
