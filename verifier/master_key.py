"""The master key that seals token secrets in the store: found and checked at start-up,
followed when another node or process rotates it, and rotated (docs/operations.md). The key
file's format and locking are verifier/crypto.py."""

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, Row

from baoling.verifier import audit as audit_log
from baoling.verifier import crypto, store
from baoling.verifier.errors import MasterKeyError


class CurrentKey:
    """The master key in use: the key file's key, checked against the fingerprint the database
    records."""

    def __init__(self, db: store.Store, path: Path) -> None:
        self._store, self._path = db, path
        with db.write() as conn:
            self._key = self._resolve(conn)

    def _resolve(self, conn: Connection) -> crypto.MasterKey:
        """The key file's key, checked against the recorded fingerprint; a database without
        one (new, or upgraded from schema 1) records it after a trial open."""
        fingerprint = store.get_meta(conn, store.KEY_FINGERPRINT)
        if fingerprint is not None:
            return crypto.resolve_key_file(self._path, fingerprint)
        rows = store.list_tokens(conn)
        if rows:
            key = crypto.load_key(self._path)
            key.open(rows[0].id, rows[0].secret)
        else:
            key = crypto.resolve_key_file(self._path, None)
        store.set_meta(conn, store.KEY_FINGERPRINT, key.fingerprint)
        return key

    def seal(self, token_id: str, secret: bytes) -> bytes:
        return self._key.seal(token_id, secret)

    def open(self, conn: Connection, row: Row[Any]) -> bytes:
        """The token's secret. If the key was rotated (by another node or process, or by
        another thread that has not swapped its key in yet), reload the key file and read the
        sealed secret again, both under the key file's lock: a rotation holds that lock from
        inside its transaction until after its rename, so under it the recorded fingerprint,
        the sealed secret and the key file agree. (Validations take no store-wide lock, so
        without it a validation could read one rotation's fingerprint and meet the next
        rotation's key file.)"""
        try:
            return self._key.open(row.id, row.secret)
        except MasterKeyError:
            pass
        with crypto.key_file_lock(self._path):
            fingerprint = store.get_meta(conn, store.KEY_FINGERPRINT)
            self._key = crypto.resolve_key_file(self._path, fingerprint, holding_lock=True)
            return self._key.open(row.id, store.get_token(conn, row.id).secret)

    def in_use(self, conn: Connection) -> crypto.MasterKey:
        """The key the database records now, the key file reloaded if another node or process
        rotated it (audit anchors are signed and checked with it)."""
        fingerprint = store.get_meta(conn, store.KEY_FINGERPRINT)
        if fingerprint != self._key.fingerprint:
            self._key = crypto.resolve_key_file(self._path, fingerprint)
        return self._key

    def rotate(self) -> None:
        """Re-encrypt every secret under a new master key, in one transaction.

        The new key is written to master.key.new first and renamed over master.key after the
        commit; a crash in between is finished at the next start (crypto.resolve_key_file).
        Other nodes sharing a PostgreSQL database need the new key file copied to them.
        The key file lock is held from inside the transaction until after the rename.
        """
        with ExitStack() as key_file_held:
            try:
                with self._store.write() as conn:
                    key_file_held.enter_context(crypto.key_file_lock(self._path))
                    old = crypto.resolve_key_file(
                        self._path,
                        store.get_meta(conn, store.KEY_FINGERPRINT),
                        holding_lock=True,
                    )
                    new = crypto.stage_key(self._path)
                    rows = store.list_tokens(conn)
                    for row in rows:
                        sealed = new.seal(row.id, old.open(row.id, row.secret))
                        store.update_token(conn, row.id, secret=sealed)
                    store.set_meta(conn, store.KEY_FINGERPRINT, new.fingerprint)
                    audit_log.append(
                        conn,
                        "rotate_key",
                        None,
                        time.time(),
                        tokens=len(rows),
                        fingerprint=new.fingerprint,
                    )
            except BaseException:
                crypto.discard_staged_key(self._path)
                raise
            crypto.commit_staged_key(self._path)
            self._key = new
