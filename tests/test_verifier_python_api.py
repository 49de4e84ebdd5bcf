"""The Python API as an integrator calls it (docs/verifier.md, "Python API"), on both stores:
a value the caller got wrong is a VerifierError saying so, never a database driver's
exception with its SQL."""

from collections.abc import Callable
from typing import Any

import pytest

from baoling.verifier.errors import InvalidRequest, StoreError, UnknownEvent, UnknownToken
from baoling.verifier.service import Verifier

SECRET = bytes(range(1, 21))
NUL_ID = "a\x00b"
T0 = 1_800_000_000

# Each call with a NUL in a name, and what SQLite, which stores and compares NULs, makes of it:
# an exception class, or the value returned.
NUL_CALLS: dict[str, tuple[Callable[[Verifier], Any], Any]] = {
    "show": (lambda v: v.show(NUL_ID), UnknownToken),
    "disable": (lambda v: v.disable(NUL_ID), UnknownToken),
    "validate": (lambda v: v.validate(NUL_ID, "123456"), UnknownToken),
    "replay_event": (lambda v: v.replay_event(NUL_ID), UnknownEvent),
    "search_audit": (lambda v: v.search_audit(token=NUL_ID), []),
    "list_events": (lambda v: v.list_events(NUL_ID), []),
}


@pytest.mark.parametrize("name", NUL_CALLS)
def test_a_nul_in_a_name_is_a_verifier_error_not_the_drivers(make_verifier, store_url, name):
    """PostgreSQL cannot hold a NUL in text, and psycopg raised DataError (with the SQL) from
    every call given one; it is InvalidRequest now. On SQLite the call answers as for any
    name that is not there."""
    call, on_sqlite = NUL_CALLS[name]
    v = make_verifier()
    v.enrol("t1", SECRET)
    if store_url is not None:  # PostgreSQL
        with pytest.raises(InvalidRequest, match="cannot hold") as raised:
            call(v)
        assert "SELECT" not in str(raised.value)
    elif isinstance(on_sqlite, type):
        with pytest.raises(on_sqlite):
            call(v)
    else:
        assert call(v) == on_sqlite


CODE_CALLS: dict[str, Callable[[Verifier, Any], Any]] = {
    "validate": lambda v, code: v.validate("t1", code, T0),
    "check": lambda v, code: v.check("t1", code, T0),
    "validate_user": lambda v, code: v.validate_user("carol", code, T0),
    "resync": lambda v, code: v.resync("t1", code, code, T0),
}


@pytest.mark.parametrize("name", CODE_CALLS)
@pytest.mark.parametrize("code", [123456, 123456.0, None, b"123456"], ids=repr)
def test_a_code_that_is_not_a_str_is_refused_without_counting(make_verifier, name, code):
    """pyotp's verify takes an int; here an int was a malformed code, counted towards the
    token's lock, so an integrator's every attempt failed and then locked the user out."""
    v = make_verifier()
    v.enrol("t1", SECRET, now=T0 - 60)
    v.add_user("carol")
    v.assign("t1", "carol", override=True)
    with pytest.raises(InvalidRequest, match="a code must be a str of digits") as raised:
        CODE_CALLS[name](v, code)
    assert "123456" not in str(raised.value)
    assert v.show("t1")["fail_count"] == 0


@pytest.mark.parametrize(
    "call",
    [lambda v: v.show("t1"), lambda v: v.list_tokens(), lambda v: v.validate("t1", "123456")],
    ids=["show", "list_tokens", "validate"],
)
def test_after_close_every_call_raises_store_error(make_verifier, call):
    """show and list_tokens answered after close on both stores (and validate on
    PostgreSQL), through a new connection pool that nothing closed again."""
    v = make_verifier()
    v.enrol("t1", SECRET)
    v.close()
    v.close()  # a second close does nothing
    with pytest.raises(StoreError, match="the store is closed"):
        call(v)


TIME_CALLS: dict[str, Callable[[Verifier, Any], Any]] = {
    "enrol": lambda v, now: v.enrol("t2", SECRET, now=now),
    "validate": lambda v, now: v.validate("t1", "123456", now),
    "validate_user": lambda v, now: v.validate_user("carol", "123456", now),
    "resync": lambda v, now: v.resync("t1", "123456", "654321", now),
    "wrong_pin": lambda v, now: v.wrong_pin("t1", now),
}


@pytest.mark.parametrize("name", TIME_CALLS)
@pytest.mark.parametrize("now", ["1800000000", True, float("nan"), b"1"], ids=repr)
def test_a_time_that_is_not_a_number_of_seconds_is_refused(make_verifier, name, now):
    """A str `now` reached the database (enrol raised SQLAlchemy's error with the SQL) or
    the arithmetic (a bare TypeError); a bool was taken as a time in 1970."""
    v = make_verifier()
    v.enrol("t1", SECRET, now=T0 - 60)
    v.add_user("carol")
    v.assign("t1", "carol", override=True)
    with pytest.raises(InvalidRequest, match="now must be a Unix time in seconds"):
        TIME_CALLS[name](v, now)
    assert v.show("t1")["fail_count"] == 0
    assert [t["token"] for t in v.list_tokens()] == ["t1"]


AUDIT_CALLS: dict[str, Callable[[Verifier], Any]] = {
    "audit, huge limit": lambda v: v.audit(limit=10**30),
    "audit, str limit": lambda v: v.audit(limit="5"),  # type: ignore[arg-type]
    "audit, no rows": lambda v: v.audit(limit=0),
    "search, huge limit": lambda v: v.search_audit(limit=2**63),
    "search, str since": lambda v: v.search_audit(since="yesterday"),
    "search, nan until": lambda v: v.search_audit(until=float("nan")),
}


@pytest.mark.parametrize("call", AUDIT_CALLS)
def test_a_bad_audit_limit_or_time_is_refused_with_a_clear_error(make_verifier, call):
    """SQLite raised a bare OverflowError for a huge limit and took a str limit or time, which
    it compared as text; PostgreSQL's driver raised its own error."""
    v = make_verifier()
    v.enrol("t1", SECRET, now=T0 - 60)
    with pytest.raises(InvalidRequest, match="limit must be a whole number|must be a Unix time"):
        AUDIT_CALLS[call](v)
    assert [row["action"] for row in v.audit(limit=5)] == ["enrol"]
