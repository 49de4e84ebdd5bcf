"""The host's file of admin keys: one per locked token, by serial, readable only by its owner.

A token's admin key is write-only on the token, so this file is the only copy: losing it means
the locked token's clock can only be set again after a wipe. It is JSON
(`{"<serial>": "<hex key>"}`), created with mode 0600 and replaced atomically, and refused when
its permissions let anyone else read it (as ssh does with private keys).
"""

import json
import os
import secrets
import stat
from pathlib import Path

from baoling.provisioning.errors import AdminKeyMissing, KeyFileError
from baoling.provisioning.files import why_unwritable, write_private
from baoling.provisioning.protocol import ADMIN_KEY_BYTES

ENV_VAR = "BAOLING_KEY_FILE"


def default_path() -> Path:
    """$BAOLING_KEY_FILE, else admin-keys.json in the XDG config folder."""
    named = os.environ.get(ENV_VAR)
    if named:
        return Path(named)
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "baoling" / "admin-keys.json"


class KeyStore:
    """Admin keys by token serial, in one file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()

    def _load(self) -> dict[str, str]:
        try:
            mode = self.path.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            return {}
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"Admin key file {self.path} can be read by other users: "
                f"run `chmod 600 {self.path}` and check who has seen it."
            )
        try:
            keys = json.loads(self.path.read_text())
        except (OSError, ValueError):
            raise KeyFileError(f"Admin key file {self.path} is not readable JSON.") from None
        if not isinstance(keys, dict):
            raise KeyFileError(f"Admin key file {self.path} is not a JSON object.")
        return keys

    def get(self, serial: str) -> bytes:
        """The admin key of token `serial`; AdminKeyMissing says where it was looked for."""
        hex_key = self._load().get(serial)
        if hex_key is None:
            raise AdminKeyMissing(
                f"The token {serial} is locked and {self.path} has no admin key for it: "
                "use the key file it was locked with (--keys FILE), or wipe the token."
            )
        return bytes.fromhex(hex_key)

    def check_writable(self) -> None:
        """Fail now if a new admin key could not be kept here (a file others can read, not JSON,
        a place that takes no file): asked before a token is written or locked."""
        reason = why_unwritable(self.path)
        if reason:
            raise KeyFileError(f"Admin key file {self.path} cannot be written: {reason}.")
        self._load()

    def new_key(self, serial: str) -> bytes:
        """Make and store a fresh admin key for `serial` before it is sent to the token, so a
        locked token never has a key the host lost. An earlier key for it is replaced."""
        key = secrets.token_bytes(ADMIN_KEY_BYTES)
        keys = self._load()
        keys[serial] = key.hex()
        write_private(self.path, json.dumps(keys, indent=1, sort_keys=True).encode())
        return key
