"""firmware/otp.py under real MicroPython: bad input, base32 forms, leading zeros, epochs.

References: CPython's base64 (RFC 4648) for base32, pyotp and oathtool for codes,
calendar.timegm for the 2000 epoch. Each test is one MicroPython run printing JSON to compare.
"""

import base64
import calendar
import json
import random
import subprocess

import pyotp

from tests.micropython_runner import run_micropython

KEY = b"12345678901234567890"

# (call evaluated under MicroPython, exact message of the OTPError it raises)
BAD_INPUT = [
    ("otp.b32decode('JBSWY3DP!')", "secret is not base32: character 9 is not A-Z or 2-7"),
    ("otp.b32decode('JBSW Y3D1')", "secret is not base32: character 9 is not A-Z or 2-7"),
    ("otp.b32decode('JBSW=Y3DP')", "secret is not base32: '=' padding is only allowed at the end"),
    ("otp.b32decode('JBS')", "secret is not base32: 3 characters cannot be whole bytes"),
    ("otp.b32decode('JBSWY3DPE')", "secret is not base32: 9 characters cannot be whole bytes"),
    ("otp.b32decode('')", "secret is empty"),
    ("otp.b32decode(b'JBSWY3DP')", "secret must be base32 text"),
    ("otp.b32decode(None)", "secret must be base32 text"),
    ("otp.b32decode(' ==== ')", "secret is empty"),
    ("otp.hotp(b'', 0)", "secret is empty"),
    ("otp.totp(b'', 59)", "secret is empty"),
    ("otp.hotp(KEY, 0, digits=5)", "digits must be 6, 7 or 8"),
    ("otp.hotp(KEY, 0, digits=9)", "digits must be 6, 7 or 8"),
    ("otp.totp(KEY, 59, digits='6')", "digits must be 6, 7 or 8"),
    ("otp.totp(KEY, 59, period=9)", "period must be 10 to 300 seconds"),
    ("otp.totp(KEY, 59, period=301)", "period must be 10 to 300 seconds"),
    ("otp.totp(KEY, 59, period=30.0)", "period must be 10 to 300 seconds"),
    ("otp.totp(KEY, -1)", "time must not be before 1970"),
    ("otp.hotp(KEY, -1)", "counter must be 0 to 2**64-1"),
    ("otp.hotp(KEY, 1 << 64)", "counter must be 0 to 2**64-1"),
    ("otp.hotp(KEY, 0, algorithm='md5')", "algorithm must be sha1, sha256 or sha512"),
    ("otp.hmac_digest('SHA1', KEY, b'')", "algorithm must be sha1, sha256 or sha512"),
]

_BAD_INPUT_PROGRAM = """\
import json
import otp

KEY = {key!r}
out = []
for call in {calls!r}:
    try:
        eval(call)
        out.append(["no error", ""])
    except otp.OTPError as e:
        out.append([isinstance(e, ValueError), str(e)])
print(json.dumps(out))
"""


def test_bad_input_raises_otperror_with_exact_message() -> None:
    calls = [call for call, _ in BAD_INPUT]
    out = run_micropython(_BAD_INPUT_PROGRAM.format(key=KEY, calls=calls))
    assert json.loads(out) == [[True, message] for _, message in BAD_INPUT]


def test_b32decode_matches_rfc4648_in_every_accepted_form() -> None:
    rng = random.Random(4648)
    secrets = [rng.randbytes(n) for n in range(1, 41)]
    forms = []
    for secret in secrets:
        text = base64.b32encode(secret).decode()
        bare = text.rstrip("=")
        spaced = " ".join(bare[i : i + 4] for i in range(0, len(bare), 4))
        forms += [text, bare, bare.lower(), spaced, spaced.lower() + "=" * (len(text) - len(bare))]
    program = f"import json, otp\nprint(json.dumps([otp.b32decode(t).hex() for t in {forms!r}]))\n"
    got = json.loads(run_micropython(program))
    assert got == [secret.hex() for secret in secrets for _ in range(5)]


def _counters_with_leading_zeros(digits: int, algorithm: str, zeros: int) -> list[int]:
    """First counters whose pyotp code starts with `zeros` zeros (right-padding would break)."""
    reference = pyotp.HOTP(base64.b32encode(KEY).decode(), digits=digits, digest=algorithm)
    found = []
    counter = 0
    while len(found) < 3:
        if reference.at(counter).startswith("0" * zeros):
            found.append(counter)
        counter += 1
    return found


def test_leading_zero_codes_match_pyotp() -> None:
    cases = []
    for digits in (6, 7, 8):
        for algorithm in ("sha1", "sha256", "sha512"):
            for counter in _counters_with_leading_zeros(digits, algorithm, 2):
                cases.append((counter, digits, algorithm))
    program = (
        "import json, otp\n"
        f"print(json.dumps([otp.hotp({KEY!r}, c, d, a) for c, d, a in {cases!r}]))\n"
    )
    got = json.loads(run_micropython(program))
    expected = [
        pyotp.HOTP(base64.b32encode(KEY).decode(), digits=d, digest=a).at(c) for c, d, a in cases
    ]
    assert got == expected
    assert all(code.startswith("00") for code in got)


def test_totp_matches_pyotp_for_30_and_60_second_periods() -> None:
    rng = random.Random(6238)
    cases = []
    for period in (30, 60, 10, 120):  # pyotp refuses periods over 120 s
        for algorithm in ("sha1", "sha256", "sha512"):
            for _ in range(4):
                t = rng.randrange(0, 4_000_000_000)
                cases.append((rng.randbytes(rng.randrange(14, 70)), t, period, algorithm))
        # step boundaries: the last second of a step and the first of the next
        cases.append((KEY, 1_700_000_000 // period * period - 1, period, "sha1"))
        cases.append((KEY, 1_700_000_000 // period * period, period, "sha1"))
    program = (
        "import json, otp\n"
        f"cases = {[(k.hex(), t, p, a) for k, t, p, a in cases]!r}\n"
        "print(json.dumps([otp.totp(bytes.fromhex(k), t, p, 6, a) for k, t, p, a in cases]))\n"
    )
    got = json.loads(run_micropython(program))
    expected = [
        pyotp.TOTP(base64.b32encode(k).decode(), interval=p, digest=a).at(t) for k, t, p, a in cases
    ]
    assert got == expected


def test_totp_matches_oathtool_for_periods_pyotp_refuses() -> None:
    rng = random.Random(300)
    cases = [
        (rng.randbytes(20), rng.randrange(0, 4_000_000_000), period, digits, algorithm)
        for period in (121, 300)
        for digits in (6, 7, 8)
        for algorithm in ("sha1", "sha256", "sha512")
    ]
    program = (
        "import json, otp\n"
        f"cases = {[(k.hex(), t, p, d, a) for k, t, p, d, a in cases]!r}\n"
        "print(json.dumps([otp.totp(bytes.fromhex(k), t, p, d, a) for k, t, p, d, a in cases]))\n"
    )
    got = json.loads(run_micropython(program))
    expected = [
        subprocess.run(
            ["oathtool", f"--totp={a}", "-s", f"{p}s", "-d", str(d), "--now", f"@{t}", k.hex()],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for k, t, p, d, a in cases
    ]
    assert got == expected


_EPOCH_PROGRAM = """\
import sys

class _Port2000Time:
    # stand-in for an esp32's time module: its epoch is 2000-01-01
    def gmtime(self, seconds=0):
        return (2000, 1, 1, 0, 0, 0, 5, 1)

sys.modules["time"] = _Port2000Time()
import otp
print(otp.EPOCH_OFFSET_S)
"""


def test_epoch_2000_ports_convert_to_unix_time() -> None:
    """machineboard.py adds EPOCH_OFFSET_S to an esp32's time.time() (seconds since 2000)."""
    offset = calendar.timegm((2000, 1, 1, 0, 0, 0))
    assert run_micropython(_EPOCH_PROGRAM).split() == [str(offset)]


def test_epoch_1970_port_needs_no_conversion() -> None:
    assert run_micropython("import otp\nprint(otp.EPOCH_OFFSET_S)").split() == ["0"]
