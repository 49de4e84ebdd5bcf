"""Bulk import and migration (docs/users.md, "Bulk import"): enrol the tokens of a file, add the
users it names and give each token to its user, all in one write transaction, so a file is
imported whole or not at all. A dry run applies every rule against the store as it is now, in
a read transaction, and says what an import would change without changing anything.

The files are read by verifier/import_formats.py; the rules of a token are tokens.new_token's
(core/limits.py, core/identity.py), of a user name verifier/user_names.py's. A refusal names
the line (or the PSKC key) and is a BulkImportError; nothing in it is a secret.

Speed: a file of 10,000 tokens is a few statements per 500 rows (store.py's bulk functions),
one AES-GCM seal per secret and one executemany of audit rows (audit.append_many).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.engine import Drift
from baoling.verifier.errors import BulkImportError, InvalidRequest
from baoling.verifier.events import TokenAssigned
from baoling.verifier.import_formats import ImportLine
from baoling.verifier.outbox import Outbox
from baoling.verifier.resolvers import Account, RealmResolvers
from baoling.verifier.tokens import TokenAdmin, kind_columns, new_token
from baoling.verifier.user_names import UserName

# An import assigns without a code from each token: the audit says so, as `assign` does.
_NOT_CHECKED = {"possession": "not checked"}


@dataclass(frozen=True)
class _Token:
    """A line's token, checked, with its user (None: enrolled without one)."""

    where: str
    columns: dict[str, Any]
    user: UserName | None
    role: str


class BulkImport:
    """Imports into one store."""

    def __init__(
        self,
        db: store.Store,
        tokens: TokenAdmin,
        realms: RealmResolvers,
        parse_user: Callable[[str], UserName],
        outbox: Outbox,
    ) -> None:
        self._store, self._tokens, self._realms = db, tokens, realms
        self._parse_user, self._outbox = parse_user, outbox

    def run(self, lines: list[ImportLine], *, source: str, dry_run: bool) -> dict[str, Any]:
        """Import `lines` (or, with `dry_run`, only say what that would change): the tokens
        enrolled, each with its user and role, and the users added."""
        if not lines:
            raise BulkImportError("the file holds no tokens")
        checked = [self._check(line) for line in lines]
        _refuse_repeats(checked)
        with self._store.read() as conn:
            known = _known_users(conn)
        accounts = self._directory_accounts(checked, known)
        now = time.time()
        if dry_run:
            with self._store.read() as conn:
                added, _ = self._plan(conn, checked)
        else:
            with self._store.write() as conn:
                added, user_ids = self._plan(conn, checked)
                self._apply(conn, checked, added, user_ids, accounts, source, now)
        return {
            "dry_run": dry_run,
            "tokens": [
                {
                    "token": token.columns["id"],
                    "user": None if token.user is None else str(token.user),
                    "role": None if token.user is None else token.role,
                }
                for token in checked
            ],
            "users_added": [str(user) for user in added],
        }

    def _check(self, line: ImportLine) -> _Token:
        """The token's columns by tokens.new_token's rules, and its user's name."""
        try:
            columns = new_token(
                line.token_id,
                line.secret,
                line.algorithm,
                line.digits,
                line.period_s,
                line.issuer,
                line.label,
            ) | kind_columns(line.kind, line.counter)
            user = self._parse_user(line.user) if line.user else None
        except InvalidRequest as exc:
            raise BulkImportError(f"{line.where}: {exc}") from None
        drift = Drift(offset_s=line.clock_offset_s)
        return _Token(line.where, columns | {"drift": drift}, user, line.role)

    def _directory_accounts(
        self, checked: list[_Token], known: dict[UserName, Any]
    ) -> dict[UserName, Account]:
        """The directory entries of the users in directory realms that the store does not hold
        yet, looked up before the transaction (a slow directory must not hold the writer);
        BulkImportError for a name the directory does not have, DirectoryError when it cannot
        say."""
        accounts: dict[UserName, Account] = {}
        for token in checked:
            user = token.user
            if user is None or user in known or user in accounts:
                continue
            resolver = self._realms.for_realm(user.realm)
            if resolver.name == self._realms.local.name:
                continue
            account = resolver.lookup(user)
            if account is None:
                raise BulkImportError(
                    f"{token.where}: the directory of realm {user.realm!r} has no user "
                    f"{user.name!r}"
                )
            accounts[user] = account
        return accounts

    def _plan(
        self, conn: Connection, checked: list[_Token]
    ) -> tuple[list[UserName], dict[UserName, int]]:
        """Check the tokens against the store (ids free, users active); returns the users to
        add, in the order the file first names them, and the ids of those it holds."""
        ids = [token.columns["id"] for token in checked]
        taken = store.enrolled_token_ids(conn, ids)
        known = _known_users(conn)
        added: list[UserName] = []
        for token in checked:
            if token.columns["id"] in taken:
                raise BulkImportError(
                    f"{token.where}: token {token.columns['id']!r} is already enrolled"
                )
            user = token.user
            if user is None:
                continue
            row = known.get(user)
            if row is not None and not row.active:
                raise BulkImportError(f"{token.where}: user {str(user)!r} is deactivated")
            if row is None and user not in added:
                added.append(user)
        return added, {user: row.id for user, row in known.items()}

    def _apply(
        self,
        conn: Connection,
        checked: list[_Token],
        added: list[UserName],
        user_ids: dict[UserName, int],
        accounts: dict[UserName, Account],
        source: str,
        now: float,
    ) -> None:
        """Write the plan: tokens, new users (bound to their directory entries), the
        assignments, an audit row for each user added and each token assigned, and the events
        a channel takes (token.enrolled per token, token.assigned per token given a user)."""
        self._tokens.insert(conn, [token.columns for token in checked], source=source, now=now)
        new_rows = []
        for user in added:
            account = accounts.get(user)
            new_rows.append(
                {
                    "realm": user.realm,
                    "name": user.name,
                    "resolver": self._realms.for_realm(user.realm).name,
                    "display_name": "" if account is None else account.display_name,
                    "email": "" if account is None else account.email,
                    "phone": "" if account is None else account.phone,
                    "active": True,
                    "created": now,
                    "deactivated": None,
                }
            )
        new_ids = store.insert_users(conn, new_rows)
        user_ids = user_ids | {UserName(name, realm): id_ for (realm, name), id_ in new_ids.items()}
        store.bind_directory_entries(
            conn,
            [
                {"user_id": user_ids[user], "entry_id": account.directory_id}
                for user, account in accounts.items()
                if user in added
            ],
        )
        owned = [(token, token.user) for token in checked if token.user is not None]
        store.assign_tokens(
            conn,
            [
                {
                    "token_id": token.columns["id"],
                    "user_id": user_ids[user],
                    "role": token.role,
                    "assigned": now,
                }
                for token, user in owned
            ],
        )
        audit_rows: list[tuple[str, str | None, dict[str, object]]] = [
            ("user_add", None, {"user": str(user), "source": source}) for user in added
        ]
        audit_rows += [
            (
                "assign",
                token.columns["id"],
                {"user": str(user), "role": token.role, "source": source, **_NOT_CHECKED},
            )
            for token, user in owned
        ]
        audit_log.append_many(conn, audit_rows, now)
        for token, user in owned:
            assigned = TokenAssigned(token=token.columns["id"], user=str(user), role=token.role)
            self._outbox.emit(conn, assigned, now, user)


def _known_users(conn: Connection) -> dict[UserName, Any]:
    """Every user row of the store, by name."""
    return {UserName(row.name, row.realm): row for row in store.list_users(conn)}


def _refuse_repeats(checked: list[_Token]) -> None:
    """A token id given twice is a mistake in the file, whichever line is right."""
    first: dict[str, str] = {}
    for token in checked:
        token_id = token.columns["id"]
        if token_id in first:
            raise BulkImportError(
                f"{token.where}: token {token_id!r} is given again (first at {first[token_id]})"
            )
        first[token_id] = token.where
