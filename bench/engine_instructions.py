"""`engine.check` against pyotp in CPU instructions, which a shared machine's load cannot move.

Run: .venv/bin/python bench/engine_instructions.py   (needs valgrind: apt install valgrind)

The two sides are bench/engine_check.py's, one wrong-code check each. Each side runs in a
child Python under valgrind's callgrind twice, with no checks and with CHECKS; the difference
in instructions executed, over CHECKS, is that side's cost per check, start-up and imports
cancelled out. The counts are the same from run to run (within 0.1 %), whatever
else the machine runs, so a change of 1 % in the engine shows as 1 %, where
bench/engine_check.py's CPU-time rounds vary by more than that from run to run. An
instruction is not a nanosecond (a cache miss or a hashed block costs more than an add), and
valgrind's virtual CPU has no SHA extensions, so OpenSSL hashes with more instructions here
than natively: a change to how codes are hashed must be judged by bench/engine_check.py,
which stays the measure of time. For changes to the Python around the HMACs the two ratios
have agreed within a few percent (docs/performance.md, "The engine against pyotp").
"""

import re
import shutil
import subprocess
import sys

from engine_check import contenders

CHECKS = 5_000
_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(side: str, checks: int) -> int:
    """Instructions a child Python executes to import the bench and run `checks` of `side`."""
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            side,
            str(checks),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = _COLLECTED.search(run.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no instruction count:\n{run.stderr}")
    return int(found.group(1))


def per_check(side: str) -> float:
    return (instructions(side, CHECKS) - instructions(side, 0)) / CHECKS


def main() -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt install valgrind)")
    costs = {side: per_check(side) for side in contenders()}
    print(f"instructions per wrong-code check, window +-1 step, {CHECKS} checks under callgrind")
    for side, cost in costs.items():
        print(f"  {side:<14} {cost:>9,.0f}")
    ratio = costs["pyotp verify"] / costs["engine.check"]
    print(f"engine.check / pyotp = {ratio:.2f}x  (instructions; target >= 6)")


if __name__ == "__main__":
    if len(sys.argv) == 3:  # the child: run one side under callgrind
        run = contenders()[sys.argv[1]]
        for _ in range(int(sys.argv[2])):
            run()
    else:
        main()
