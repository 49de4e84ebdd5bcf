"""Rate limits on validation by user name (docs/users.md, "Abuse control"): a stranger who
knows alice's name slows only himself from his address, and alice at most by the longest wait,
never for the day; the per-token lock still guards codes given for her token; the counts are
shared by nodes through the store; the client's address is the TCP peer, X-Forwarded-For only
from a trusted proxy."""

import base64
import ipaddress
import threading
import time

import httpx
import pyotp
import pytest

from baoling.host_tools.verifier_process import ServerProcess
from baoling.verifier.engine import Policy
from baoling.verifier.http.client_address import forwarded_client
from baoling.verifier.rate_limits import SOURCE, USER, USER_SOURCE, Count, Key, RateLimits, waiting
from tests.test_validate_by_user import HARDWARE_SECRET, HARDWARE_TOKEN
from tests.test_verifier_service import T0, code_at, wrong_code

STRANGER, ALICE_DESK = "203.0.113.7", "198.51.100.2"
HTTP_TIMEOUT_S = 30


def alice(v) -> bytes:
    """alice@corp with a hardware token (primary) and a phone token (spare); the phone's
    secret."""
    phone = bytes(range(21, 41))
    v.enrol(HARDWARE_TOKEN, HARDWARE_SECRET, now=T0)  # every use of alice checks at T0 on
    v.enrol("alice-phone", phone, now=T0)
    v.add_user("alice@corp")
    v.assign(HARDWARE_TOKEN, "alice@corp", override=True)
    v.assign("alice-phone", "alice@corp", role="spare", override=True)
    return phone


def rows(v, action: str) -> list[dict]:
    """The detail of the audit rows of `action`, oldest first."""
    return [r["detail"] for r in reversed(v.audit(10_000)) if r["action"] == action]


def user_rejections(v, reason: str) -> list[dict]:
    return [d for d in rows(v, "validate") if d.get("reason") == reason]


# --------------------------------------------------------------------------------- the rules


def test_the_wait_doubles_after_the_allowance_and_stops_at_the_longest():
    limits = RateLimits(user_source_after=3, user_after=10, delay_s=2, max_delay_s=60)
    waits = [limits.delay_s_after(USER_SOURCE, n) for n in range(1, 10)]
    assert waits == [0, 0, 2, 4, 8, 16, 32, 60, 60]
    assert [limits.delay_s_after(USER, n) for n in (9, 10, 11)] == [0, 2, 4]


def test_an_attempt_without_a_source_has_only_the_users_key_and_zero_turns_a_kind_off():
    limits = RateLimits(source_after=0)
    assert limits.keys("alice@corp", None) == (Key(USER, "alice@corp"),)
    assert limits.keys("alice@corp", STRANGER) == (
        Key(USER_SOURCE, "alice@corp", STRANGER),
        Key(USER, "alice@corp"),
    )
    assert RateLimits().keys("bob@corp", STRANGER)[-1] == Key(SOURCE, source=STRANGER)


def test_an_attempt_waits_while_any_of_its_keys_waits():
    user, mine = Key(USER, "alice@corp"), Key(USER_SOURCE, "alice@corp", STRANGER)
    counts = {mine: Count(3, T0, T0 + 2), user: Count(3, T0, None)}
    assert waiting(counts, T0 + 1) == mine
    assert waiting(counts, T0 + 2) is None


# ------------------------------------------------------------------------- the stranger


def test_200_wrong_codes_from_a_stranger_do_not_stop_alices_right_code(make_verifier):
    v = make_verifier()
    alice(v)
    wrong = wrong_code(HARDWARE_SECRET, T0)
    results: list[str] = []

    def stranger() -> None:
        for _ in range(25):
            results.append(v.check_user("alice@corp", wrong, now=T0, source=STRANGER).reason)

    threads = [threading.Thread(target=stranger) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Three tried (the default allowance of one user from one address), the rest untried.
    assert sorted(results) == ["rate_limited"] * 197 + ["wrong_code"] * 3
    right = code_at(HARDWARE_SECRET, T0)
    assert v.check_user("alice@corp", right, now=T0 + 1, source=ALICE_DESK).reason == "accepted"
    # The stranger's own address still waits (2 s after his third failure), right code or not.
    later = code_at(HARDWARE_SECRET, T0 + 30)
    assert v.check_user("alice@corp", later, now=T0 + 1.5, source=STRANGER).reason == (
        "rate_limited"
    )
    assert [v.show(t)["fail_count"] for t in (HARDWARE_TOKEN, "alice-phone")] == [0, 0]
    assert rows(v, "rate_limit") == [
        {
            "limit": "user_source",
            "failures": 3,
            "blocked_until": T0 + 2,
            "user": "alice@corp",
            "source": STRANGER,
        }
    ]
    waited = user_rejections(v, "rate_limited")
    assert len(waited) == 198
    assert waited[0] == {
        "user": "alice@corp",
        "result": "reject",
        "reason": "rate_limited",
        "limit": "user_source",
        "source": STRANGER,
    }


def test_a_patient_stranger_slows_alice_by_the_longest_wait_but_never_locks_her_out(
    make_verifier,
):
    limits = RateLimits(user_source_after=3, user_after=5, delay_s=2, max_delay_s=60)
    v = make_verifier(rate_limits=limits)
    phone = alice(v)
    wrong = wrong_code(HARDWARE_SECRET, T0)
    now, tried = float(T0), 0
    while tried < 30:  # each attempt as soon as his last wait is over
        reason = v.check_user("alice@corp", wrong, now=now, source=STRANGER).reason
        assert reason == "wrong_code"
        tried += 1
        now += limits.delay_s_after(USER_SOURCE, tried)
    # 30 wrong codes: three times the lockout, yet neither token is locked.
    assert Policy().lockout_after_fails < tried
    assert [v.show(t)["locked_until"] for t in (HARDWARE_TOKEN, "alice-phone")] == [None, None]
    # Her user waits too, for at most the longest wait since his last failure, then she is in.
    last = now - limits.max_delay_s
    early = code_at(phone, last + 30)
    assert v.check_user("alice@corp", early, now=last + 30, source=ALICE_DESK).reason == (
        "rate_limited"
    )
    assert v.validate_user("alice@corp", code_at(phone, now), now=now, source=ALICE_DESK)
    # Her accept cleared her user's count: a typo of hers is tried at once.
    assert v.check_user("alice@corp", wrong, now=now, source=ALICE_DESK).reason == "wrong_code"


def test_the_per_token_lock_still_applies_to_codes_given_for_her_token(make_verifier):
    v = make_verifier()
    phone = alice(v)
    wrong = wrong_code(HARDWARE_SECRET, T0)
    for _ in range(Policy().lockout_after_fails):
        assert v.check(HARDWARE_TOKEN, wrong, now=T0).reason == "wrong_code"
    assert v.check(HARDWARE_TOKEN, code_at(HARDWARE_SECRET, T0), now=T0).reason == "locked"
    hardware = code_at(HARDWARE_SECRET, T0 + 30)
    decision = v.check_user("alice@corp", hardware, now=T0 + 30, source=ALICE_DESK)
    assert (decision.accepted, decision.reason) == (False, "wrong_code")
    assert [d.reason for d in decision.decisions] == ["locked", "wrong_code"]
    assert v.validate_user("alice@corp", code_at(phone, T0 + 60), now=T0 + 60, source=ALICE_DESK)


def test_one_address_trying_many_users_waits_on_its_own_key(make_verifier):
    limits = RateLimits(user_source_after=3, user_after=10, source_after=4, delay_s=2)
    v = make_verifier(rate_limits=limits)
    alice(v)
    names = [f"user{n}@corp" for n in range(6)]
    reasons = [v.check_user(n, "123456", now=T0, source=STRANGER).reason for n in names]
    assert reasons == ["unknown_user"] * 4 + ["rate_limited"] * 2
    assert user_rejections(v, "rate_limited")[0]["limit"] == "source"
    right = code_at(HARDWARE_SECRET, T0)
    assert v.validate_user("alice@corp", right, now=T0, source=ALICE_DESK)


def test_copies_of_one_right_code_count_as_nothing(make_verifier):
    v = make_verifier()
    alice(v)
    code = code_at(HARDWARE_SECRET, T0)
    results: list[str] = []
    barrier = threading.Barrier(20)

    def attempt() -> None:
        barrier.wait()
        results.append(v.check_user("alice@corp", code, now=T0, source=STRANGER).reason)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["accepted"] + ["replay"] * 19
    for _ in range(20):
        assert v.check(HARDWARE_TOKEN, code, now=T0).reason == "replay"
    assert v.show(HARDWARE_TOKEN)["fail_count"] == 0
    assert v.show(HARDWARE_TOKEN)["locked_until"] is None
    assert rows(v, "rate_limit") == []


def test_the_counts_are_shared_by_two_nodes(postgres_server, data_dir):
    from baoling.verifier import Verifier

    url = postgres_server.create_database()
    nodes = [Verifier(url, data_dir=data_dir) for _ in range(2)]
    try:
        alice(nodes[0])
        wrong = wrong_code(HARDWARE_SECRET, T0)
        results: list[str] = []

        def stranger(node) -> None:
            for _ in range(20):
                results.append(node.check_user("alice@corp", wrong, now=T0, source=STRANGER).reason)

        threads = [threading.Thread(target=stranger, args=(n,)) for n in nodes * 5]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["rate_limited"] * 197 + ["wrong_code"] * 3
        right = code_at(HARDWARE_SECRET, T0)
        for node in nodes:  # either node makes him wait, and lets her in
            assert node.check_user("alice@corp", right, now=T0 + 1, source=STRANGER).reason == (
                "rate_limited"
            )
        assert nodes[1].validate_user("alice@corp", right, now=T0 + 1, source=ALICE_DESK)
        assert nodes[0].check_user("alice@corp", right, now=T0 + 1, source=ALICE_DESK).reason == (
            "replay"
        )
    finally:
        for node in nodes:
            node.close()


# --------------------------------------------------------------------- the client's address


TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("192.0.2.1", ["203.0.113.7"], "192.0.2.1"),  # not a proxy: its header is ignored
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["198.51.100.2, 203.0.113.7"], "203.0.113.7"),  # a client's own entry
        ("127.0.0.1", ["203.0.113.7, 10.1.2.3"], "203.0.113.7"),  # through two proxies
        ("127.0.0.1", ["203.0.113.7", "10.1.2.3"], "203.0.113.7"),  # two headers, in order
        ("127.0.0.1", ["10.1.2.3"], "10.1.2.3"),  # nobody before the proxies
        ("127.0.0.1", ["unknown"], "127.0.0.1"),  # not an address: the proxy is the client
        ("::ffff:127.0.0.1", ["::ffff:203.0.113.7"], "203.0.113.7"),
    ],
)
def test_x_forwarded_for_names_the_client_only_through_trusted_proxies(peer, forwarded, client):
    assert forwarded_client(peer, forwarded, TRUSTED) == client


def _served_stranger_then_alice(data_dir, serve_args: list[str]) -> tuple[str, list[dict]]:
    """Through a served verifier: three wrong codes for alice from 127.0.0.1 saying they are
    forwarded for STRANGER, then her right code saying it is forwarded for ALICE_DESK. Her
    answer, and the validate audit rows' details."""
    from baoling.verifier import Verifier

    v = Verifier(data_dir=data_dir)
    secret = base64.b32decode("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    v.enrol("alice-token", secret)
    v.add_user("alice@corp")
    v.assign("alice-token", "alice@corp", override=True)
    key = v.create_api_key("test", ["validate"])
    v.close()
    auth = {"Authorization": f"Bearer {key}"}
    totp = pyotp.TOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    wrong = wrong_code(secret, time.time())
    with ServerProcess(["--data-dir", str(data_dir)], serve_args) as server:

        def validate(code: str, forwarded_for: str) -> str:
            response = httpx.post(
                f"{server.url}/v1/validate",
                json={"user": "alice@corp", "code": code},
                headers={**auth, "X-Forwarded-For": forwarded_for},
                timeout=HTTP_TIMEOUT_S,
            )
            return response.json()["result"]

        assert [validate(wrong, STRANGER) for _ in range(3)] == ["reject"] * 3
        answer = validate(totp.now(), ALICE_DESK)
    v = Verifier(data_dir=data_dir)
    details = rows(v, "validate")
    v.close()
    return answer, details


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(data_dir):
    answer, details = _served_stranger_then_alice(data_dir, ["--rate-limit-delay-seconds", "600"])
    assert answer == "reject"
    assert [(d["reason"], d["source"]) for d in details] == [("wrong_code", "127.0.0.1")] * 3 + [
        ("rate_limited", "127.0.0.1")
    ]


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(data_dir):
    answer, details = _served_stranger_then_alice(
        data_dir,
        ["--rate-limit-delay-seconds", "600", "--http-trusted-proxies", "127.0.0.1, ::1"],
    )
    assert answer == "accept"
    assert [(d["reason"], d["source"]) for d in details] == [("wrong_code", STRANGER)] * 3 + [
        ("accepted", ALICE_DESK)
    ]


# ------------------------------------------------------------------------- RADIUS: the NAS


def test_radius_counts_by_the_nas_and_trusts_nas_ip_address_only_from_a_proxy(tmp_path):
    """Three wrong codes for alice through the NAS at 127.0.0.3 make that NAS wait for her,
    not the other NAS; a request from the proxy at 127.0.0.1 counts by the NAS its
    NAS-IP-Address names, and that attribute from a plain NAS is ignored."""
    from test_radius_challenge import radclient

    from baoling.verifier import Verifier

    data_dir, secret = tmp_path / "data", "nas-shared-secret"
    v = Verifier(data_dir=data_dir)
    v.enrol("alice-token", HARDWARE_SECRET)
    v.add_user("alice@corp")
    v.assign("alice-token", "alice@corp", override=True)
    v.close()
    radius = tmp_path / "radius.toml"
    radius.write_text(
        f'port = 0\n[clients.proxy]\naddress = "127.0.0.1"\nsecret = "{secret}"\n'
        f'[clients.nas]\naddress = "127.0.0.3"\nsecret = "{secret}"\n'
    )
    serve = ["--radius", "--radius-config", str(radius), "--radius-trusted-proxies", "127.0.0.1"]
    serve += ["--rate-limit-delay-seconds", "600"]

    def send(code: str, source: str, nas: str | None = None) -> str:
        attributes = f"User-Name = alice@corp, User-Password = {code}"
        if nas is not None:
            attributes += f", NAS-IP-Address = {nas}"
        return radclient(port, attributes, source=source, secret=secret)[0]

    with ServerProcess(["--data-dir", str(data_dir)], serve) as server:
        port = server.radius_port
        assert port is not None
        wrong = wrong_code(HARDWARE_SECRET, time.time())
        # From the plain NAS: its own address counts, whatever NAS-IP-Address it sends.
        assert [send(wrong, "127.0.0.3", nas="192.0.2.44") for _ in range(3)] == [
            "Access-Reject"
        ] * 3
        totp = pyotp.TOTP(base64.b32encode(HARDWARE_SECRET).decode())
        assert send(totp.now(), "127.0.0.3") == "Access-Reject"  # that NAS waits for alice
        # Through the proxy the named NAS counts: 192.0.2.44 has no failures, so she is in.
        assert send(totp.now(), "127.0.0.1", nas="192.0.2.44") == "Access-Accept"
    v = Verifier(data_dir=data_dir)
    details = rows(v, "validate")
    v.close()
    assert [(d["reason"], d["source"], d["radius_client"]) for d in details] == [
        ("wrong_code", "127.0.0.3", "nas"),
        ("wrong_code", "127.0.0.3", "nas"),
        ("wrong_code", "127.0.0.3", "nas"),
        ("rate_limited", "127.0.0.3", "nas"),
        ("accepted", "192.0.2.44", "proxy"),
    ]
