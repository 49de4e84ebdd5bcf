"""Firmware OTP core under the real MicroPython unix port: time per TOTP code, hashlib vs the
pure-Python fallbacks, and RAM. Prints ratios measured in one run; figures go into
docs/performance.md ("OTP core (firmware)").

Run from the repository root: .venv/bin/python -m bench.firmware_otp
Another build (e.g. a 32-bit unix port, whose small ints hold 30 bits as on a Pico or an
ESP32): BAOLING_MICROPYTHON=/path/to/micropython .venv/bin/python -m bench.firmware_otp
"""

from tests.micropython_runner import run_micropython

_ALGORITHMS = ("sha1", "sha256", "sha512")

_PROGRAM = """\
import gc
import hashlib
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
    print(alg, elapsed, garbage, gc.mem_alloc(), int(hasattr(hashlib, alg)))
"""

Row = tuple[float, int, int, bool]  # us per code, garbage bytes, heap bytes, from hashlib


def _measure(hide: tuple[str, ...]) -> dict[str, Row]:
    # a heap large enough for one code's garbage with the collector off (1.4 MB for SHA-512 on
    # 64-bit words before 00157fd)
    out = run_micropython(_PROGRAM.format(n=3000, n512=300), hide=hide, heap="4m", timeout=300)
    rows = (line.split() for line in out.splitlines())
    return {
        alg: (float(us), int(garbage), int(heap), native == "1")
        for alg, us, garbage, heap, native in rows
    }


def main() -> None:
    native = _measure(())
    fallback = _measure(_ALGORITHMS)
    print("MicroPython unix port, one TOTP code (6 digits, 64-byte key):")
    print(f"{'algorithm':<10}{'source':<10}{'us/code':>10}{'garbage B':>11}{'heap B':>9}")
    for alg in _ALGORITHMS:
        for source, table in (("hashlib", native), ("fallback", fallback)):
            us, garbage, heap, from_hashlib = table[alg]
            if source == "hashlib" and not from_hashlib:
                continue  # this port's hashlib lacks it (the unix port here has no SHA-512)
            print(f"{alg:<10}{source:<10}{us:>10.1f}{garbage:>11}{heap:>9}")
    for alg in _ALGORITHMS:
        if native[alg][3]:
            print(f"{alg} fallback / hashlib: {fallback[alg][0] / native[alg][0]:.1f}x")
    fastest = min(native[alg][0] for alg in _ALGORITHMS)
    print(f"sha512 fallback / fastest code of this port: {fallback['sha512'][0] / fastest:.1f}x")


if __name__ == "__main__":
    main()
