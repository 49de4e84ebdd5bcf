"""The Python API (docs/verifier.md, "Python API") on both stores: enrolment, replay, lockout and
resync through the store, admin operations, API keys. Codes come from pyotp, the reference."""

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from baoling.verifier.engine import Policy
from baoling.verifier.errors import InvalidRequest, TokenExists, UnknownToken

# A step boundary at 30 and 60 seconds: 1_800_000_000 = 60_000_000 * 30 = 30_000_000 * 60.
T0 = 1_800_000_000
SECRET = bytes(range(1, 21))


def code_at(
    secret: bytes, t: float, *, period: int = 30, digits: int = 6, algorithm: str = "sha1"
) -> str:
    b32 = base64.b32encode(secret).decode()
    return pyotp.TOTP(b32, digits=digits, interval=period, digest=getattr(hashlib, algorithm)).at(
        int(t)
    )


def wrong_code(secret: bytes, t: float, **params: int | str) -> str:
    """A well-formed code that matches no step within ±5 steps of `t` (and has no run of
    zeros, so it cannot hide inside a timestamp when a test searches text for it)."""
    period = int(params.get("period", 30))
    near = {code_at(secret, t + k * period, **params) for k in range(-5, 6)}
    return next(c for c in (str(n) for n in range(135791, 999999, 7)) if c not in near)


def test_enrol_returns_key_uri_that_pyotp_reads(make_verifier):
    v = make_verifier()
    uri = v.enrol(
        "alice",
        SECRET,
        issuer="Baoling Bank",
        label="alice@example.org",
        algorithm="sha256",
        digits=8,
        period_s=60,
    )
    parsed = pyotp.parse_uri(uri)
    assert base64.b32decode(parsed.secret) == SECRET
    assert (parsed.digits, parsed.interval, parsed.issuer) == (8, 60, "Baoling Bank")
    assert parsed.name == "alice@example.org"
    assert parse_qs(urlparse(uri).query)["algorithm"] == ["SHA256"]


def test_generated_secret_is_in_the_uri_and_validates(make_verifier):
    v = make_verifier()
    uri = v.enrol("bob", now=T0)
    secret = base64.b32decode(pyotp.parse_uri(uri).secret)
    assert len(secret) == 20
    assert v.validate("bob", code_at(secret, T0), now=T0)


def test_60_second_token_keeps_its_period(make_verifier):
    v = make_verifier()
    v.enrol("slow", SECRET, period_s=60, now=T0)
    assert v.show("slow")["period"] == 60
    # 45 s into a 60 s step: the 30 s code of that moment is a different code.
    assert not v.validate("slow", code_at(SECRET, T0 + 45, period=30), now=T0 + 45)
    assert v.validate("slow", code_at(SECRET, T0 + 45, period=60), now=T0 + 45)


def test_show_and_list_never_hold_the_secret(make_verifier):
    v = make_verifier()
    v.enrol("alice", SECRET, label="Alice")
    info = v.show("alice")
    assert info["token"] == "alice" and info["label"] == "Alice"
    assert info["enabled"] is True and info["fail_count"] == 0 and info["last_step"] is None
    text = repr(v.list_tokens()) + repr(info)
    assert SECRET.hex() not in text
    assert base64.b32encode(SECRET).decode().rstrip("=") not in text
    assert [t["token"] for t in v.list_tokens()] == ["alice"]


def test_enrolling_an_enrolled_id_is_refused(make_verifier):
    v = make_verifier()
    v.enrol("alice", SECRET, now=T0)
    with pytest.raises(TokenExists, match="^token 'alice' is already enrolled$"):
        v.enrol("alice", b"other secret bytes!!")
    assert v.validate("alice", code_at(SECRET, T0), now=T0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"token_id": ""}, "a token id is 1 to 128 characters"),
        ({"token_id": "a b"}, "a token id is 1 to 128 characters"),
        ({"algorithm": "md5"}, "algorithm must be sha1, sha256 or sha512, not 'md5'"),
        ({"digits": 9}, "digits must be 6, 7 or 8, not 9"),
        ({"period_s": 5}, "period must be 10 to 300 seconds, not 5"),
        ({"label": "x" * 257}, "label must be printable text of at most 256 characters"),
    ],
)
def test_bad_enrolment_is_refused_and_stores_nothing(make_verifier, kwargs, message):
    v = make_verifier()
    args = {"token_id": "alice", "secret": SECRET} | kwargs
    with pytest.raises(InvalidRequest, match=f"^{message}"):
        v.enrol(args.pop("token_id"), args.pop("secret"), **args)
    assert v.list_tokens() == []


def test_unknown_token_raises(make_verifier):
    v = make_verifier()
    for call in (
        lambda: v.validate("ghost", "123456"),
        lambda: v.show("ghost"),
        lambda: v.unlock("ghost"),
        lambda: v.delete("ghost"),
    ):
        with pytest.raises(UnknownToken, match="^no token 'ghost' is enrolled$"):
            call()


def test_replay_of_accepted_code_and_of_earlier_steps_is_rejected(make_verifier):
    v = make_verifier()
    v.enrol("alice", SECRET, now=T0)
    now = T0 + 5
    earlier = code_at(SECRET, now - 30)
    assert v.check("alice", code_at(SECRET, now), now=now).reason == "accepted"
    again = v.check("alice", code_at(SECRET, now), now=now + 1)
    assert (again.accepted, again.reason) == (False, "replay")
    # The previous step's code is still inside the ±1 window, but older than the accepted one.
    assert (v.check("alice", earlier, now=now + 2).reason) == "replay"
    # A new process (another Verifier on the same store) remembers too.
    assert not make_verifier().validate("alice", code_at(SECRET, now), now=now + 3)
    assert v.validate("alice", code_at(SECRET, now + 30), now=now + 30)


def test_lockout_after_n_wrong_codes_then_unlock(make_verifier):
    v = make_verifier(Policy(lockout_after_fails=3, lockout_seconds=600))
    v.enrol("alice", SECRET, now=T0)
    now = T0 + 1
    for _ in range(3):
        assert v.check("alice", wrong_code(SECRET, now), now=now).reason == "wrong_code"
    assert v.show("alice")["locked_until"] == pytest.approx(now + 600)
    right = v.check("alice", code_at(SECRET, now), now=now)
    assert (right.accepted, right.reason) == (False, "locked")
    v.unlock("alice")
    assert v.show("alice")["fail_count"] == 0 and v.show("alice")["locked_until"] is None
    assert v.validate("alice", code_at(SECRET, now), now=now)


def test_wrong_pins_and_wrong_codes_share_one_failure_count(make_verifier):
    v = make_verifier(Policy(lockout_after_fails=3, lockout_seconds=600))
    v.enrol("alice", SECRET, now=T0)
    now = T0 + 1
    assert v.wrong_pin("alice", now=now).reason == "wrong_pin"
    assert v.check("alice", wrong_code(SECRET, now), now=now).reason == "wrong_code"
    third = v.wrong_pin("alice", now=now)
    assert (third.accepted, third.reason) == (False, "wrong_pin")
    assert (third.fail_count, third.locked_until) == (3, pytest.approx(now + 600))
    assert v.show("alice")["locked_until"] == pytest.approx(now + 600)
    assert v.wrong_pin("alice", now=now + 1).reason == "locked"
    assert v.show("alice")["fail_count"] == 3
    rows = [(row["action"], row["detail"].get("reason")) for row in reversed(v.audit(5))]
    assert rows == [
        ("validate", "wrong_pin"),
        ("validate", "wrong_code"),
        ("validate", "wrong_pin"),
        ("lock", None),  # after the failure that locked
        ("validate", "locked"),
    ]


def test_time_based_lock_expires(make_verifier):
    v = make_verifier(Policy(lockout_after_fails=2, lockout_seconds=300))
    v.enrol("alice", SECRET, now=T0)
    for _ in range(2):
        v.validate("alice", wrong_code(SECRET, T0), now=T0)
    assert v.check("alice", code_at(SECRET, T0 + 299), now=T0 + 299).reason == "locked"
    assert v.validate("alice", code_at(SECRET, T0 + 301), now=T0 + 301)


YEAR_AHEAD = T0 + 365 * 86400


def locked_by_a_clock_a_year_ahead(make_verifier):
    """A verifier whose token alice was locked, for 600 s, by a clock a year ahead: every right
    code is wrong to such a clock, and its lock would last a year after the correction."""
    v = make_verifier(Policy(lockout_after_fails=3, lockout_seconds=600))
    v.enrol("alice", SECRET, now=T0)
    for _ in range(3):
        assert not v.validate("alice", code_at(SECRET, T0), now=YEAR_AHEAD)
    assert v.show("alice")["locked_until"] == pytest.approx(YEAR_AHEAD + 600)
    return v


def test_a_lock_set_while_the_clock_ran_a_year_ahead_ends_when_it_is_right(make_verifier):
    # The store's conditional UPDATEs follow the engine's rule.
    v = locked_by_a_clock_a_year_ahead(make_verifier)
    later = YEAR_AHEAD + 60
    assert v.check("alice", code_at(SECRET, later), now=later).reason == "locked"
    # Corrected: one more wrong code locks it again at once, from the right time ...
    assert v.check("alice", wrong_code(SECRET, T0 + 30), now=T0 + 30).reason == "wrong_code"
    assert v.show("alice")["locked_until"] == pytest.approx(T0 + 630)
    assert v.check("alice", code_at(SECRET, T0 + 60), now=T0 + 60).reason == "locked"
    # ... and that lock ends as any does: the right code is accepted after it.
    assert v.validate("alice", code_at(SECRET, T0 + 631), now=T0 + 631)


def test_a_lock_set_by_a_node_whose_clock_is_a_little_ahead_holds_on_the_others(make_verifier):
    # Two nodes on one store, A's clock 2 s ahead of B's (ordinary NTP skew): the lock A sets
    # ends 2 s later than one B would set. B honours it all the same (MAX_CLOCK_SKEW_S).
    policy = Policy(lockout_after_fails=3, lockout_seconds=600)
    a, b = make_verifier(policy), make_verifier(policy)
    a.enrol("alice", SECRET, now=T0)
    real = T0 + 1000
    for _ in range(3):
        assert a.check("alice", wrong_code(SECRET, real + 2), now=real + 2).reason == "wrong_code"
    assert b.check("alice", wrong_code(SECRET, real + 1), now=real + 1).reason == "locked"
    assert b.check("alice", code_at(SECRET, real + 1.5), now=real + 1.5).reason == "locked"
    assert b.show("alice")["fail_count"] == 3
    assert b.validate("alice", code_at(SECRET, real + 603), now=real + 603)


def test_after_the_clock_is_corrected_the_right_code_is_accepted_at_once(make_verifier):
    v = locked_by_a_clock_a_year_ahead(make_verifier)
    assert v.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)
    assert (v.show("alice")["fail_count"], v.show("alice")["locked_until"]) == (0, None)


def test_show_says_whether_a_lock_holds_now(make_verifier):
    # `locked` is worked out at the real time: a lock set at the real time holds; one set by a
    # clock a year ahead does not; neither has ended by its time.
    now = time.time()
    v = make_verifier(Policy(lockout_after_fails=1, lockout_seconds=600))
    for token, when in (("now", now), ("ahead", now + 365 * 86400)):
        v.enrol(token, SECRET, now=now - 60)
        v.validate(token, wrong_code(SECRET, when), now=when)
    shown = {info["token"]: info for info in v.list_tokens()}
    assert (shown["now"]["locked"], shown["ahead"]["locked"]) == (True, False)
    assert v.show("ahead")["locked_until"] == pytest.approx(now + 365 * 86400 + 600)
    assert v.show("now")["locked"] is True


def test_success_clears_the_failure_count(make_verifier):
    v = make_verifier(Policy(lockout_after_fails=3, lockout_seconds=600))
    v.enrol("alice", SECRET, now=T0)
    for _ in range(2):
        v.validate("alice", wrong_code(SECRET, T0), now=T0)
    assert v.show("alice")["fail_count"] == 2
    assert v.validate("alice", code_at(SECRET, T0), now=T0)
    assert v.show("alice")["fail_count"] == 0


def test_disabled_token_rejects_right_codes_until_enabled(make_verifier):
    v = make_verifier()
    v.enrol("alice", SECRET, now=T0)
    v.disable("alice")
    assert v.check("alice", code_at(SECRET, T0), now=T0).reason == "disabled"
    v.enable("alice")
    assert v.validate("alice", code_at(SECRET, T0), now=T0)


def test_delete_removes_the_token(make_verifier):
    v = make_verifier()
    v.enrol("alice", SECRET, now=T0)
    v.delete("alice")
    assert v.list_tokens() == []
    with pytest.raises(UnknownToken):
        v.validate("alice", code_at(SECRET, T0), now=T0)


def test_resync_with_two_consecutive_codes_200_steps_ahead(make_verifier):
    v = make_verifier(Policy(resync_window_steps=250))
    v.enrol("alice", SECRET, now=T0)
    ahead = T0 + 200 * 30
    assert not v.resync("alice", code_at(SECRET, ahead), code_at(SECRET, ahead + 60), now=T0)
    assert v.resync("alice", code_at(SECRET, ahead), code_at(SECRET, ahead + 30), now=T0)
    assert v.show("alice")["last_step"] == (ahead + 30) // 30
    # The next code of that token (its clock is 200 steps ahead) is now accepted.
    assert v.validate("alice", code_at(SECRET, ahead + 90), now=T0 + 90)


def test_failed_resyncs_count_towards_the_lock_as_wrong_codes_do(make_verifier):
    """docs/threat-model.md, "Dragging the window": resync is no way around the lockout."""
    v = make_verifier(Policy(lockout_after_fails=3, lockout_seconds=600))
    v.enrol("alice", SECRET, now=T0)
    now = T0 + 1
    wrong = wrong_code(SECRET, now)
    for _ in range(3):
        assert not v.resync("alice", wrong, wrong, now=now)
    assert v.show("alice")["locked_until"] == pytest.approx(now + 600)
    right = (code_at(SECRET, now), code_at(SECRET, now + 30))
    assert not v.resync("alice", *right, now=now)  # locked: the right pair is refused too
    assert v.check("alice", code_at(SECRET, now), now=now).reason == "locked"


def test_reset_drift_forgets_a_learned_offset(make_verifier):
    v = make_verifier()
    v.enrol("alice", SECRET, now=T0)
    ahead = T0 + 10 * 30  # the token's clock runs 10 steps ahead
    assert v.resync("alice", code_at(SECRET, ahead), code_at(SECRET, ahead + 30), now=T0)
    assert v.show("alice")["drift"]["offset_s"] != 0
    v.reset_drift("alice")
    assert v.show("alice")["drift"]["offset_s"] == 0
    assert v.show("alice")["drift"]["history"] == []
    # With the estimate gone, the window is centred on the verifier's own time again (past
    # the last accepted step: replay protection is not reset with the drift).
    later = T0 + 12 * 30 + 1
    assert v.validate("alice", code_at(SECRET, later), now=later)
    assert [row["action"] for row in v.audit()].count("reset_drift") == 1


def test_api_keys_are_scoped_and_stored_hashed(make_verifier):
    v = make_verifier()
    admin = v.create_api_key("ops", ["admin"])
    check = v.create_api_key("vpn", ["validate"])
    assert v.check_api_key(admin, "admin") and not v.check_api_key(admin, "validate")
    assert v.check_api_key(check, "validate") and not v.check_api_key(check, "admin")
    assert not v.check_api_key(admin[:-1] + ("A" if admin[-1] != "A" else "B"), "admin")
    assert not v.check_api_key("not a key", "admin")
    with pytest.raises(InvalidRequest, match="^scopes must be some of validate, helpdesk, admin$"):
        v.create_api_key("x", ["root"])
    for blank in ("", "  "):
        with pytest.raises(InvalidRequest, match="^name must not be empty"):
            v.create_api_key(blank, ["admin"])


def test_an_api_key_name_in_use_is_refused_and_its_key_keeps_working(make_verifier):
    """The audit trail names each key's actions by its name (`by: "api-key:<name>"`): two keys
    of one name would make whose action a row was ambiguous."""
    v = make_verifier()
    first = v.create_api_key("vpn", ["validate"])
    other_node = make_verifier()
    for scopes in (["validate"], ["admin"]):
        with pytest.raises(InvalidRequest, match="^an API key named 'vpn' exists already"):
            other_node.create_api_key("vpn", scopes)
    assert v.check_api_key(first, "validate")
    assert [row["detail"]["name"] for row in v.audit() if row["action"] == "api_key_create"] == [
        "vpn"
    ]
    assert v.check_api_key(v.create_api_key("VPN", ["validate"]), "validate")


def test_window_through_the_store_accepts_minus_one_to_plus_one_step(make_verifier):
    # Enrolled at T0, so the reach adds nothing yet (tests/test_engine_reach.py): the window.
    v = make_verifier()
    for token_id in ("early", "now", "late", "far-early", "far-late"):
        v.enrol(token_id, SECRET, now=T0)
    now = T0 + 10
    assert v.validate("early", code_at(SECRET, now - 30), now=now)
    assert v.validate("now", code_at(SECRET, now), now=now)
    assert v.validate("late", code_at(SECRET, now + 30), now=now)
    assert v.check("far-early", code_at(SECRET, now - 60), now=now).reason == "wrong_code"
    assert v.check("far-late", code_at(SECRET, now + 60), now=now).reason == "wrong_code"


def test_learned_offset_of_plus_7_steps_is_kept_by_the_store(make_verifier):
    v = make_verifier()
    v.enrol("fast", SECRET, now=T0)
    ahead = 7 * 30
    assert v.resync("fast", code_at(SECRET, T0 + ahead), code_at(SECRET, T0 + ahead + 30), now=T0)
    # Another node (a new Verifier on the same store) accepts the token's codes with ±1.
    later = T0 + 3600
    assert make_verifier().validate("fast", code_at(SECRET, later + ahead), now=later)
    assert v.check("fast", code_at(SECRET, later + 60), now=later + 60).reason == "wrong_code"


def test_a_key_rotated_by_another_node_is_picked_up(make_verifier):
    node_a, node_b = make_verifier(), make_verifier()
    node_a.enrol("alice", SECRET, now=T0)
    assert node_b.validate("alice", code_at(SECRET, T0), now=T0)
    node_a.rotate_key()  # node B still holds the old key in memory
    assert node_b.validate("alice", code_at(SECRET, T0 + 30), now=T0 + 30)
