"""Validate by user name against validate by token, in one run (issue 12's benchmark).

Through the Python API, each on its own fresh SQLite store, every call accepting a right code
(a new time step per call, so each is a whole accept: the reads, the engine, the conditional
UPDATE, the audit row and a durable commit):
- token: `validate("alice-hw", code)`;
- user, local: `validate_user("alice@corp", code, source=...)`, alice in the local user table
  with two tokens (the hardware one, primary, whose code is sent, and a phone, spare), so
  both are tried, and the rate limits are read and cleared;
- user, LDAP cached: the same with alice in a real slapd (tests/fixtures_ldap.py) whose realm
  caches lookups (`cache_seconds`), so a validation asks the directory only when the cache
  has expired.
Short rounds alternate between the three, so other load on the machine hits each alike; the
median round counts. Prints calls per second and the ratios to the token's rate.

Run from the repository root: .venv/bin/python -m bench.validate_by_user
"""

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from baoling.verifier import Verifier
from baoling.verifier.otp import TOTP
from tests.fixtures_ldap import PEOPLE, SERVICE_DN, SERVICE_PASSWORD, seeded_ldap_server

ROUNDS = 7
ROUND_S = 1.5
T0 = 1_800_000_000
HARDWARE, PHONE = bytes(range(1, 21)), bytes(range(21, 41))
SOURCE = "192.0.2.10"


def with_two_tokens(v: Verifier, user: str) -> None:
    """`user` (already resolvable) with a hardware token (primary) and a phone (spare)."""
    v.enrol("alice-hw", HARDWARE)
    v.enrol("alice-phone", PHONE)
    v.add_user(user)
    v.assign("alice-hw", user, override=True)
    v.assign("alice-phone", user, role="spare", override=True)


def ldap_config(folder: Path, url: str) -> Path:
    """Realm corp in the directory, lookups cached for five minutes."""
    password = folder / "bind-password"
    password.write_text(SERVICE_PASSWORD + "\n")
    config = folder / "ldap.toml"
    config.write_text(
        f'[realms.corp]\nurls = ["{url}"]\nbind_dn = "{SERVICE_DN}"\n'
        f'bind_password_file = "{password}"\nbase_dn = "{PEOPLE}"\ntls = "none"\n'
        "cache_seconds = 300\n"
    )
    return config


@contextmanager
def verifiers() -> Iterator[dict[str, Callable[[str, float], bool]]]:
    """Each case's call, `(code, now) -> accepted`, on its own store."""
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        by_token = stack.enter_context(_closing(Verifier(data_dir=folder / "token")))
        by_token.enrol("alice-hw", HARDWARE)
        local = stack.enter_context(_closing(Verifier(data_dir=folder / "local")))
        with_two_tokens(local, "alice@corp")
        slapd = stack.enter_context(seeded_ldap_server())
        config = ldap_config(folder, slapd.url)
        directory = stack.enter_context(
            _closing(Verifier(data_dir=folder / "ldap", ldap_config=config))
        )
        with_two_tokens(directory, "alice@corp")
        yield {
            "token": lambda code, now: by_token.validate("alice-hw", code, now=now),
            "user, local": lambda code, now: local.validate_user(
                "alice@corp", code, now=now, source=SOURCE
            ),
            "user, LDAP cached": lambda code, now: directory.validate_user(
                "alice@corp", code, now=now, source=SOURCE
            ),
        }


@contextmanager
def _closing(v: Verifier) -> Iterator[Verifier]:
    try:
        yield v
    finally:
        v.close()


def round_rate(call: Callable[[str, float], bool], otp: TOTP, step: list[int]) -> float:
    """Accepts per second over ROUND_S, each at the next time step."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < ROUND_S:
        step[0] += 1
        if not call(otp.code_at_step(step[0]), step[0] * otp.period_s + 1.0):
            raise RuntimeError("a right code was refused")
        count += 1
    return count / elapsed


def main() -> None:
    otp = TOTP(HARDWARE)
    with verifiers() as calls:
        steps = {name: [T0 // otp.period_s] for name in calls}
        rates: dict[str, list[float]] = {name: [] for name in calls}
        for name, call in calls.items():  # warm up: caches, connections, the directory's
            round_rate(call, otp, steps[name])
        for _ in range(ROUNDS):
            for name, call in calls.items():
                rates[name].append(round_rate(call, otp, steps[name]))
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name, value in median.items():
        print(f"  {name:20} {value:8,.0f} accepts/s")
    for name in ("user, local", "user, LDAP cached"):
        print(f"{name} / token{'':4} {median[name] / median['token']:5.2f}x")


if __name__ == "__main__":
    main()
