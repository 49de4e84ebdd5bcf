"""User administration (docs/users.md): add a local user, list, show, deactivate, and assign
tokens to users or take them back. Each change is one write transaction with its audit row,
which names the user and the token, never an attribute such as an e-mail address.

Users are deactivated, never deleted: their tokens stay assigned and every validation for them
is rejected, so a re-created account neither inherits nor silently loses tokens.
"""

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection, Row

from baoling.verifier import audit as audit_log
from baoling.verifier import store
from baoling.verifier.engine import Decision
from baoling.verifier.errors import (
    AssignmentConflict,
    InvalidRequest,
    PossessionNotProven,
    UnknownUser,
    UserExists,
)
from baoling.verifier.events import TokenAssigned
from baoling.verifier.inputs import check_text, mail_address
from baoling.verifier.logins import LOGIN_ROUNDS
from baoling.verifier.outbox import Outbox
from baoling.verifier.resolvers import Account, LocalResolver, RealmResolvers
from baoling.verifier.user_names import UserName, parse_user_name

PRIMARY, SPARE = "primary", "spare"
ROLES = (PRIMARY, SPARE)
# Checks a code from a token in the caller's write transaction (Validation.prove).
Prove = Callable[[Connection, str, str, float], Decision]


def _name(row: Row[Any]) -> UserName:
    return UserName(row.name, row.realm)


def _info(row: Row[Any], token_rows: list[Row[Any]]) -> dict[str, Any]:
    """What an administrator sees of a user: its attributes, state and tokens."""
    return {
        "user": str(_name(row)),
        "name": row.name,
        "realm": row.realm,
        "resolver": row.resolver,
        "display_name": row.display_name,
        "email": row.email,
        "phone": row.phone,
        "active": row.active,
        "created": row.created,
        "deactivated": row.deactivated,
        "notify_accepted": row.notify_accepted,
        "login_rounds": row.login_rounds,
        "tokens": [{"token": token.id, "role": token.role} for token in token_rows],
    }


class UserAdmin:
    """The users of one store, and which tokens they hold."""

    def __init__(
        self,
        db: store.Store,
        resolver: LocalResolver,
        realms: RealmResolvers,
        prove: Prove,
        outbox: Outbox,
    ) -> None:
        self._store, self._resolver, self._realms, self._prove = db, resolver, realms, prove
        self._outbox = outbox

    def parse(self, user: str) -> UserName:
        """`user` checked and split (verifier/user_names.py), in the default realm if it has
        none."""
        return parse_user_name(user, self._resolver.default_realm)

    def _row(self, conn: Connection, user: UserName) -> Row[Any]:
        row = store.get_user(conn, user.realm, user.name)
        if row is None:
            raise UnknownUser(f"no user {str(user)!r}")
        return row

    def add(
        self, user: str, *, display_name: str = "", email: str = "", phone: str = ""
    ) -> dict[str, Any]:
        """Add a local user (active), or a user of a realm a directory holds: its attributes
        are then the directory's, and the row is bound to its entry (docs/users.md)."""
        name = self.parse(user)
        for field, value in (("display_name", display_name), ("email", email), ("phone", phone)):
            check_text(field, value)
        if email:  # alerts go to it (docs/events.md): one address, or none
            try:
                mail_address(email)
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
        resolver, entry = self._realms.for_realm(name.realm), None
        if resolver.name != self._resolver.name:
            entry = self._directory_entry(resolver.lookup(name), name, display_name, email, phone)
            display_name, email, phone = entry.display_name, entry.email, entry.phone
        now = time.time()
        with self._store.write() as conn:
            if store.get_user(conn, name.realm, name.name) is not None:
                raise UserExists(f"user {str(name)!r} already exists")
            store.insert_user(
                conn,
                realm=name.realm,
                name=name.name,
                resolver=resolver.name,
                display_name=display_name,
                email=email,
                phone=phone,
                active=True,
                created=now,
                deactivated=None,
            )
            row = self._row(conn, name)
            if entry is not None:
                store.bind_directory_entry(conn, row.id, entry.directory_id)
            audit_log.append(conn, "user_add", None, now, user=str(name))
            return _info(row, [])

    @staticmethod
    def _directory_entry(found: Account | None, name: UserName, *given: str) -> Account:
        """The directory's entry for a user being added; its attributes are the directory's
        own, so none may be given."""
        if any(given):
            raise InvalidRequest(f"the attributes of {str(name)!r} come from its directory")
        if found is None:
            raise UnknownUser(f"the directory of realm {name.realm!r} has no user {name.name!r}")
        return found

    def list_users(self) -> list[dict[str, Any]]:
        with self._store.read() as conn:
            return [_info(row, store.user_tokens(conn, row.id)) for row in store.list_users(conn)]

    def show(self, user: str) -> dict[str, Any]:
        name = self.parse(user)
        with self._store.read() as conn:
            row = self._row(conn, name)
            return _info(row, store.user_tokens(conn, row.id))

    def set_notify_accepted(self, user: str, on: bool) -> dict[str, Any]:
        """Tell the user of every accepted code of their tokens (validation.accepted through
        the subscriptions that message users, docs/events.md), or stop; audited."""
        name = self.parse(user)
        now = time.time()
        with self._store.write() as conn:
            row = self._row(conn, name)
            store.set_notify_accepted(conn, row.id, on)
            state = "on" if on else "off"
            audit_log.append(conn, "user_notify_accepted", None, now, user=str(name), state=state)
            row = self._row(conn, name)
            return _info(row, store.user_tokens(conn, row.id))

    def set_login_rounds(self, user: str, rounds: str) -> dict[str, Any]:
        """How the user logs in at RADIUS (verifier/logins.py, LOGIN_ROUNDS); audited."""
        if rounds not in LOGIN_ROUNDS:
            raise InvalidRequest(
                f"login rounds must be one of {', '.join(LOGIN_ROUNDS)}, not {rounds!r}"
            )
        name = self.parse(user)
        now = time.time()
        with self._store.write() as conn:
            row = self._row(conn, name)
            if row.login_rounds != rounds:
                store.set_login_rounds(conn, row.id, rounds)
                audit_log.append(
                    conn, "user_login_rounds", None, now, user=str(name), rounds=rounds
                )
                row = self._row(conn, name)
            return _info(row, store.user_tokens(conn, row.id))

    def deactivate(self, user: str) -> dict[str, Any]:
        """Refuse every validation for the user from now on; its tokens stay assigned. A user
        already deactivated is left as it is."""
        name = self.parse(user)
        now = time.time()
        with self._store.write() as conn:
            row = self._row(conn, name)
            if row.active:
                store.deactivate_user(conn, row.id, now)
                audit_log.append(conn, "user_deactivate", None, now, user=str(name))
                row = self._row(conn, name)
            return _info(row, store.user_tokens(conn, row.id))

    def assign(
        self,
        token_id: str,
        user: str,
        role: str = PRIMARY,
        *,
        code: str | None = None,
        override: bool = False,
    ) -> dict[str, Any]:
        """Give the token to an active user, as its primary or spare token, on proof of
        possession: `code` must be a valid code from the token now, checked by the same engine
        as a validation (so it is used up, and a wrong one counts as a failure). `override`
        skips the proof; the audit row says so, and who did it (docs/users.md)."""
        name = self.parse(user)
        if role not in ROLES:
            raise InvalidRequest(f"role must be {' or '.join(ROLES)}")
        if not isinstance(override, bool):
            raise InvalidRequest("override must be true or false")
        if override and code is not None:  # a code given would go unchecked: say so
            raise InvalidRequest("give a code from the token or the override, not both")
        now = time.time()
        proof: Decision | None = None
        with self._store.write() as conn:
            store.get_token(conn, token_id)  # UnknownToken when there is none
            row = self._row(conn, name)
            if not row.active:
                raise AssignmentConflict(f"user {str(name)!r} is deactivated")
            owner = store.token_owner(conn, token_id)
            if owner is not None:
                raise AssignmentConflict(
                    f"token {token_id!r} is already assigned to {str(_name(owner))!r}; "
                    "unassign it first"
                )
            if code is None and not override:
                raise PossessionNotProven(
                    f"assigning token {token_id!r} needs a code from it (proof of possession), "
                    "or the administrator's override"
                )
            if not override:
                assert code is not None
                proof = self._prove(conn, token_id, code, now)  # committed even when refused
            if proof is None or proof.accepted:
                store.assign_token(conn, token_id, row.id, role, now)
                assigned = TokenAssigned(token=token_id, user=str(name), role=role)
                self._outbox.emit(conn, assigned, now)
                possession = "overridden" if override else "proven"
                audit_log.append(
                    conn, "assign", token_id, now, user=str(name), role=role, possession=possession
                )
                return _info(row, store.user_tokens(conn, row.id))
        assert proof is not None  # no proof asked: assigned above
        raise PossessionNotProven(
            f"token {token_id!r} refused the code ({proof.reason}); nothing was assigned"
        )

    def unassign(self, token_id: str) -> None:
        """Take the token from its user (the token itself stays enrolled)."""
        now = time.time()
        with self._store.write() as conn:
            store.get_token(conn, token_id)
            owner = store.token_owner(conn, token_id)
            if owner is None:
                raise AssignmentConflict(f"token {token_id!r} is not assigned to a user")
            store.unassign_token(conn, token_id)
            audit_log.append(conn, "unassign", token_id, now, user=str(_name(owner)))
