"""The verifier's OTP core gives the same codes as pyotp, the firmware core (under real
MicroPython) and oathtool, for random secrets, times, digits, periods and algorithms.

Hypothesis draws the examples and checks the verifier against pyotp as it goes; the firmware
then computes every drawn example in one MicroPython run (one process, not one per example),
and oathtool a sample of them.
"""

import base64
import hashlib
import random
import subprocess

import pyotp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baoling.core import base32
from baoling.verifier.otp import TOTP
from tests.micropython_runner import run_micropython

# (key, unix time, algorithm, digits, period in seconds)
Example = tuple[bytes, int, str, int, int]
EXAMPLES = 300
OATHTOOL_SAMPLE = 24
PYOTP_MAX_INTERVAL_S = 120

# Keys from 14 bytes (pyotp refuses fewer than 112 bits; oathtool's sample below covers shorter
# ones) up to 140 bytes: longer than every block size (64 for SHA-1/256, 128 for SHA-512), so
# the "hash a long key first" branch of RFC 2104 is drawn too.
examples = st.tuples(
    st.one_of(st.binary(min_size=14, max_size=64), st.binary(min_size=65, max_size=140)),
    st.integers(min_value=0, max_value=2**34),  # past 2038 and 2106
    st.sampled_from(["sha1", "sha256", "sha512"]),
    st.integers(min_value=6, max_value=8),
    st.one_of(st.sampled_from([30, 60]), st.integers(min_value=10, max_value=300)),
)


def pyotp_code(key: bytes, unix_time: int, algorithm: str, digits: int, period: int) -> str:
    """pyotp's TOTP; beyond its 120 s limit on the period, its HOTP at RFC 6238's T."""
    secret = base64.b32encode(key).decode()
    digest = getattr(hashlib, algorithm)
    if period <= PYOTP_MAX_INTERVAL_S:
        return pyotp.TOTP(secret, digits=digits, digest=digest, interval=period).at(unix_time)
    return pyotp.HOTP(secret, digits=digits, digest=digest).at(unix_time // period)


def verifier_code(key: bytes, unix_time: int, algorithm: str, digits: int, period: int) -> str:
    totp = TOTP(key, algorithm=algorithm, digits=digits, period_s=period)
    return totp.code_at_step(totp.step_at(unix_time))


def draw_examples() -> list[Example]:
    """First pass: hypothesis draws the examples, each checked against pyotp at once."""
    drawn: list[Example] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(examples)
    def verifier_agrees_with_pyotp(example: Example) -> None:
        assert verifier_code(*example) == pyotp_code(*example), example
        drawn.append(example)

    verifier_agrees_with_pyotp()
    return drawn


def firmware_codes(drawn: list[Example], hide: tuple[str, ...] = ()) -> list[str]:
    """Second pass: the firmware core computes every example in one MicroPython run (with the
    hashlib algorithms in `hide` taken away, so that its pure-Python fallbacks do the work)."""
    cases = [(key.hex(), *rest) for key, *rest in drawn]
    script = (
        "import binascii\n"
        "import otp\n"
        f"for key, t, algorithm, digits, period in {cases!r}:\n"
        "    print(otp.totp(binascii.unhexlify(key), t, period, digits, algorithm))\n"
    )
    return run_micropython(script, timeout=240, hide=hide).split()


def test_verifier_pyotp_and_firmware_agree_on_random_examples() -> None:
    drawn = draw_examples()
    assert len(drawn) >= EXAMPLES // 2  # hypothesis really drew (duplicates are skipped)
    assert {example[2] for example in drawn} == {"sha1", "sha256", "sha512"}
    assert max(len(example[0]) for example in drawn) > 128  # longer than any hash block
    from_firmware = firmware_codes(drawn)
    assert len(from_firmware) == len(drawn)
    for example, firmware in zip(drawn, from_firmware, strict=True):
        assert verifier_code(*example) == firmware, example
    # The same examples with no hash from hashlib at all: every code from the fallbacks.
    from_fallbacks = firmware_codes(drawn, hide=("sha1", "sha256"))
    assert from_fallbacks == from_firmware


def test_verifier_and_oathtool_agree_on_a_sample() -> None:
    rng = random.Random(6238)
    for _ in range(OATHTOOL_SAMPLE):
        key = rng.randbytes(rng.choice([1, 5, 10, 20, 32, 64, 100, 140]))
        unix_time = rng.randrange(0, 2**33)
        algorithm = rng.choice(["sha1", "sha256", "sha512"])
        digits = rng.choice([6, 7, 8])
        period = rng.choice([30, 60, rng.randrange(10, 301)])
        done = subprocess.run(
            [
                "oathtool",
                f"--totp={algorithm}",
                "-d",
                str(digits),
                "-s",
                str(period),
                "--now",
                f"@{unix_time}",
                key.hex(),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        example = (key, unix_time, algorithm, digits, period)
        assert verifier_code(*example) == done.stdout.strip(), example


def test_verifier_and_firmware_decode_the_same_base32() -> None:
    rng = random.Random(4648)
    keys = [rng.randbytes(rng.randrange(1, 70)) for _ in range(40)]
    # As people type them: lower case, no padding, groups of four separated by spaces.
    texts = []
    for key in keys:
        plain = base64.b32encode(key).decode().rstrip("=").lower()
        texts.append(" ".join(plain[i : i + 4] for i in range(0, len(plain), 4)))
    script = f"import otp\nfor text in {texts!r}:\n    print(otp.b32decode(text).hex())\n"
    from_firmware = run_micropython(script).split()
    assert from_firmware == [key.hex() for key in keys]
    assert [base32.decode(text) for text in texts] == keys
