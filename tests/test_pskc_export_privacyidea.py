"""Baoling's PSKC exports read by privacyIDEA 3.14's own importer (`parsePSKCdata`), installed into
a throwaway virtual environment (about a minute: `pytest -m privacyidea` runs these alone,
`-m "not privacyidea"` leaves them out). Codes are made by privacyIDEA's own HOTP code and hash
choice and compared with pyotp's for the fleet of tests/test_pskc_export_interop.py; the
rfc6030 flavour fails there as docs/provisioning.md's table says. Then a simulated token's four
slots, provisioned into a password-protected file and exported again plain and with a
pre-shared key (`token export`), become four privacyIDEA tokens whose codes are on its screen.
"""

import json
import subprocess
import time
import venv

import pytest
from provisioning_sim import baoling
from test_pskc_export_interop import AES_KEY, FLEET, NOW, PROTECTIONS, exported, reference_code

from baoling.host_tools.simulator import Simulator

pytestmark = pytest.mark.privacyidea

# Runs inside privacyIDEA's environment: reads [{xml, key_hex, password}], prints per file the
# tokens' codes at `now` (privacyIDEA's TOTP: its hash lookup, HmacOtp, counter now // step),
# the serials it did not import, or the error it raised.
IMPORT_AND_CODE = """
import binascii, json, sys
from privacyidea.lib.importotp import parsePSKCdata
from privacyidea.lib.tokenclass import TokenClass
from privacyidea.lib.tokens.HMAC import HmacOtp

request = json.load(sys.stdin)
answers = []
for case in request["files"]:
    try:
        tokens, not_imported = parsePSKCdata(
            case["xml"], preshared_key_hex=case["key_hex"], password=case["password"]
        )
    except Exception as exc:
        answers.append({"error": str(exc)})
        continue
    codes = {}
    for serial, token in tokens.items():
        otp = HmacOtp(
            digits=int(token["otplen"]), hashfunc=TokenClass.get_hashlib(token["hashlib"])
        )
        counter = request["now"] // int(token["timeStep"])
        codes[serial] = otp.generate(counter, key=binascii.unhexlify(token["otpkey"]))
    answers.append({"codes": codes, "not_imported": list(not_imported)})
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def privacyidea_python(tmp_path_factory):
    """The Python of a fresh virtual environment holding privacyIDEA 3.14 from PyPI."""
    folder = tmp_path_factory.mktemp("privacyidea")
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "privacyidea==3.14"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return python


@pytest.fixture(scope="module")
def answers(privacyidea_python):
    """privacyIDEA's answer for each (protection, flavour) export."""
    cases = [(p, f) for p in PROTECTIONS for f in ("privacyidea", "rfc6030")]
    files = [
        {
            "xml": exported(p, f).decode(),
            "key_hex": PROTECTIONS[p].get("key", b"").hex() or None,
            "password": PROTECTIONS[p].get("password"),
        }
        for p, f in cases
    ]
    proc = subprocess.run(
        [privacyidea_python, "-c", IMPORT_AND_CODE],
        input=json.dumps({"files": files, "now": NOW}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(zip(cases, json.loads(proc.stdout), strict=True))


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_privacyidea_imports_every_slot_with_its_codes(answers, protection):
    assert answers[protection, "privacyidea"] == {
        "codes": {entry.key_id: reference_code(entry.profile) for entry in FLEET},
        "not_imported": [],
    }


def test_privacyidea_misreads_or_refuses_the_rfc6030_flavour(answers):
    plain = answers["plain", "rfc6030"]["codes"]
    assert sorted(plain) == sorted({entry.serial for entry in FLEET})  # one token per device
    assert answers["key", "rfc6030"]["codes"] == {}  # its HMAC-SHA1 check fails every MAC
    assert answers["password", "rfc6030"] == {
        "error": "ERR304: Failed to import tokendata. Wrong encryption key? "
        "ERR304: We only import PSKC files with AES128-CBC."
    }
    last_slot = {entry.serial: entry.profile for entry in FLEET}  # the one kept per serial
    for serial, code in plain.items():  # HMAC-SHA256 and HMAC-SHA512 are read as SHA-1
        read_as_sha1 = last_slot[serial].algorithm != "sha1"
        assert (code != reference_code(last_slot[serial])) == read_as_sha1


# -- a real token's slots, through privacyIDEA -----------------------------------------------------

# Runs inside privacyIDEA's environment: reads {files: [{xml, key_hex, password}], start, steps},
# prints per file each token's hash, digits and step as privacyIDEA keeps them, its secret as
# base32, and its codes (privacyIDEA's HmacOtp and hash choice) for `steps` steps from `start`.
STEPS = 40
IMPORT_WITH_CODES = """
import base64, binascii, json, sys
from privacyidea.lib.importotp import parsePSKCdata
from privacyidea.lib.tokenclass import TokenClass
from privacyidea.lib.tokens.HMAC import HmacOtp

request = json.load(sys.stdin)
answers = []
for case in request["files"]:
    tokens, not_imported = parsePSKCdata(
        case["xml"], preshared_key_hex=case["key_hex"], password=case["password"]
    )
    made = {}
    for serial, token in tokens.items():
        step, key = int(token["timeStep"]), binascii.unhexlify(token["otpkey"])
        otp = HmacOtp(
            digits=int(token["otplen"]), hashfunc=TokenClass.get_hashlib(token["hashlib"])
        )
        first = request["start"] // step
        counters = range(first, first + request["steps"])
        made[serial] = {
            "profile": [token["hashlib"], int(token["otplen"]), step],
            "secret": base64.b32encode(key).decode(),
            "codes": {str(c * step): otp.generate(c, key=key) for c in counters},
        }
    answers.append({"tokens": made, "not_imported": list(not_imported)})
print(json.dumps(answers))
"""
TOKEN_SLOTS = [("sha1", 6, 30), ("sha256", 8, 60), ("sha512", 6, 30), ("sha512", 8, 60)]
KEYS_PASSWORD = "keys password 1"


@pytest.fixture(scope="module")
def token_through_privacyidea(privacyidea_python, tmp_path_factory):
    """A simulated token with four slots provisioned into one password-protected PSKC file (the
    default flavour), that file and two `token export`s of it (plain, pre-shared key), each read
    by privacyIDEA: (simulator, serial, {protection: privacyIDEA's answer})."""
    tmp = tmp_path_factory.mktemp("token")
    keys, transport = tmp / "keys.pskc", tmp / "transport.hex"
    transport.write_text(AES_KEY.hex() + "\n")
    password = {"BAOLING_PSKC_PASSWORD": KEYS_PASSWORD, "BAOLING_KEYS_PASSWORD": KEYS_PASSWORD}
    with Simulator(tmp / "sim") as sim:
        for slot, (algorithm, digits, period) in enumerate(TOKEN_SLOTS):
            done = baoling(
                *("token", "provision", "--port", sim.port, "--slot", str(slot)),
                *("--label", f"user{slot}", "--algorithm", algorithm, "--digits", str(digits)),
                *("--period", str(period), "--pskc", str(keys), "--pskc-password"),
                *(("--pskc-append",) if slot else ()),
                env=password,
            )
            assert done.returncode == 0, done.stderr
        serial = json.loads(baoling("token", "info", "--port", sim.port, "--json").stdout)["serial"]
        for name, protect in (("plain", ()), ("key", ("--pskc-key-file", str(transport)))):
            done = baoling(
                *("token", "export", "--keys", str(keys), "--keys-password"),
                *("--pskc", str(tmp / f"{name}.pskc"), *protect),
                env=password,
            )
            assert done.returncode == 0, done.stderr
        files = {
            "password": {"xml": keys.read_text(), "key_hex": None, "password": KEYS_PASSWORD},
            "plain": {"xml": (tmp / "plain.pskc").read_text(), "key_hex": None, "password": None},
            "key": {
                "xml": (tmp / "key.pskc").read_text(),
                "key_hex": AES_KEY.hex(),
                "password": None,
            },
        }
        proc = subprocess.run(
            [privacyidea_python, "-c", IMPORT_WITH_CODES],
            input=json.dumps(
                {"files": list(files.values()), "start": int(time.time()), "steps": STEPS}
            ),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        yield sim, serial, dict(zip(files, json.loads(proc.stdout), strict=True))


def shown_against(screen: dict, codes: dict[str, str], step: int) -> str:
    """What the screen shows next to privacyIDEA's codes for a slot, for a failure message:
    the screen, its slot and the steps from now whose code it is (never the code itself)."""
    now = int(time.time()) // step
    steps = [int(t) // step - now for t, code in codes.items() if code == screen.get("code")]
    code = f"privacyIDEA's code {steps} steps from now" if steps else "none of privacyIDEA's codes"
    return (
        f"the screen shows {screen.get('screen', 'nothing')} of slot {screen.get('slot')}: {code}"
    )


@pytest.mark.parametrize("protection", ["password", "key", "plain"])
def test_privacyidea_imports_each_slot_of_a_token_with_the_code_on_its_screen(
    token_through_privacyidea, protection
):
    """One token per slot, each with the slot's secret (the token proves it), hash, digits and
    period, and privacyIDEA's code for now is the one the token shows for that slot."""
    sim, serial, answers = token_through_privacyidea
    answer = answers[protection]
    assert answer["not_imported"] == []
    assert sorted(answer["tokens"]) == [f"{serial}-{slot}" for slot in range(len(TOKEN_SLOTS))]
    for slot, profile in enumerate(TOKEN_SLOTS):
        token = answer["tokens"][f"{serial}-{slot}"]
        assert token["profile"] == list(profile)
        proved = baoling(
            *("token", "prove", "--port", sim.port, "--slot", str(slot), "--secret", "-"),
            stdin=token["secret"] + "\n",
        )
        assert proved.returncode == 0, proved.stderr

        def shows_privacyideas_code(screen: dict, slot: int = slot, token: dict = token) -> bool:
            step = TOKEN_SLOTS[slot][2]
            now = int(time.time()) // step * step
            return screen.get("slot") == slot and screen.get("code") == token["codes"][str(now)]

        # A short press shows the next slot's code, drawn a little after press() returns (it
        # returns once the firmware saw the release): wait for that slot before pressing again.
        shown = sim.wait_screen(lambda s: s.get("screen") == "code")["slot"]
        while shown != slot:
            sim.press(0.1)
            following = (shown + 1) % len(TOKEN_SLOTS)
            sim.wait_screen(lambda s, following=following: s.get("slot") == following)
            shown = following
        try:
            sim.wait_screen(shows_privacyideas_code, timeout=10)
        except TimeoutError:
            pytest.fail(f"slot {slot}: {shown_against(sim.screen(), token['codes'], profile[2])}")
