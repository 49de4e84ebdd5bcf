"""The token's own rules against the shared core's, on the same inputs: the firmware runs
under real MicroPython (tests/micropython_runner.py) and must accept and refuse exactly what
baoling.core does. Base32 goes through firmware/otp.py's b32decode (same bytes, same
messages); secret length, algorithm, digits and period through firmware/admin.py's
profile.write, the operation that puts a profile on a token, and otp.py's code functions."""

import base64
import json
import random
from pathlib import Path

from baoling.core import base32, limits
from baoling.core.errors import CoreError
from tests.micropython_runner import run_micropython


def base32_inputs() -> list[str]:
    """Hand-picked edge cases, every length 0..20, RFC 4648 forms, and random mixes of the
    characters each rule is about."""
    texts = [
        "",
        " ",
        "-",
        " - ",
        "=",
        "====",
        " = = ",
        "MZXW6",
        "mzxw6",
        "MZXW6===",
        "MZXW6=",
        "MZXW6==========",
        "MZ XW 6",
        "MZ-XW-6",
        "MZ=XW6",
        "MZXW6=A",
        "MZXW6= =",
        "MZXW6=-=",
        "MZXW6!",
        "MZXW0",
        "MZXW1",
        "MZXW8",
        "MZXW9",
        "MZXWß",
        "MZXWé",
        "ＭZXW6",
        "MZ\tXW6",
        "MZ\nXW6",
        "MZ_XW6",
        "MZ.XW6",
        "MZ+XW6",
        "MZ/XW6",
        "-MZXW6-",
        "GEZD-GNBV gy3t-qojq",
    ]
    texts += ["A" * count for count in range(21)]
    rng = random.Random(4648)
    for size in (1, 9, 10, 20, 32, 64, 65):
        encoded = base64.b32encode(rng.randbytes(size)).decode()
        texts += [encoded, encoded.rstrip("=").lower()]
    for _ in range(300):
        texts.append("".join(rng.choice("AZaz27 -=18!\tß") for _ in range(rng.randrange(12))))
    return texts


def core_decode(text: str) -> list:
    try:
        return ["ok", base32.decode(text).hex()]
    except CoreError as exc:
        return ["error", str(exc)]


_FIRMWARE_DECODE = """\
import json, otp
out = []
for text in json.loads({texts!r}):
    try:
        out.append(["ok", otp.b32decode(text).hex()])
    except otp.OTPError as e:
        out.append(["error", str(e)])
print(json.dumps(out))
"""


def test_firmware_and_core_read_base32_alike_with_the_same_messages():
    texts = base32_inputs()
    firmware = json.loads(run_micropython(_FIRMWARE_DECODE.format(texts=json.dumps(texts))))
    assert firmware == [core_decode(text) for text in texts]


# Each case: the profile.write arguments besides slot; one parameter at a time off the default.
SECRET_SIZES = [1, 9, 10, 11, 20, 32, 63, 64, 65, 100]
PROFILE_CASES = (
    [{"secret": base64.b32encode(bytes(range(size))).decode()} for size in SECRET_SIZES]
    + [{"algorithm": name} for name in ("sha1", "sha256", "sha512", "md5", "SHA1", "")]
    + [{"digits": digits} for digits in (0, 5, 6, 7, 8, 9, 10)]
    + [{"period": period} for period in (1, 9, 10, 11, 30, 60, 299, 300, 301, 3600)]
)
DEFAULTS = {"secret": base64.b32encode(bytes(20)).decode(), "label": "a"}


def core_accepts(case: dict) -> bool:
    merged = {
        "algorithm": limits.DEFAULT_ALGORITHM,
        "digits": limits.DEFAULT_DIGITS,
        "period": limits.DEFAULT_PERIOD_S,
        **DEFAULTS,
        **case,
    }
    try:
        limits.check_parameters(
            base32.decode(merged["secret"]),
            merged["algorithm"],
            merged["digits"],
            merged["period"],
        )
    except CoreError:
        return False
    return True


_FIRMWARE_WRITE = """\
import json
from boards import sim
import clock, device, protocol, store
hw = sim.make()
st = store.Store(hw.storage_dir, hw.unique_id())
st.load()
dev = device.Device(hw, st, clock.Clock(hw))
out = []
for case in json.loads({cases!r}):
    args = {{"slot": 0}}
    args.update({defaults!r})
    args.update(case)
    try:
        dev.handle("profile.write", args)
        out.append(True)
    except protocol.Refused as e:
        out.append(False)
print(json.dumps(out))
"""


def test_the_token_stores_exactly_the_profiles_the_core_allows(tmp_path: Path):
    program = _FIRMWARE_WRITE.format(cases=json.dumps(PROFILE_CASES), defaults=DEFAULTS)
    firmware = json.loads(run_micropython(program, cwd=tmp_path))
    expected = [core_accepts(case) for case in PROFILE_CASES]
    assert dict(zip(map(json.dumps, PROFILE_CASES), firmware, strict=True)) == dict(
        zip(map(json.dumps, PROFILE_CASES), expected, strict=True)
    )
    assert sum(expected) == 6 + 3 + 3 + 6  # the in-range values above: both sides refuse the rest


_FIRMWARE_CODES = """\
import json, otp
key = b"12345678901234567890"
out = []
for digits, period in json.loads({cases!r}):
    try:
        otp.totp(key, 59, period, digits)
        out.append(True)
    except otp.OTPError:
        out.append(False)
print(json.dumps(out))
"""


def test_the_token_computes_codes_for_exactly_the_digits_and_periods_the_core_allows():
    cases = [(d, 30) for d in range(4, 11)] + [(6, p) for p in (1, 9, 10, 300, 301, 600)]
    firmware = json.loads(run_micropython(_FIRMWARE_CODES.format(cases=json.dumps(cases))))

    def allowed(digits: int, period: int) -> bool:
        try:
            limits.check_digits(digits)
            limits.check_period(period)
        except CoreError:
            return False
        return True

    assert firmware == [allowed(d, p) for d, p in cases]
