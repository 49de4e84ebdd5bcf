"""The helpdesk's steps around a token's life (docs/users.md, "Lost tokens"): a token reported
lost is disabled, found again it is enabled, a user's spare token is made the primary one, and
a deactivated user is reactivated. Backup codes are verifier/backup_codes.py's.

Each step is one write transaction with its audit row, which names the token and the user;
who did it comes from `audit.origin` (the API key or the command line's operator, set by the
front end around the call).
"""

import time
from typing import Any

from sqlalchemy.engine import Connection

from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.errors import (
    InvalidRequest,
    LifecycleConflict,
    UnknownUser,
)
from baoling.verifier.events import TokenDisabled
from baoling.verifier.outbox import Outbox
from baoling.verifier.resolvers import RealmResolvers
from baoling.verifier.tokens import refuse_lost
from baoling.verifier.user_names import UserName
from baoling.verifier.users import PRIMARY, SPARE


def _owner_name(conn: Connection, token_id: str) -> str | None:
    owner = store.token_owner(conn, token_id)
    return None if owner is None else str(UserName(owner.name, owner.realm))


class Lifecycle:
    """Lost, found and spare tokens, and reactivated users, in one store."""

    def __init__(self, db: store.Store, realms: RealmResolvers, outbox: Outbox) -> None:
        self._store, self._realms, self._outbox = db, realms, outbox

    def report_lost(self, token_id: str) -> dict[str, Any]:
        """Disable a token its user lost and mark it lost: its codes are refused until `found`,
        which alone enables it again. Returns the token, its user and whether it is
        enabled."""
        now = time.time()
        with self._store.write() as conn:
            # UnknownToken when there is none
            store.update_token(conn, token_id, enabled=False, lost=True)
            user = _owner_name(conn, token_id)
            audit_log.append(conn, "token_lost", token_id, now, user=user)
            self._outbox.emit(conn, TokenDisabled(token=token_id), now)
        return {"token": token_id, "user": user, "enabled": False}

    def found(self, token_id: str) -> dict[str, Any]:
        """Enable a token that was lost and is back; its user's backup codes are revoked, as
        they were a stand-in for it. Returns the token, its user, and how many backup codes
        were still usable."""
        now = time.time()
        with self._store.write() as conn:
            store.update_token(conn, token_id, enabled=True, lost=False)
            owner = store.token_owner(conn, token_id)
            revoked = 0 if owner is None else store.revoke_backup_codes(conn, owner.id, now)
            user = _owner_name(conn, token_id)
            audit_log.append(
                conn, "token_found", token_id, now, user=user, backup_codes_revoked=revoked
            )
        return {"token": token_id, "user": user, "enabled": True, "backup_codes_revoked": revoked}

    def activate_spare(self, token_id: str) -> dict[str, Any]:
        """Make a user's spare token its primary one, and enable it (a spare kept at the
        helpdesk may be disabled until it is handed out); never a spare reported lost, which
        whoever found it holds. The user's backup codes are revoked: they stood in for a token
        until it was found or replaced, and a list of them on paper must not outlive that.
        Returns the token, its user, its role, and how many backup codes were still usable."""
        now = time.time()
        with self._store.write() as conn:
            store.get_token(conn, token_id)
            owner = store.token_owner(conn, token_id)
            if owner is None or owner.role != SPARE:
                raise LifecycleConflict(f"token {token_id!r} is not a user's spare token")
            user = str(UserName(owner.name, owner.realm))
            if not owner.active:
                raise LifecycleConflict(f"user {user!r} is deactivated; reactivate it first")
            refuse_lost(conn, token_id, "activated")
            store.set_token_role(conn, token_id, PRIMARY)
            store.update_token(conn, token_id, enabled=True)
            revoked = store.revoke_backup_codes(conn, owner.id, now)
            audit_log.append(
                conn, "spare_activate", token_id, now, user=user, backup_codes_revoked=revoked
            )
        return {
            "token": token_id,
            "user": user,
            "role": PRIMARY,
            "enabled": True,
            "backup_codes_revoked": revoked,
        }

    def reactivate(self, user: UserName, *, keep_tokens: bool = False) -> dict[str, Any]:
        """Let a deactivated user validate again. Its tokens are unassigned unless
        `keep_tokens` (then they stay, said in the audit row): a returning account must not
        silently inherit them. A directory user must be in its directory; an account that was
        re-created there (a new entry id) is bound to the new entry and never keeps the old
        one's tokens. Returns the user, the tokens kept and the tokens unassigned."""
        if not isinstance(keep_tokens, bool):
            raise InvalidRequest("keep_tokens must be true or false")
        account, directory = None, self._realms.directory(user.realm)
        if directory is not None:
            # Asked afresh, never a cached answer: an account deleted since the cache took it
            # must not come back (DirectoryError: the directory cannot answer).
            account = directory.lookup_now(user)
            if account is None or not account.active:
                raise UnknownUser(
                    f"the directory of realm {user.realm!r} has no active user {user.name!r}"
                )
        now = time.time()
        with self._store.write() as conn:
            row = store.get_user(conn, user.realm, user.name)
            if row is None:
                raise UnknownUser(f"no user {str(user)!r}")
            if row.active:
                raise LifecycleConflict(f"user {str(user)!r} is active")
            entry = store.directory_entry(conn, row.id)
            replaced = account is not None and entry is not None and account.directory_id != entry
            if replaced and keep_tokens:
                raise LifecycleConflict(
                    f"user {str(user)!r} is a new account in its directory (a new entry id): "
                    "the old account's tokens cannot be kept"
                )
            if replaced:
                assert account is not None
                store.rebind_directory_entry(conn, row.id, account.directory_id)
            tokens = [token.id for token in store.user_tokens(conn, row.id)]
            if not keep_tokens:
                for token_id in tokens:
                    store.unassign_token(conn, token_id)
            store.revoke_backup_codes(conn, row.id, now)
            store.reactivate_user(conn, row.id)
            audit_log.append(
                conn,
                "user_reactivate",
                None,
                now,
                user=str(user),
                tokens_kept=tokens if keep_tokens else [],
                tokens_unassigned=[] if keep_tokens else tokens,
                directory_entry_replaced=replaced,
            )
        return {
            "user": str(user),
            "tokens_kept": tokens if keep_tokens else [],
            "tokens_unassigned": [] if keep_tokens else tokens,
        }
