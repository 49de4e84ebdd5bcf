"""Baoling's PSKC exports read by privacyIDEA 3.14's own importer (`parsePSKCdata`), installed into
a throwaway virtual environment (about a minute: `pytest -m privacyidea` runs these alone,
`-m "not privacyidea"` leaves them out). Codes are made by privacyIDEA's own HOTP code and hash
choice and compared with pyotp's for the fleet of tests/test_pskc_export_interop.py; the
rfc6030 flavour fails there as docs/provisioning.md's table says.
"""

import json
import subprocess
import venv

import pytest
from test_pskc_export_interop import FLEET, NOW, PROTECTIONS, exported, reference_code

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
