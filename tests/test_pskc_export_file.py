"""A PSKC file as a registration target: each proved profile is added; python-pskc reads all."""

import re
import stat

import pytest
from pskc import PSKC

from baoling.provisioning.entry import Entry
from baoling.provisioning.errors import ExportError
from baoling.provisioning.profile import Profile
from baoling.provisioning.pskc_export import PskcFile

A = Entry("aa01", 0, Profile(bytes(range(20)), label="alice"))
B = Entry("bb02", 1, Profile(bytes(range(32)), "sha256", 8, 60, "bob", "ACME"))


@pytest.mark.parametrize(
    "protection",
    [{}, {"key": bytes(range(16))}, {"password": "batch password"}],
    ids=["plain", "key", "password"],
)
def test_entries_accumulate_in_one_owner_only_file(tmp_path, protection):
    path = tmp_path / "batch.pskc"
    PskcFile(path, **protection).register(A)
    PskcFile(path, **protection).register(B)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pskc = PSKC(str(path))
    if "key" in protection:
        pskc.encryption.key = protection["key"]
    if "password" in protection:
        pskc.encryption.derive_key(protection["password"])
    assert [(k.id, k.secret, k.time_interval) for k in pskc.keys] == [
        ("aa01-0", bytes(range(20)), 30),
        ("bb02-1", bytes(range(32)), 60),
    ]
    assert PskcFile(path, **protection).entries() == [A, B]


def test_token_already_in_the_file_is_refused_before_writing(tmp_path):
    target = PskcFile(tmp_path / "t.pskc", append=True)
    target.register(A)
    with pytest.raises(ExportError) as caught:
        target.check("aa01-0")
    assert str(caught.value) == f"{target.path} already holds aa01-0: use another PSKC file."


def test_an_existing_file_is_refused_unless_appending(tmp_path):
    path = tmp_path / "t.pskc"
    PskcFile(path).register(A)
    with pytest.raises(ExportError) as caught:
        PskcFile(path).check("bb02-1")
    assert str(caught.value) == (
        f"{path} exists: give --pskc-append to add to it, or a new --pskc name."
    )
    PskcFile(path, append=True).check("bb02-1")


@pytest.mark.parametrize(
    ("protection", "message"),
    [
        ({"key": bytes(32)}, "The PSKC key must be 16 bytes: privacyIDEA and LinOTP decrypt"),
        ({"password": "short"}, "The PSKC password must have at least 8 characters."),
    ],
)
def test_a_protection_no_export_can_use_is_refused_when_the_target_is_made(
    tmp_path, protection, message
):
    """Before any token is written (host_tools/token_cmds.py makes the target first)."""
    with pytest.raises(ExportError, match=f"^{re.escape(message)}"):
        PskcFile(tmp_path / "t.pskc", **protection)
    assert not (tmp_path / "t.pskc").exists()


def test_the_key_name_and_flavour_reach_the_file(tmp_path):
    path = tmp_path / "t.pskc"
    PskcFile(path, key=bytes(32), flavour="rfc6030", key_name="transport.hex").register(A)
    PskcFile(path, key=bytes(32), flavour="rfc6030", key_name="transport.hex").register(B)
    pskc = PSKC(str(path))
    pskc.encryption.key = bytes(32)
    assert pskc.encryption.key_names == ["transport.hex"]
    assert [(k.serial, k.algorithm_suite) for k in pskc.keys] == [
        ("aa01", "HMAC-SHA1"),
        ("bb02", "HMAC-SHA256"),
    ]


def test_wrong_password_for_an_existing_file_is_refused(tmp_path):
    PskcFile(tmp_path / "t.pskc", password="right password").register(A)
    with pytest.raises(ExportError) as caught:
        PskcFile(tmp_path / "t.pskc", password="wrong password").register(B)
    assert str(caught.value) == (
        f"The existing PSKC file {tmp_path / 't.pskc'} does not open with this password: give "
        "the one it was written with."
    )
