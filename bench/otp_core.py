"""Wrong-code checks per second: the verifier's OTP core against pyotp and the HMAC floor.

Run: .venv/bin/python bench/otp_core.py

All figures come from one run on one machine; the ratios are what docs/performance.md quotes.
Each contender checks a wrong 6-digit code against a window of +-1 step (three codes):
- core: verifier.otp.TOTP made once per token (the key decoded and its HMAC keyed once),
  then `find` over the three steps;
- core, new object: the same, but a TOTP made for every check (the cost of not caching);
- pyotp: `pyotp.TOTP(secret).verify(code, valid_window=1)`, a new object per check, as a
  server does after loading a secret;
- floor: three HMAC-SHA1 computations, each a copy of a keyed HMAC (cryptography's, as the
  core uses: the cheapest found, docs/performance.md), an update with a precomputed counter
  and a finalize, with no truncation, formatting or comparison: no check can cost less;
- hashlib states: the same three HMACs from hashlib's precomputed inner and outer states (two
  copies, two updates and two digests each), the floor the core was first measured against
  and the core's own HMAC until cryptography's replaced it.

Then, in the same run, what the engine adds on top (verifier.engine, docs/engine.md): a whole
decision for a wrong code and for a right one (drift learning over a full history), and a
failed resync (every step of its window computed) at the default and a 200-step window.
"""

import hashlib
import time
from collections.abc import Callable

import pyotp
from cryptography.hazmat.primitives import hashes, hmac

from baoling.core import base32
from baoling.verifier.constants import DRIFT_HISTORY_LEN
from baoling.verifier.drift import Drift
from baoling.verifier.engine import Policy, TokenState, check, resync
from baoling.verifier.otp import TOTP

SECRET_B32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_700_000_000.0
ROUNDS = 7
CHECKS_PER_ROUND = 20_000


def wrong_code(totp: TOTP, step: int) -> str:
    """A code that none of the three steps in the window shows."""
    window = {totp.code_at_step(s) for s in range(step - 1, step + 2)}
    return next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in window)


def make_contenders() -> dict[str, Callable[[], object]]:
    """One zero-argument callable per contender, each doing one wrong-code check."""
    key = base32.decode(SECRET_B32)
    core = TOTP(key)
    step = core.step_at(NOW)
    code = wrong_code(core, step)

    def core_check() -> object:
        value = core.parse(code)
        now_step = core.step_at(NOW)
        return value is not None and core.find(value, range(now_step - 1, now_step + 2))

    def core_new_object_check() -> object:
        totp = TOTP(base32.decode(SECRET_B32))
        value = totp.parse(code)
        now_step = totp.step_at(NOW)
        return value is not None and totp.find(value, range(now_step - 1, now_step + 2))

    def pyotp_check() -> object:
        return pyotp.TOTP(SECRET_B32).verify(code, for_time=NOW, valid_window=1)

    keyed = hmac.HMAC(key, hashes.SHA1())
    messages = [s.to_bytes(8, "big") for s in range(step - 1, step + 2)]

    def floor_check() -> object:
        for message in messages:
            mac = keyed.copy()
            mac.update(message)
            mac.finalize()
        return None

    padded = key.ljust(hashlib.sha1().block_size, b"\0")
    inner = hashlib.sha1(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha1(bytes(b ^ 0x5C for b in padded))

    def hashlib_states_check() -> object:
        for message in messages:
            i = inner.copy()
            i.update(message)
            o = outer.copy()
            o.update(i.digest())
            o.digest()
        return None

    if core_check() is not None or pyotp_check() is not False:
        raise SystemExit("the benchmark's wrong code matched: the comparison would be void")
    return {
        "core": core_check,
        "core, new object per check": core_new_object_check,
        "pyotp": pyotp_check,
        "floor (3 HMAC-SHA1)": floor_check,
        "hashlib states (3 HMAC-SHA1)": hashlib_states_check,
    }


def checks_per_second(run: Callable[[], object], count: int = CHECKS_PER_ROUND) -> float:
    """Calls per second of one round."""
    started = time.perf_counter()
    for _ in range(count):
        run()
    return count / (time.perf_counter() - started)


def engine_costs() -> dict[str, tuple[Callable[[], object], int]]:
    """The engine's operations, each with the number of calls per round."""
    core = TOTP(base32.decode(SECRET_B32))
    step = core.step_at(NOW)
    code = wrong_code(core, step)
    right = core.code_at_step(step)
    day_s = 86_400
    history = tuple((NOW - k * 3 * day_s, 10.0 - k * 0.1) for k in range(DRIFT_HISTORY_LEN, 0, -1))
    learned = TokenState(
        drift=Drift(offset_s=10.0, rate_ppm=4.0, at=history[-1][0], history=history)
    )
    policy = Policy()
    wide = Policy(resync_window_steps=200)
    far = step + 500
    wrong_pair = (core.code_at_step(far), core.code_at_step(far + 1))
    return {
        "engine check, wrong code": (lambda: check(core, learned, code, NOW, policy), 10_000),
        "engine check, right code": (lambda: check(core, learned, right, NOW, policy), 5_000),
        "resync failed, +-20 steps": (
            lambda: resync(core, learned, *wrong_pair, NOW, policy),
            1_000,
        ),
        "resync failed, +-200 steps": (lambda: resync(core, learned, *wrong_pair, NOW, wide), 200),
    }


def main() -> None:
    contenders = make_contenders()
    best = dict.fromkeys(contenders, 0.0)
    # Rounds interleave the contenders so that machine noise hits all of them alike.
    for _ in range(ROUNDS):
        for name, contender in contenders.items():
            best[name] = max(best[name], checks_per_second(contender))
    print(f"wrong-code checks/s, window +-1 step, best of {ROUNDS} rounds x {CHECKS_PER_ROUND}")
    for name, rate in best.items():
        print(f"  {name:<28} {rate:>12,.0f}")
    core, floor, reference = best["core"], best["floor (3 HMAC-SHA1)"], best["pyotp"]
    print(f"core / pyotp               {core / reference:6.2f}x  (target >= 6)")
    states = best["hashlib states (3 HMAC-SHA1)"]
    print(f"floor / core               {floor / core:6.2f}x  (the HMACs alone against the core)")
    print(f"hashlib states / core      {states / core:6.2f}x  (target <= 1.6, set against them)")
    print(f"core, new object / pyotp   {best['core, new object per check'] / reference:6.2f}x")
    print("engine, same run: microseconds per call (best of 3 rounds), and in core checks")
    for name, (run, count) in engine_costs().items():
        rate = max(checks_per_second(run, count) for _ in range(3))
        print(f"  {name:<28} {1e6 / rate:12.1f} {core / rate:8.1f}x")


if __name__ == "__main__":
    main()
