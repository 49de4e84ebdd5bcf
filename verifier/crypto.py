"""Secrets at rest: AES-256-GCM under a master key kept in a file beside (not inside) the database.

Each token secret is sealed with a fresh random 96-bit nonce and the token id as associated
data, so a sealed secret copied onto another token's row does not open. The database records
the key's fingerprint (an HMAC of a fixed label, not the key), so a wrong key file fails at
start-up with a clear error instead of at the first validation.

Rotation writes the new key to `<key file>.new` before the database is re-encrypted and renames
it over the key file after the commit; `resolve_key_file` finishes or undoes a rotation that a
crash interrupted by picking whichever of the two files the database's fingerprint names.
"""

import errno
import fcntl
import hashlib
import hmac
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from baoling.verifier.errors import MasterKeyError
from baoling.verifier.files import sync_folder, write_new

KEY_BYTES = 32
NONCE_BYTES = 12
_FINGERPRINT_LABEL = b"baoling-master-key-fingerprint-v1"
_ANCHOR_LABEL = b"baoling-audit-anchor-key-v1"
_AAD_LABEL = b"baoling-token-secret-v1\x00"
_NEW_SUFFIX = ".new"
_LOCK_SUFFIX = ".lock"
# What writing in a folder this process may only read fails with.
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


class MasterKey:
    """One AES-256-GCM key: seals and opens token secrets bound to their token id."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"a master key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self.fingerprint = hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:32]
        self._anchor_key = hmac.new(key, _ANCHOR_LABEL, hashlib.sha256).digest()

    @classmethod
    def generate(cls) -> "MasterKey":
        return cls(os.urandom(KEY_BYTES))

    def seal(self, token_id: str, secret: bytes) -> bytes:
        """nonce || ciphertext || tag, with a fresh nonce on every call."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret, _AAD_LABEL + token_id.encode())

    def open(self, token_id: str, sealed: bytes) -> bytes:
        """The secret; a wrong key, a wrong token id or a changed byte raise MasterKeyError."""
        try:
            return self._aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _AAD_LABEL + token_id.encode()
            )
        except (InvalidTag, ValueError) as exc:
            raise MasterKeyError(
                f"the secret of token {token_id!r} does not open with this master key "
                "(wrong key file, or the row was altered)"
            ) from exc

    def anchor_mac(self, message: bytes) -> str:
        """HMAC-SHA256 of an audit anchor (verifier/audit_anchors.py) under a key derived from
        this one, so the database, which never holds the key, cannot vouch for a head."""
        return hmac.new(self._anchor_key, message, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"MasterKey(fingerprint={self.fingerprint})"


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterKeyError(
            f"cannot read master key file {path}: {exc.__class__.__name__}"
        ) from exc
    if stat.S_IMODE(mode) & 0o077:
        raise MasterKeyError(
            f"master key file {path} is readable by other users "
            f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise MasterKeyError(f"master key file {path} is not {KEY_BYTES * 2} hex digits") from exc
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"master key file {path} is not {KEY_BYTES * 2} hex digits")
    return key


def load_key(path: Path) -> MasterKey:
    """The key in `path`; MasterKeyError when it is missing or malformed."""
    try:
        return MasterKey(_read(path))
    except FileNotFoundError as exc:
        raise _missing(path) from exc


def _missing(path: Path) -> MasterKeyError:
    return MasterKeyError(f"master key file {path} does not exist")


def create_key(path: Path) -> MasterKey:
    """A new random key written to `path` (0600); refuses to replace an existing file."""
    key = os.urandom(KEY_BYTES)
    _make_folder(path)
    try:
        write_new(path, [key.hex().encode("ascii") + b"\n"])
    except FileExistsError as exc:
        raise MasterKeyError(f"master key file {path} already exists") from exc
    except OSError as exc:
        raise MasterKeyError(f"cannot write master key file {path}: {exc.strerror}") from exc
    return MasterKey(key)


def _make_folder(path: Path) -> None:
    """The key file's folder, made if missing; one MasterKeyError line when it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MasterKeyError(
            f"cannot create the folder of master key file {path}: {exc.strerror or exc}"
        ) from None


def staged_path(path: Path) -> Path:
    """Where a rotation keeps the new key until the database has been re-encrypted."""
    return path.with_name(path.name + _NEW_SUFFIX)


def stage_key(path: Path) -> MasterKey:
    """Write a fresh key beside `path` for a rotation, replacing a stale staged key."""
    discard_staged_key(path)
    return create_key(staged_path(path))


def discard_staged_key(path: Path) -> None:
    """Remove the staged key of `path`'s rotation, if any. A folder this process cannot write
    (a mounted secret) has none that it could have left."""
    try:
        staged_path(path).unlink(missing_ok=True)
    except OSError as exc:
        if exc.errno not in _READ_ONLY:
            raise


def commit_staged_key(path: Path) -> None:
    """Make the staged key the key file (atomic rename), after the database commit."""
    os.replace(staged_path(path), path)
    sync_folder(path.parent)


@contextmanager
def key_file_lock(path: Path) -> Iterator[None]:
    """Hold the key file against other threads and processes sharing the data folder (a
    rotation by the admin CLI while the server runs). Take it inside a database write
    transaction, never the other way round, so the two locks cannot deadlock."""
    _make_folder(path)
    try:
        fd = os.open(path.with_name(path.name + _LOCK_SUFFIX), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        if exc.errno not in _READ_ONLY:
            raise
        # A key in a folder this process cannot write (a mounted secret) cannot be rotated
        # from here, so there is no change to serialise: read it without the lock.
        fd = None
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def resolve_key_file(
    path: Path, fingerprint: str | None, *, holding_lock: bool = False
) -> MasterKey:
    """The key the database was sealed with, finishing or undoing an interrupted rotation.

    `fingerprint` is what the database recorded (None for a new, empty database, which gets
    the key file's key, or a new key file on first run). Takes key_file_lock unless the
    caller holds it.
    """
    if not holding_lock:
        # A database sealed under a key whose file (or staged file) is not there: the path is
        # wrong, and taking the lock would leave a folder and a lock file there.
        if fingerprint is not None and not (path.exists() or staged_path(path).exists()):
            raise _missing(path)
        with key_file_lock(path):
            return resolve_key_file(path, fingerprint, holding_lock=True)
    staged = staged_path(path)
    if fingerprint is None:
        discard_staged_key(path)
        return load_key(path) if path.exists() else create_key(path)
    if staged.exists():
        new = load_key(staged)
        if new.fingerprint == fingerprint:
            commit_staged_key(path)
            return new
    key = load_key(path)
    if key.fingerprint != fingerprint:
        raise MasterKeyError(
            f"master key file {path} is not the key this database was encrypted with "
            f"(database expects key fingerprint {fingerprint}, file has {key.fingerprint})"
        )
    discard_staged_key(path)
    return key
