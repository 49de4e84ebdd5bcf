"""The host's admin key file: owner-only, one key per serial, refused when others can read it."""

import json
import stat

import pytest

from baoling.provisioning.errors import AdminKeyMissing, KeyFileError
from baoling.provisioning.keystore import KeyStore


def test_new_key_is_kept_per_serial_in_an_owner_only_file(tmp_path):
    path = tmp_path / "conf" / "keys.json"
    keys = KeyStore(path)
    first, second = keys.new_key("aa01"), keys.new_key("bb02")
    assert len(first) == 32 and first != second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"aa01": first.hex(), "bb02": second.hex()}
    assert KeyStore(path).get("aa01") == first


def test_missing_key_names_the_file_and_the_way_out(tmp_path):
    path = tmp_path / "keys.json"
    KeyStore(path).new_key("aa01")
    with pytest.raises(AdminKeyMissing) as caught:
        KeyStore(path).get("cc03")
    assert str(caught.value) == (
        f"The token cc03 is locked and {path} has no admin key for it: use the key file it was "
        "locked with (--keys FILE), or wipe the token."
    )


def test_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "keys.json"
    KeyStore(path).new_key("aa01")
    path.chmod(0o644)
    with pytest.raises(KeyFileError) as caught:
        KeyStore(path).get("aa01")
    assert str(caught.value) == (
        f"Admin key file {path} can be read by other users: run `chmod 600 {path}` and check "
        "who has seen it."
    )


def test_malformed_file_is_refused(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text("not json")
    path.chmod(0o600)
    with pytest.raises(KeyFileError) as caught:
        KeyStore(path).get("aa01")
    assert str(caught.value) == f"Admin key file {path} is not readable JSON."
