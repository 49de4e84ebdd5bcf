"""Resolvers answer "who is this name, is the account active, what are its attributes" for the
users of a realm (docs/users.md). A resolver is an interface with small implementations: the
local user table in the store (`LocalResolver`) and a directory (verifier/ldap_resolver.py);
`RealmResolvers` picks each realm's.

A name reaches a resolver only after verifier/user_names.py has checked it, so no resolver sees
a control character or an LDAP filter metacharacter.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from baoling.verifier import store
from baoling.verifier.user_names import UserName


@dataclass(frozen=True)
class Account:
    """What a resolver knows of a user."""

    user: UserName
    active: bool
    display_name: str
    email: str
    phone: str
    # A directory entry's lasting id (entryUUID, objectGUID); "" for a local user.
    directory_id: str = ""


# Why a directory user's row no longer matches its directory (docs/users.md): the entry is gone,
# or an entry of that name now has another lasting id (the account was re-created).
GONE_FROM_DIRECTORY = "gone_from_directory"
ENTRY_REPLACED = "directory_entry_replaced"


def lost_entry(bound_to: str | None, account: Account | None) -> str | None:
    """Why a user row bound to the directory entry `bound_to` (None: a local user) has lost it,
    given what the directory says now; None while it still has it."""
    if bound_to is None or (account is not None and account.directory_id == bound_to):
        return None
    return GONE_FROM_DIRECTORY if account is None else ENTRY_REPLACED


class Resolver(Protocol):
    """Who a name is, and which realms a resolver answers for."""

    name: str

    def has_realm(self, realm: str) -> bool:
        """True when this resolver answers for `realm`."""
        ...

    def lookup(self, user: UserName) -> Account | None:
        """The account of `user`, or None when there is none."""
        ...


class LocalResolver:
    """The users table of the store: a realm exists when it is the default realm or holds a
    user; an account is active until it is deactivated."""

    name = "local"

    def __init__(self, db: store.Store, default_realm: str) -> None:
        self._store, self.default_realm = db, default_realm

    def has_realm(self, realm: str) -> bool:
        if realm == self.default_realm:
            return True
        with self._store.lookup() as conn:
            return store.realm_has_users(conn, realm)

    def lookup(self, user: UserName) -> Account | None:
        with self._store.lookup() as conn:
            row = store.get_user(conn, user.realm, user.name)
        if row is None or row.resolver != self.name:
            return None
        return Account(user, row.active, row.display_name, row.email, row.phone)


class Directory(Resolver, Protocol):
    """A resolver that holds a connection to release, and may check its users' passwords."""

    binds_passwords: bool  # its users' first factor is their directory password

    def close_connection(self) -> None: ...

    def lookup_now(self, user: UserName) -> Account | None:
        """As `lookup`, asking the directory itself, never a cache."""
        ...

    def check_password(self, user: UserName, password: str) -> bool:
        """Whether the directory takes `password` for `user`."""
        ...


class RealmResolvers:
    """Each realm's resolver: its directory's where the ldap_config file names one, else the
    local users. Itself a Resolver, so a validation asks it as it would ask one."""

    name = "realms"

    def __init__(self, local: LocalResolver, directories: Mapping[str, Directory]) -> None:
        self.local, self._directories = local, dict(directories)

    def for_realm(self, realm: str) -> Resolver:
        return self._directories.get(realm, self.local)

    def directory(self, realm: str) -> Directory | None:
        """The realm's directory; None for a realm of local users."""
        return self._directories.get(realm)

    def has_realm(self, realm: str) -> bool:
        return self.for_realm(realm).has_realm(realm)

    def lookup(self, user: UserName) -> Account | None:
        return self.for_realm(user.realm).lookup(user)

    def password_directory(self, realm: str) -> Directory | None:
        """The realm's directory when its users' first factor is their directory password."""
        directory = self._directories.get(realm)
        return directory if directory is not None and directory.binds_passwords else None

    def close(self) -> None:
        for directory in self._directories.values():
            directory.close_connection()
