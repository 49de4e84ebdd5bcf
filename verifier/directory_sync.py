"""Refreshing directory users from their directory (docs/users.md, "Refreshing from the
directory"): the display name, e-mail and phone copied when a user was added are copied again,
and a user whose entry is gone or was re-created is deactivated, as a validation would do
(resolvers.lost_entry). Users are never deleted, and local users are left alone.

Every directory is asked first, outside the store's transaction (a slow directory must not hold
the writer), and always afresh (not from verifier/resolution_cache.py), then every change is
written in one transaction with its audit row: `user_refresh` naming the fields that changed
(never their values), or `user_deactivate` with its reason. A directory that cannot answer
stops the refresh before anything is written (DirectoryError).
"""

import time
from typing import Any

from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.errors import UnknownUser
from baoling.verifier.resolvers import Account, RealmResolvers, lost_entry
from baoling.verifier.user_names import UserName

ATTRIBUTES = ("display_name", "email", "phone")
UNCHANGED, UPDATED, DEACTIVATED = "unchanged", "updated", "deactivated"


class DirectorySync:
    """The directory users of one store."""

    def __init__(self, db: store.Store, realms: RealmResolvers) -> None:
        self._store, self._realms = db, realms

    def refresh(self, user: UserName | None = None) -> list[dict[str, Any]]:
        """Refresh `user`, or every active directory user; returns what became of each:
        {"user", "result": unchanged, updated or deactivated, "changed": [fields] or "reason"}."""
        with self._store.read() as conn:
            if user is None:
                rows = [row for row in store.list_users(conn) if row.active]
            else:
                row = store.get_user(conn, user.realm, user.name)
                if row is None:
                    raise UnknownUser(f"no user {str(user)!r}")
                rows = [row]
        answers: list[tuple[Any, Account | None]] = []
        for row in rows:
            directory = self._realms.directory(row.realm)
            if directory is not None and row.resolver == directory.name:
                answers.append((row, directory.lookup_now(UserName(row.name, row.realm))))
        now = time.time()
        results = []
        with self._store.write() as conn:
            for row, account in answers:
                results.append(self._apply(conn, row, account, now))
        return results

    @staticmethod
    def _apply(conn: Any, row: Any, account: Account | None, now: float) -> dict[str, Any]:
        name = str(UserName(row.name, row.realm))
        current = store.get_user(conn, row.realm, row.name)  # as it is now, in this transaction
        if current is None or not current.active:
            return {"user": name, "result": DEACTIVATED, "reason": "deactivated already"}
        why = lost_entry(store.directory_entry(conn, current.id), account)
        if why is not None or account is None:
            reason = why or "not bound to a directory entry"
            store.deactivate_user(conn, current.id, now)
            audit_log.append(conn, "user_deactivate", None, now, user=name, reason=reason)
            return {"user": name, "result": DEACTIVATED, "reason": reason}
        new = {field: getattr(account, field) for field in ATTRIBUTES}
        changed = [field for field in ATTRIBUTES if getattr(current, field) != new[field]]
        if not changed:
            return {"user": name, "result": UNCHANGED, "changed": []}
        store.update_user_attributes(conn, current.id, **{field: new[field] for field in changed})
        audit_log.append(conn, "user_refresh", None, now, user=name, changed=changed)
        return {"user": name, "result": UPDATED, "changed": changed}
