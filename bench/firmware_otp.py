"""Firmware OTP core under the real MicroPython unix port: time per TOTP code, hashlib vs the
pure-Python fallbacks, and RAM. Prints ratios measured in one run; figures go into
docs/performance.md ("OTP core (firmware)").

Run from the repository root: .venv/bin/python -m bench.firmware_otp
"""

from tests.micropython_runner import run_micropython

_PROGRAM = """\
import gc
import time
import otp

key = bytes(range(64))
for alg, n in (("sha1", {n}), ("sha256", {n}), ("sha512", {n512})):
    otp.totp(key, 1700000000, 30, 6, alg)
    gc.collect()
    start = time.ticks_us()
    i = 0
    while i < n:
        otp.totp(key, 1700000000 + 30 * i, 30, 6, alg)
        i += 1
    elapsed = time.ticks_diff(time.ticks_us(), start) / n
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    otp.totp(key, 1700000000, 30, 6, alg)
    garbage = gc.mem_alloc() - before
    gc.enable()
    gc.collect()
    print(alg, elapsed, garbage, gc.mem_alloc())
"""


def _measure(hide: tuple[str, ...]) -> dict[str, tuple[float, int, int]]:
    out = run_micropython(_PROGRAM.format(n=3000, n512=300), hide=hide, timeout=300)
    rows = (line.split() for line in out.splitlines())
    return {alg: (float(us), int(garbage), int(heap)) for alg, us, garbage, heap in rows}


def main() -> None:
    native = _measure(())
    fallback = _measure(("sha1", "sha256"))
    print("MicroPython unix port, one TOTP code (6 digits, 64-byte key):")
    print(f"{'algorithm':<10}{'source':<10}{'us/code':>10}{'garbage B':>11}{'heap B':>9}")
    for alg in ("sha1", "sha256", "sha512"):
        for source, table in (("hashlib", native), ("fallback", fallback)):
            if alg == "sha512" and source == "hashlib":
                continue  # the unix port's hashlib has no SHA-512
            us, garbage, heap = table[alg]
            print(f"{alg:<10}{source:<10}{us:>10.1f}{garbage:>11}{heap:>9}")
    for alg in ("sha1", "sha256"):
        print(f"{alg} fallback / hashlib: {fallback[alg][0] / native[alg][0]:.1f}x")
    print(f"sha512 fallback / sha1 hashlib: {fallback['sha512'][0] / native['sha1'][0]:.1f}x")


if __name__ == "__main__":
    main()
