"""audit.origin (verifier/audit.py): the rows appended inside the with-block carry its fields,
rows outside it do not, in other threads neither, and the chain still verifies."""

import base64
import threading
from pathlib import Path

import pyotp
from test_http_api import wrong_code

from baoling.verifier import audit
from baoling.verifier.service import Verifier

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def details(v: Verifier) -> list[dict]:
    """The validations' audit details, oldest first."""
    return [row["detail"] for row in reversed(v.audit(100)) if row["action"] == "validate"]


def test_rows_inside_the_block_carry_its_fields_and_only_those(tmp_path: Path) -> None:
    v = Verifier(data_dir=tmp_path)
    v.enrol("t", base64.b32decode(SECRET))
    totp = pyotp.TOTP(SECRET)
    with audit.origin(radius_client="vpn", radius_user="alice"):
        with audit.origin(radius_user="bob"):  # an inner block adds to and overrides the outer
            v.validate("t", wrong_code(totp))
        v.validate("t", wrong_code(totp))
        outside = threading.Thread(target=v.validate, args=("t", wrong_code(totp)))
        outside.start()  # another thread has its own context
        outside.join()
    v.validate("t", totp.now())
    reject = {"result": "reject", "reason": "wrong_code"}
    assert details(v) == [
        {**reject, "radius_client": "vpn", "radius_user": "bob"},
        {**reject, "radius_client": "vpn", "radius_user": "alice"},
        reject,
        {"result": "accept", "reason": "accepted"},
    ]
    assert v.verify_audit().ok
    v.close()


def test_a_rows_own_detail_wins_a_clash(tmp_path: Path) -> None:
    v = Verifier(data_dir=tmp_path)
    v.enrol("t", base64.b32decode(SECRET))
    with audit.origin(result="forged"):
        v.validate("t", wrong_code(pyotp.TOTP(SECRET)))
    assert details(v) == [{"result": "reject", "reason": "wrong_code"}]
    v.close()
