"""The LDAP / Active Directory resolver (docs/users.md, "LDAP and Active Directory"): who a name
is in a realm whose users a directory holds, looked up at every validation (or kept for
`cache_seconds` once found, verifier/resolution_cache.py), so a user removed from the directory
is refused at once (or within that time).

A pool of up to `pool_size` connections bound as the service account, each used by one lookup
at a time: a lookup is one short search, and binding again for each would double its round
trips and the directory's work. The pool is ours, not one of ldap3's pooled strategies, which
keep connections alive behind the caller's back: here a connection is opened when a lookup
needs one and none is idle, and closed when it fails. A connection the directory closed while
idle is opened again once; if that fails too, or the directory cannot be reached, refuses the
bind or gives no single answer, the lookup raises DirectoryError, which a validation turns
into a rejection with the reason in the audit trail (verifier/validation.py).

The name enters the search filter only through ldap3's escape_filter_chars, even though
verifier/user_names.py has already refused every filter metacharacter.
"""

import contextlib
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ldap3 import (
    FIRST,
    NONE,
    SUBTREE,
    Connection,
    Server,
    ServerPool,
    Tls,
)
from ldap3.core.exceptions import (
    LDAPException,
    LDAPInvalidCredentialsResult,
    LDAPOperationResult,
    LDAPSizeLimitExceededResult,
)
from ldap3.utils.config import set_config_parameter
from ldap3.utils.conv import escape_filter_chars

from baoling.verifier import ldap_config
from baoling.verifier.errors import DirectoryError
from baoling.verifier.ldap_config import DirectorySettings
from baoling.verifier.resolution_cache import ResolutionCache
from baoling.verifier.resolvers import Account
from baoling.verifier.user_names import UserName

# ldap3's server pool sleeps this long after each round of trying its servers, the last round
# too: 10 s by default, so a directory that refuses connections held every validation for 10 s
# before it failed. Each pool here tries its servers one round only (ServerPool(active=1)), so
# nothing is gained by the wait: fail at once, and let timeout_seconds bound each connection.
set_config_parameter("POOLING_LOOP_TIMEOUT", 0)

T = TypeVar("T")
# The users table's text columns hold at most this many characters.
MAX_ATTRIBUTE_CHARS = 256


def _text(values: list[bytes]) -> str:
    """An attribute's first value as text ("" when absent), cut to what the store holds."""
    return values[0].decode("utf-8", "replace")[:MAX_ATTRIBUTE_CHARS] if values else ""


def _values(raw: dict[str, list[bytes]], attribute: str) -> list[bytes]:
    """An attribute's values from an entry whose attribute names are in lower case."""
    return list(raw.get(attribute.lower(), []))


def _entry_id(values: list[bytes]) -> str:
    """The entry's lasting id: entryUUID is text; Active Directory's objectGUID is 16 bytes,
    kept as hex."""
    if not values:
        return ""
    try:
        text = values[0].decode("ascii")
    except UnicodeDecodeError:
        return values[0].hex()
    return text if text.isprintable() else values[0].hex()


class LdapResolver:
    """The users of one realm, from its directory."""

    name = "ldap"

    def __init__(self, realm: str, settings: DirectorySettings) -> None:
        self.realm, self._settings = realm, settings
        self.binds_passwords = settings.first_factor == "ldap_bind"
        self._password = settings.bind_password()  # SettingsError now, not at the first login
        # The pool: bound connections not in use, and a slot for each that may exist.
        self._idle: list[Connection] = []
        self._idle_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        self.cache = ResolutionCache(settings.cache_seconds)
        self._tls = Tls(
            validate=ssl.CERT_REQUIRED if settings.tls_verify else ssl.CERT_NONE,
            ca_certs_file=None if settings.ca_file is None else str(settings.ca_file),
        )

    def _server_pool(self) -> ServerPool:
        """The directory's servers for one new connection, each tried in turn once: never loop
        waiting for one to come back (ldap3 takes a count of rounds; its stubs say bool).

        A pool and its servers per connection, never shared: ldap3's ServerPool keeps an entry,
        holding the connection, for every connection it serves, so a shared one would keep
        every failed attempt for as long as the directory is down; and a Server holds the
        address its last connection opened, which a connection closing in another thread
        would reset under one being opened."""
        settings = self._settings
        servers = [
            Server(
                url,
                use_ssl=settings.tls == "ldaps",
                tls=self._tls,
                get_info=NONE,
                connect_timeout=settings.timeout_seconds,
            )
            for url in settings.urls
        ]
        return ServerPool(servers, FIRST, active=1, exhaust=False)  # type: ignore[arg-type]

    def has_realm(self, realm: str) -> bool:
        return realm == self.realm

    def lookup(self, user: UserName) -> Account | None:
        """The directory's entry for `user` (kept for cache_seconds once found:
        verifier/resolution_cache.py), or None when it has none; DirectoryError when the
        directory cannot say."""
        account = self.cache.get(user)
        return account if account is not None else self.lookup_now(user)

    def lookup_now(self, user: UserName) -> Account | None:
        """As `lookup`, asking the directory whatever the cache holds, and keeping its
        answer."""
        found = self._retrying(lambda conn: self._entry(conn, user))
        if found is None:
            self.cache.forget(user)
            return None
        account = self._account(user, *found)
        self.cache.put(account)
        return account

    def check_password(self, user: UserName, password: str) -> bool:
        """Whether the directory takes `password` for `user`: a simple bind as the user's entry
        on a connection of its own (the service connection stays bound as the service). An
        empty password is refused without asking: a bind with a DN and no password is an
        unauthenticated bind, which many directories accept (RFC 4513 section 5.1.2). A name
        the directory does not hold is refused like a wrong password; DirectoryError when the
        directory cannot say."""
        if not password:
            return False
        found = self._retrying(lambda conn: self._entry(conn, user))
        if found is None:
            return False
        conn = self._open(found[0], password)
        try:
            return bool(conn.bind())
        except LDAPInvalidCredentialsResult:
            return False
        except (LDAPException, OSError) as exc:
            raise DirectoryError(self._explain(exc)) from None
        finally:
            with contextlib.suppress(LDAPException):
                conn.unbind()

    def _retrying(self, ask: Callable[[Connection], T]) -> T:
        """`ask` on a bound connection of the pool; once more on a fresh connection when a
        reused one fails, as the directory may have dropped idle connections (then all of them
        are closed: a restarted directory dropped every one)."""
        for attempt in (1, 2):
            conn, reused = self._take()
            try:
                result = ask(conn)
            except LDAPException as exc:
                self._drop(conn)
                if reused and attempt == 1:
                    self.close_connection()
                    continue
                raise DirectoryError(self._explain(exc)) from None
            except DirectoryError:
                self._give_back(conn)  # the directory answered; its answer was refused
                raise
            except BaseException:
                self._drop(conn)
                raise
            self._give_back(conn)
            return result
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _take(self) -> tuple[Connection, bool]:
        """An idle bound connection (reused: True), or a new one while the pool has room;
        waits up to timeout_seconds for one to come back."""
        timeout = self._settings.timeout_seconds
        if not self._slots.acquire(timeout=timeout):
            raise DirectoryError(
                f"realm {self.realm!r}: all {self._settings.pool_size} directory connections "
                f"stayed busy for {timeout} s (raise pool_size)"
            )
        with self._idle_lock:
            conn = self._idle.pop() if self._idle else None
        if conn is not None:
            return conn, True
        try:
            return self._bound(), False
        except BaseException:
            self._slots.release()
            raise

    def _give_back(self, conn: Connection) -> None:
        with self._idle_lock:
            self._idle.append(conn)
        self._slots.release()

    def _drop(self, conn: Connection) -> None:
        """Close a connection that failed and free its slot."""
        with contextlib.suppress(LDAPException, OSError):  # a broken one holds nothing there
            conn.unbind()
        self._slots.release()

    def close_connection(self) -> None:
        """Close the idle connections (those in use are closed when they come back broken, or
        kept)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(LDAPException, OSError):
                conn.unbind()

    def _open(self, dn: str, password: str) -> Connection:
        """A connection to the first server that answers, with StartTLS done if configured,
        not yet bound (as `dn` with `password` when bound)."""
        conn = Connection(
            self._server_pool(),
            user=dn,
            password=password,
            receive_timeout=self._settings.timeout_seconds,
            read_only=True,
            raise_exceptions=True,
        )
        where, urls = f"realm {self.realm!r}", ", ".join(self._settings.urls)
        try:
            conn.open()
        except (LDAPException, OSError) as exc:
            raise DirectoryError(f"{where}: cannot reach the directory at {urls}: {exc}") from None
        try:
            if self._settings.tls == "starttls":
                conn.start_tls()
        except (LDAPException, OSError) as exc:
            with contextlib.suppress(LDAPException):
                conn.unbind()
            raise DirectoryError(f"{where}: StartTLS with {urls} failed: {exc}") from None
        return conn

    def _bound(self) -> Connection:
        """A new connection bound as bind_dn, opened step by step so that a failure says which
        step."""
        conn = self._open(self._settings.bind_dn, self._password)
        where = f"realm {self.realm!r}"
        try:
            bound = conn.bind()
        except LDAPOperationResult:  # the directory answered: no
            bound = False
        except (LDAPException, OSError) as exc:  # it did not answer (in timeout_seconds)
            with contextlib.suppress(LDAPException):
                conn.unbind()
            raise DirectoryError(self._explain(exc)) from None
        if not bound:
            with contextlib.suppress(LDAPException):
                conn.unbind()
            raise DirectoryError(
                f"{where}: the directory refused the bind as {self._settings.bind_dn!r} "
                "(wrong bind DN or password, or the account is locked)"
            )
        return conn

    def _entry(self, conn: Connection, user: UserName) -> tuple[str, dict[str, list[bytes]]] | None:
        """The DN and raw attributes (names in lower case) of `user`'s entry; None when the
        directory has none."""
        attributes = self._settings.attributes
        search = (
            f"(&{self._settings.user_filter}({attributes.login}={escape_filter_chars(user.name)}))"
        )
        wanted = [
            attributes.login,
            attributes.display_name,
            attributes.email,
            attributes.phone,
            attributes.id,
        ]
        conn.search(self._settings.base_dn, search, SUBTREE, attributes=wanted, size_limit=2)
        entries = [found for found in conn.response or [] if found.get("type") == "searchResEntry"]
        if len(entries) > 1:
            raise DirectoryError(f"realm {self.realm!r}: {len(entries)} entries match {search}")
        if not entries:
            return None
        raw = {name.lower(): values for name, values in entries[0]["raw_attributes"].items()}
        # The login attribute matches without regard to case; Baoling's names do not
        # (docs/users.md), so `Alice` is not alice's entry.
        if user.name.encode() not in _values(raw, attributes.login):
            return None
        return entries[0]["dn"], raw

    def _account(self, user: UserName, dn: str, raw: dict[str, list[bytes]]) -> Account:
        attributes = self._settings.attributes
        directory_id = _entry_id(_values(raw, attributes.id))
        if not directory_id:
            raise DirectoryError(f"realm {self.realm!r}: {dn} has no {attributes.id} attribute")
        return Account(
            user,
            True,
            _text(_values(raw, attributes.display_name)),
            _text(_values(raw, attributes.email)),
            _text(_values(raw, attributes.phone)),
            directory_id,
        )

    def _explain(self, exc: LDAPException | OSError) -> str:
        """What went wrong with a search, for the administrator: never the password."""
        where, urls = f"realm {self.realm!r}", ", ".join(self._settings.urls)
        if isinstance(exc, LDAPSizeLimitExceededResult):
            return f"{where}: more than one directory entry has the name"
        return f"{where}: the directory at {urls} did not answer: {type(exc).__name__}: {exc}"


def open_directories(config: Path | None) -> dict[str, LdapResolver]:
    """A resolver for each realm of the ldap_config file (none without one); SettingsError for a
    wrong file or an unreadable bind password."""
    if config is None:
        return {}
    return {realm: LdapResolver(realm, found) for realm, found in ldap_config.load(config).items()}
