"""`engine.check` for a wrong code against pyotp, in one run (issue 14: the ratio >= 6).

Run: .venv/bin/python bench/engine_check.py

Both sides check a wrong 6-digit code against a window of +-1 step (three codes):
- engine: `verifier.engine.check` with the token's TOTP made once (as verifier/validation.py
  keeps it) and the state a validation reads from the store: a drift estimate learned from a
  full history (with its range of rates, which the reach narrows to), no failures yet; the
  whole decision, the failure counted;
- pyotp: `pyotp.TOTP(secret).verify(code, valid_window=1)`, a new object per check, as a
  server does after loading a secret.

Time is the process's CPU time (time.process_time), not the wall clock, so that other
programs on a loaded machine slow neither side down. Rounds alternate the two sides, so what
noise is left hits both alike; each round gives a ratio, and the median of the rounds' ratios is
printed last.
"""

import statistics
import time
from collections.abc import Callable

import pyotp

from baoling.core import base32
from baoling.verifier.constants import DRIFT_HISTORY_LEN, MAX_DRIFT_UPDATE_STEPS
from baoling.verifier.drift import Drift, observation_tolerance_s
from baoling.verifier.engine import Policy, TokenState, check
from baoling.verifier.otp import TOTP

SECRET_B32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_700_000_000.0
ROUNDS = 15
CHECKS_PER_ROUND = 10_000
DAY_S = 86_400


def contenders() -> dict[str, Callable[[], object]]:
    """One zero-argument callable per side, each one wrong-code check."""
    otp = TOTP(base32.decode(SECRET_B32))
    step = otp.step_at(NOW)
    window = {otp.code_at_step(s) for s in range(step - 1, step + 2)}
    code = next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in window)
    # Learned as the engine learns it: an observation every 3 days, the last 3 days ago.
    drift = Drift.synced_at(NOW - (DRIFT_HISTORY_LEN + 1) * 3 * DAY_S)
    for k in range(DRIFT_HISTORY_LEN, 0, -1):
        drift = drift.observe(
            NOW - k * 3 * DAY_S,
            10.0 - k * 0.1,
            MAX_DRIFT_UPDATE_STEPS * otp.period_s,
            observation_tolerance_s(otp.period_s),
        )
    if drift.rate_range is None:
        raise SystemExit(
            "the benchmark's estimate learned no range of rates: its reach is not typical"
        )
    state = TokenState(last_step=step - 40, drift=drift)
    policy = Policy()
    if check(otp, state, code, NOW, policy).reason != "wrong_code":
        raise SystemExit("the benchmark's code is not a wrong code: the comparison would be void")
    if pyotp.TOTP(SECRET_B32).verify(code, for_time=NOW, valid_window=1):
        raise SystemExit("pyotp accepts the benchmark's code: the comparison would be void")
    return {
        "engine.check": lambda: check(otp, state, code, NOW, policy),
        "pyotp verify": lambda: pyotp.TOTP(SECRET_B32).verify(code, for_time=NOW, valid_window=1),
    }


def checks_per_cpu_second(run: Callable[[], object]) -> float:
    started = time.process_time()
    for _ in range(CHECKS_PER_ROUND):
        run()
    return CHECKS_PER_ROUND / (time.process_time() - started)


def main() -> None:
    sides = contenders()
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(ROUNDS):
        for name, run in sides.items():
            rates[name].append(checks_per_cpu_second(run))
    print(
        f"wrong-code checks per CPU second, window +-1 step, {ROUNDS} rounds x {CHECKS_PER_ROUND}"
    )
    for name, rate in rates.items():
        print(f"  {name:<14} median {statistics.median(rate):>9,.0f}   best {max(rate):>9,.0f}")
    ratios = [e / p for e, p in zip(rates["engine.check"], rates["pyotp verify"], strict=True)]
    print(f"  ratio per round: min {min(ratios):.2f}x, max {max(ratios):.2f}x")
    print(f"engine.check / pyotp = {statistics.median(ratios):.2f}x  (median; target >= 6)")


if __name__ == "__main__":
    main()
