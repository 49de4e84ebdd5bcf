"""The verifier's database: one schema on SQLite (embedded, WAL) and PostgreSQL (several nodes).

SQLAlchemy Core, no ORM. Three rules keep several threads and several nodes honest:

- accepting a code is one conditional UPDATE that only succeeds while the stored last step is
  older than the accepted one, and a failure is one UPDATE that increments the counter in SQL,
  so no read-modify-write window exists and validations need no lock beyond their token's row
  (`Store.concurrent_write`): validations of different tokens never wait for each other;
- administration that reads, checks, then writes (enrolling, rotating the key) runs in
  `Store.write`, serialised with every other `write` (SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
  an advisory lock held until commit);
- audit rows are appended without a lock and chained shortly after by one sealer at a time
  (verifier/audit.py).

Every commit is on disk before it returns, a validation's too: an accept, a failure count or
a lock that the caller has heard of survives a crash of any process and a power cut.

The schema is versioned: `schema_version` holds the version and `MIGRATIONS` lists the steps
from an empty database to the newest one, applied in order in one transaction. Who may apply
them to a database in use is `Store.prepare`'s rule.
"""

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, Row

from baoling.core.urls import shown_url
from baoling.verifier.commit_deadline import DEFAULT_COMMIT_TIMEOUT_S, CommitDeadlines
from baoling.verifier.errors import InvalidRequest, StoreError, UnknownToken
from baoling.verifier.group_commit import GroupCommit
from baoling.verifier.options import DEFAULT_STORE_MAX_OVERFLOW, DEFAULT_STORE_POOL_SIZE
from baoling.verifier.prepared import Prepared

log = logging.getLogger(__name__)
T = TypeVar("T")

# tokens.kind values.
TOTP, HOTP = "totp", "hotp"

metadata = sa.MetaData()

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    # nonce || AES-GCM ciphertext || tag (verifier/crypto.py); never the plain secret.
    sa.Column("secret", sa.LargeBinary, nullable=False),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("digits", sa.Integer, nullable=False),
    sa.Column("period_s", sa.Integer, nullable=False),  # 0 for an HOTP token, which has none
    sa.Column("issuer", sa.String(256), nullable=False),
    sa.Column("label", sa.String(256), nullable=False),
    sa.Column("last_step", sa.BigInteger, nullable=True),
    sa.Column("fail_count", sa.Integer, nullable=False),
    sa.Column("locked_until", sa.Double, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("drift", sa.Text, nullable=False),
    sa.Column("created", sa.Double, nullable=False),
    # Added by _hotp_tokens: "totp", or "hotp" for a counter token (RFC 4226), whose next
    # expected counter is `counter` (NULL for TOTP tokens, which use last_step).
    sa.Column("kind", sa.String(8), nullable=False, server_default=TOTP),
    sa.Column("counter", sa.BigInteger, nullable=True),
    # Added by _device_pins: the token asks for a PIN on the device before it shows a code
    # (docs/protocol.md pin.set), so an accept of its code is "pin" too (docs/verifier.md, amr).
    sa.Column("device_pin", sa.Boolean, nullable=False, server_default=sa.false()),
    # Added by _lost_tokens: reported lost and not found since (verifier/lifecycle.py), so
    # only `found` enables it again, never `enable` or `activate-spare` by mistake.
    sa.Column("lost", sa.Boolean, nullable=False, server_default=sa.false()),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    # SHA-256 of the whole key: keys are 256-bit random, so a fast hash cannot be brute-forced.
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.String(255), nullable=False),
    sa.Column("created", sa.Double, nullable=False),
    # Added by _api_key_revocation: when the key was revoked (None: live). The row stays, so
    # its name is never taken again and the audit trail's `by: api-key:<name>` keeps one key.
    sa.Column("revoked", sa.Double, nullable=True),
)

# The audit trail (verifier/audit.py). A row is appended with its `id` and no lock; `seq` (its
# place in the chain), `prev_hash` and `hash` stay NULL until the sealer chains it (the
# _audit_sealed migration; SQLite seals each row in its own transaction).
audit = sa.Table(
    "audit",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("seq", sa.BigInteger, nullable=True, unique=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("token_id", sa.String(128), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=True),
    sa.Column("hash", sa.String(64), nullable=True),
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
)

# Version 2: named values the database keeps about itself (master key fingerprint, audit head).
meta = sa.Table(
    "meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Version 3: users (docs/users.md) and which user each token belongs to. A user is never
# deleted, only deactivated, so a re-created account does not inherit or lose tokens silently.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("realm", sa.String(256), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    # Which resolver answers for the user (verifier/resolvers.py): "local" for now.
    sa.Column("resolver", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String(256), nullable=False),
    sa.Column("email", sa.String(256), nullable=False),
    sa.Column("phone", sa.String(256), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("deactivated", sa.Double, nullable=True),
    # The user asked to hear of every accepted code (validation.accepted, docs/events.md).
    sa.Column("notify_accepted", sa.Boolean, nullable=False, server_default=sa.false()),
    # How the user logs in at a door with a choice (verifier/logins.py, LOGIN_ROUNDS).
    sa.Column("login_rounds", sa.String(16), nullable=False, server_default="client"),
    sa.UniqueConstraint("realm", "name", name="users_realm_name"),
)

# A token has at most one user (the primary key); a user has any number of tokens.
token_owners = sa.Table(
    "token_owners",
    metadata,
    sa.Column("token_id", sa.String(128), sa.ForeignKey(tokens.c.id), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey(users.c.id), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("assigned", sa.Double, nullable=False),
)

# Version 6: the directory entry a directory user's row belongs to (verifier/ldap_resolver.py):
# its lasting id (entryUUID, objectGUID), so a re-created account of the same name, which gets a
# new id, is not taken for the old one and does not inherit its tokens (docs/users.md).
directory_entries = sa.Table(
    "directory_entries",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey(users.c.id), primary_key=True),
    sa.Column("entry_id", sa.String(256), nullable=False),
)

# The _backup_codes migration: one-time backup codes of users whose token is lost
# (verifier/backup_codes.py). Only a slow hash of each code (verifier/slow_hash.py); `slot` is
# the code's first digit, so a code is checked against one hash; `used` is set once, by the
# validation that took the code, in the transaction of its audit row.
backup_codes = sa.Table(
    "backup_codes",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey(users.c.id), primary_key=True),
    sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("code_hash", sa.String(256), nullable=False),
    sa.Column("issued", sa.Double, nullable=False),
    sa.Column("expires", sa.Double, nullable=False),
    sa.Column("used", sa.Double, nullable=True),
)

# Version 5: RADIUS challenges issued and not yet answered (verifier/radius_challenge.py), so
# any node can finish a login another node started. The key is the State's SHA-256, never the
# State; rows leave when presented (once, whoever presents them) or, expired, when the next
# challenge is issued.
radius_challenges = sa.Table(
    "radius_challenges",
    metadata,
    sa.Column("state_key", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(256), nullable=False),
    sa.Column("client", sa.String(256), nullable=False),
    sa.Column("expires", sa.Double, nullable=False, index=True),
)

# The static PIN a user may have (docs/users.md, "PINs"), as verifier/slow_hash.py's salted
# scrypt: a door that carries a password (RADIUS, /validate/check) asks for it before the code.
user_pins = sa.Table(
    "user_pins",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey(users.c.id), primary_key=True),
    sa.Column("pin_hash", sa.String(256), nullable=False),
    sa.Column("set_at", sa.Double, nullable=False),
)

# Console accounts (docs/console.md): who may sign in to the web console, with what role, and
# which Baoling token gives their second factor. The password is a slow hash
# (verifier/slow_hash.py), never the password.
console_accounts = sa.Table(
    "console_accounts",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("token_id", sa.String(128), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created", sa.Double, nullable=False),
)

# Signed-in console sessions, kept server-side so signing out (or an administrator) ends them on
# every node. The key is the cookie's SHA-256, never the cookie.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(64), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("seen", sa.Double, nullable=False),
)

# The _failure_bursts migration: failed codes per token in the current counting window of the
# validation.failed_burst event (verifier/outbox.py). Written only while a channel takes that
# event, in the transaction of the failure it counts.
failure_bursts = sa.Table(
    "failure_bursts",
    metadata,
    sa.Column("token_id", sa.String(128), primary_key=True),
    sa.Column("window_start", sa.Double, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
)

AUDIT_HEAD = "audit_head"
# Where the chain kept in the database starts (`seq:hash` of the last archived row); absent
# until the first archive (docs/operations.md, "Archiving the audit trail").
AUDIT_BASE = "audit_base"
KEY_FINGERPRINT = "key_fingerprint"
GENESIS_HASH = "0" * 64


def _v1(conn: Connection) -> None:
    """Tokens, API keys, the audit chain and the version table."""
    metadata.create_all(conn, tables=[tokens, api_keys, audit, schema_version])


def _v2(conn: Connection) -> None:
    """The meta table: the audit head (so a deleted last row shows) and the key fingerprint
    (so a wrong key fails at start-up). The head starts at the chain's current last row."""
    metadata.create_all(conn, tables=[meta])
    last = conn.execute(
        sa.select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)
    ).first()
    head = f"{last.seq}:{last.hash}" if last else f"0:{GENESIS_HASH}"
    conn.execute(meta.insert().values(name=AUDIT_HEAD, value=head))


def _v3(conn: Connection) -> None:
    """Users and the assignment of tokens to them (docs/users.md)."""
    metadata.create_all(conn, tables=[users, token_owners])


# Version 4: the events outbox (verifier/outbox.py, docs/events.md). A row is written in the
# transaction of the change it reports and stays until delivered or dead; `since` is where its
# maximum age counts from (its creation, or its last replay).
events = sa.Table(
    "events",
    metadata,
    # The order events were written in (SQLite autoincrements only an INTEGER primary key).
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("created", sa.Double, nullable=False),
    # The envelope as delivered (JSON): never a code, secret, PIN or key (verifier/events.py).
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending, delivered or dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("due", sa.Double, nullable=False),
    sa.Column("since", sa.Double, nullable=False),
    # A claim: which node is delivering it, until when (then any node may claim it again).
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.Column("claimed_until", sa.Double, nullable=True),
    sa.Column("last_error", sa.String(512), nullable=True),
    sa.Column("finished", sa.Double, nullable=True),
    # Added by _events_routing: the realm and user of the event's token when it was written
    # (per-realm subscriptions, e-mail and SMS to the user), and the channels' recipients that
    # already took the event (JSON list), so a retry sends only to the others.
    sa.Column("realm", sa.String(256), nullable=True),
    sa.Column("owner", sa.String(256), nullable=True),
    sa.Column("done", sa.Text, nullable=True),
    sa.Index("events_state_due", "state", "due"),
)
_EVENTS_ROUTING = ("realm VARCHAR(256)", "owner VARCHAR(256)", "done TEXT")


def _events_outbox(conn: Connection) -> None:
    """Version 4: the events outbox (verifier/outbox.py)."""
    metadata.create_all(conn, tables=[events])


def _events_routing(conn: Connection) -> None:
    """The events outbox's routing columns (realm, owner, done). Added only where
    missing: a store created at version 4 by this code already has them."""
    have = {column["name"] for column in sa.inspect(conn).get_columns("events")}
    for column in _EVENTS_ROUTING:
        if column.split()[0] not in have:
            conn.execute(sa.text(f"ALTER TABLE events ADD COLUMN {column}"))


def _radius_challenges(conn: Connection) -> None:
    """Version 5: pending RADIUS challenges, shared by nodes (verifier/radius_challenge.py)."""
    metadata.create_all(conn, tables=[radius_challenges])


def _directory_entries(conn: Connection) -> None:
    """Version 6: which directory entry each directory user is (docs/users.md)."""
    metadata.create_all(conn, tables=[directory_entries])


def _user_pins(conn: Connection) -> None:
    """Users' static PINs, hashed (verifier/user_pins.py)."""
    metadata.create_all(conn, tables=[user_pins])


def _hotp_tokens(conn: Connection) -> None:
    """A token's kind and an HOTP token's counter. A store created by this code already has
    the columns (_v1 creates the tokens table as declared above), so they are added only where
    missing."""
    present = {column["name"] for column in sa.inspect(conn).get_columns(tokens.name)}
    if "kind" not in present:
        conn.exec_driver_sql(
            f"ALTER TABLE tokens ADD COLUMN kind VARCHAR(8) NOT NULL DEFAULT '{TOTP}'"
        )
    if "counter" not in present:
        conn.exec_driver_sql("ALTER TABLE tokens ADD COLUMN counter BIGINT")


def _console(conn: Connection) -> None:
    """The web console's accounts and sessions (docs/console.md)."""
    metadata.create_all(conn, tables=[console_accounts, console_sessions])


def _failure_bursts(conn: Connection) -> None:
    """Failure counts of validation.failed_burst (verifier/outbox.py)."""
    metadata.create_all(conn, tables=[failure_bursts])


# Rate limits on validation by user name (verifier/rate_limits.py): one row per key that has
# failed lately (a user from one source address, a user from anywhere, one source address),
# so every node counts the same failures. `user_name` or `source` is "" when the key's kind
# leaves it out. Rows whose count is forgotten leave when failures are next counted.
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("user_name", sa.String(256), primary_key=True),
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure", sa.Double, nullable=False, index=True),
    sa.Column("blocked_until", sa.Double, nullable=True),
)

# Failed console sign-ins (docs/console.md), one row per failure and key (an account name or a
# client address, verifier/console/security.py), so the sign-in limit holds across nodes and
# restarts; rows older than the limit's window are deleted as new ones come.
console_sign_in_failures = sa.Table(
    "console_sign_in_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(320), nullable=False, index=True),
    sa.Column("at", sa.Double, nullable=False, index=True),
)

# The per-recipient rate limit of e-mail and SMS (docs/events.md, "Alert hygiene"), shared by
# every node and kept across crashes: each recipient's current window and the messages sent in
# it, and the messages held back per window and event type until a node sends their summary.
message_windows = sa.Table(
    "message_windows",
    metadata,
    sa.Column("recipient", sa.String(600), primary_key=True),
    sa.Column("start", sa.Double, nullable=False),
    sa.Column("sent", sa.Integer, nullable=False),
)
held_messages = sa.Table(
    "held_messages",
    metadata,
    sa.Column("recipient", sa.String(600), primary_key=True),
    sa.Column("start", sa.Double, primary_key=True),
    sa.Column("event_type", sa.String(64), primary_key=True),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("claimed_by", sa.String(100), nullable=True),
    sa.Column("claimed_until", sa.Double, nullable=True),
)


def _rate_limits(conn: Connection) -> None:
    """Failure counts of the rate limits, shared by nodes (verifier/rate_limits.py)."""
    metadata.create_all(conn, tables=[rate_limits])


def _message_limits(conn: Connection) -> None:
    """The per-recipient rate limit of e-mail and SMS, in the store (was each node's memory)."""
    metadata.create_all(conn, tables=[message_windows, held_messages])


def _notify_accepted(conn: Connection) -> None:
    """Users' opt-in to validation.accepted. Added only where missing: a store created by this
    code already has it."""
    if "notify_accepted" not in {c["name"] for c in sa.inspect(conn).get_columns("users")}:
        conn.exec_driver_sql(
            "ALTER TABLE users ADD COLUMN notify_accepted BOOLEAN NOT NULL DEFAULT false"
        )


def _backup_codes(conn: Connection) -> None:
    """Users' one-time backup codes, hashed (verifier/backup_codes.py)."""
    metadata.create_all(conn, tables=[backup_codes])


_AUDIT_CHAIN_COLUMNS = "seq, ts, action, token_id, detail, prev_hash, hash"


def _audit_sealed(conn: Connection) -> None:
    """The audit table with an append `id` and chain columns that may stay NULL until a row is
    sealed (verifier/audit.py, `seal`), so appending takes no lock. Rows already chained keep
    their `seq` and hashes (their `id` is their `seq`), so their chain and its archives verify
    as before. A store created by this code already has the new table (_v1)."""
    if "id" in {column["name"] for column in sa.inspect(conn).get_columns(audit.name)}:
        return
    conn.exec_driver_sql("ALTER TABLE audit RENAME TO audit_before_sealing")
    if conn.dialect.name == "postgresql":  # the old primary key's index keeps its name
        conn.exec_driver_sql("ALTER INDEX audit_pkey RENAME TO audit_before_sealing_pkey")
    metadata.create_all(conn, tables=[audit])
    conn.exec_driver_sql(
        f"INSERT INTO audit (id, {_AUDIT_CHAIN_COLUMNS}) "
        f"SELECT seq, {_AUDIT_CHAIN_COLUMNS} FROM audit_before_sealing"
    )
    conn.exec_driver_sql("DROP TABLE audit_before_sealing")
    if conn.dialect.name == "postgresql":  # new rows are numbered after the copied ones
        conn.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('audit', 'id'), "
            "(SELECT COALESCE(MAX(id), 0) + 1 FROM audit), false)"
        )


def _device_pins(conn: Connection) -> None:
    """Whether a token has a device PIN. A store created by this code already has the column
    (_v1 creates the tokens table as declared above), so it is added only where missing."""
    present = {column["name"] for column in sa.inspect(conn).get_columns(tokens.name)}
    if "device_pin" not in present:
        conn.exec_driver_sql(
            "ALTER TABLE tokens ADD COLUMN device_pin BOOLEAN NOT NULL DEFAULT false"
        )


def _console_sign_in_limit(conn: Connection) -> None:
    """The console's failed sign-ins in the store (were each node's memory)."""
    metadata.create_all(conn, tables=[console_sign_in_failures])


def _login_rounds(conn: Connection) -> None:
    """Users' own choice of one or two rounds at RADIUS. Added only where missing: a store
    created by this code already has it."""
    if "login_rounds" not in {c["name"] for c in sa.inspect(conn).get_columns("users")}:
        conn.exec_driver_sql(
            "ALTER TABLE users ADD COLUMN login_rounds VARCHAR(16) NOT NULL DEFAULT 'client'"
        )


def _lost_tokens(conn: Connection) -> None:
    """Whether a token is reported lost. A store created by this code already has the column
    (_v1 creates the tokens table as declared above), so it is added only where missing.
    Tokens reported lost before it are not marked: they were only disabled."""
    present = {column["name"] for column in sa.inspect(conn).get_columns(tokens.name)}
    if "lost" not in present:
        conn.exec_driver_sql("ALTER TABLE tokens ADD COLUMN lost BOOLEAN NOT NULL DEFAULT false")


def _api_key_revocation(conn: Connection) -> None:
    """When an API key was revoked; added only where missing (a store created by this code has
    it, as _lost_tokens explains)."""
    present = {column["name"] for column in sa.inspect(conn).get_columns(api_keys.name)}
    if "revoked" not in present:
        conn.exec_driver_sql("ALTER TABLE api_keys ADD COLUMN revoked DOUBLE PRECISION")


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _v1,
    _v2,
    _v3,
    _events_outbox,
    _radius_challenges,
    _directory_entries,
    _user_pins,
    _hotp_tokens,
    _console,
    _events_routing,
    _failure_bursts,
    _rate_limits,
    _backup_codes,
    _audit_sealed,
    _message_limits,
    _device_pins,
    _notify_accepted,
    _console_sign_in_limit,
    _login_rounds,
    _lost_tokens,
    _api_key_revocation,
)
SCHEMA_VERSION = len(MIGRATIONS)
# Any constant: the PostgreSQL advisory lock that serialises migrations of concurrent nodes.
_MIGRATION_LOCK_ID = 0x6261_6F6C
# Any other constants: the advisory locks of `Store.write` and of the audit sealer
# (verifier/audit.py).
_WRITE_LOCK_ID = 0x6261_6F6D
AUDIT_SEAL_LOCK_ID = 0x6261_6F6E
# And the class (first key) of the advisory locks that serialise one user's attempts (one lock
# per user name, the second key its hash: `lock_user_attempts`).
_USER_ATTEMPTS_LOCK_CLASS = 0x6261_6F6F


def sqlite_url(path: str) -> str:
    return f"sqlite:///{path}"


# The tables of schema version 1: a database holding all of them is a Baoling store.
_BAOLING_TABLES = frozenset(table.name for table in (tokens, api_keys, audit, schema_version))


def _refuse_foreign(table_names: Collection[str], shown: str) -> None:
    """StoreError when a database (`shown`: its URL as messages show it) holds tables but not
    Baoling's: it belongs to another program, whose tables Baoling's must not join (nor, of
    the same name, be taken for Baoling's). An empty database becomes a store."""
    if table_names and not set(table_names) >= _BAOLING_TABLES:
        raise StoreError(
            f"the database {shown} holds tables of another program and no Baoling store: "
            "give Baoling an empty or new database"
        )


def _sqlite_connect(dbapi_conn, _record) -> None:  # noqa: ANN001 (DB-API objects are untyped)
    """WAL mode, a busy timeout (writers wait for each other instead of failing), and every
    commit flushed to disk before it returns: in WAL mode `synchronous=NORMAL` would leave the
    last commits to the next checkpoint, and a power cut before it would undo them, so an
    accepted code could be accepted again (docs/threat-model.md). Another program's file is
    refused first: switching it to WAL would change it."""
    dbapi_conn.isolation_level = None  # transactions are begun by _sqlite_begin below
    cursor = dbapi_conn.cursor()
    cursor.execute(  # SQLite's own tables (sqlite_sequence, ...) are no program's
        "SELECT name FROM sqlite_master "
        "WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~'"
    )
    names = [name for (name,) in cursor.fetchall()]
    cursor.execute("SELECT file FROM pragma_database_list WHERE name = 'main'")
    _refuse_foreign(names, sqlite_url(cursor.fetchone()[0]))
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Writers take SQLite's write lock up front (a deferred transaction that reads, then
    writes can fail with "database is locked" under WAL instead of waiting)."""
    driver = conn.connection.driver_connection
    assert driver is not None  # a connection that begins has its driver's
    # Through the driver, as sqlite_savepoint: SQLAlchemy's exec_driver_sql costs about 50 us.
    driver.execute(
        "BEGIN IMMEDIATE" if conn.get_execution_options().get("baoling_write") else "BEGIN"
    )


@contextmanager
def sqlite_savepoint(conn: Connection) -> Iterator[None]:
    """A savepoint in `conn`'s SQLite transaction, undone if the block raises: one grouped
    write's (verifier/group_commit.py). Sent through the driver: SQLAlchemy's `begin_nested`
    compiles its SAVEPOINT and RELEASE statements at every use, a fifth of a grouped
    validation's time in a profile."""
    driver = conn.connection.driver_connection
    assert driver is not None  # a connection in a transaction has its driver's
    driver.execute("SAVEPOINT grouped_write")
    try:
        yield
    except BaseException:
        driver.execute("ROLLBACK TO grouped_write")
        driver.execute("RELEASE grouped_write")
        raise
    driver.execute("RELEASE grouped_write")


def _postgres_connect(dbapi_conn, _record) -> None:  # noqa: ANN001 (DB-API objects are untyped)
    """Every commit waits for its WAL flush (and for a synchronous standby's), whatever the
    server, database or role sets: a commit that is not flushed when the answer leaves is
    undone when any PostgreSQL process crashes, so an accepted code could be accepted again
    (docs/threat-model.md). Concurrent commits share a flush (group commit,
    docs/operations.md)."""
    cursor = dbapi_conn.cursor()
    cursor.execute("SET synchronous_commit TO on")
    cursor.close()
    dbapi_conn.commit()  # a SET in a rolled-back transaction would be undone


def _hosts_to_query(url: str) -> str:
    """libpq's multi-host URI (`postgresql://user@db1:5432,db2:5432/baoling?...`) in the form
    SQLAlchemy parses (`postgresql://user@/baoling?host=db1:5432&host=db2:5432&...`); psycopg
    then tries the hosts in turn and, with `target_session_attrs=read-write`, keeps the one that
    is the primary (docs/operations.md, "Failover to a standby")."""
    scheme, sep, rest = url.partition("://")
    authority, _, path = rest.partition("/")
    user, at, hosts = authority.rpartition("@")
    if not sep or "," not in hosts or not scheme.startswith("postgresql"):
        return url
    database, _, query = path.partition("?")
    params = "&".join(f"host={host}" for host in hosts.split(","))
    return f"{scheme}://{user}{at}/{database}?{params}{'&' if query else ''}{query}"


# SQLite's answers for a file that is not a SQLite database, or whose pages are damaged.
_DAMAGED_SQLITE = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})


def _damaged_sqlite_file(exc: sa.exc.DBAPIError) -> bool:
    return getattr(exc.orig, "sqlite_errorname", None) in _DAMAGED_SQLITE


Pool = tuple[int, int]  # PostgreSQL connections kept open, and opened beyond those under load
DEFAULT_POOL: Pool = (DEFAULT_STORE_POOL_SIZE, DEFAULT_STORE_MAX_OVERFLOW)


def make_engine(url: str, pool: Pool = DEFAULT_POOL) -> Engine:
    """A SQLAlchemy engine for `url`; plain postgresql:// URLs use psycopg 3, with `pool`'s
    sizes and every statement prepared from its first use (`prepare_threshold=0`: later uses
    send only its parameters). Pooled connections are not checked before each use (a round
    trip per request): after a database restart or a failover the first statement on a dead
    connection fails, SQLAlchemy then discards every connection opened before it (a disconnect
    error invalidates the pool), that request fails closed (StoreError, HTTP 503), and the next
    ones connect anew (tests/test_failover.py, tests/test_crash_durability.py)."""
    try:
        parsed = sa.make_url(_hosts_to_query(url))
    except (sa.exc.ArgumentError, ValueError):
        raise StoreError(
            "the store URL is not a database URL such as "
            "postgresql+psycopg://user:password@host/database"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL"
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = sa.create_engine(parsed)
        else:
            size, overflow = pool
            prepared = {"prepare_threshold": 0}
            engine = sa.create_engine(
                parsed, pool_size=size, max_overflow=overflow, connect_args=prepared
            )
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise StoreError(
            f"cannot use store URL {shown_url(parsed.render_as_string(False))}: {exc}"
        ) from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
    else:
        sa.event.listen(engine, "connect", _postgres_connect)
    return engine


class Store:
    """The connection pool and the transactions; the SQL of each operation is a function
    below that takes the transaction's connection."""

    def __init__(
        self,
        url: str,
        commit_timeout_s: float = DEFAULT_COMMIT_TIMEOUT_S,
        pool: Pool = DEFAULT_POOL,
    ) -> None:
        self.engine = make_engine(url, pool)
        self._commit_deadlines = CommitDeadlines(commit_timeout_s)
        # SQLite's one writer commits validations in groups (verifier/group_commit.py).
        sqlite = self.engine.dialect.name == "sqlite"
        self._group = GroupCommit(self.concurrent_write, sqlite_savepoint) if sqlite else None
        self._closed = False

    def close(self) -> None:
        """Release the connections; every use after this raises StoreError (the engine would
        otherwise open a new pool, which nothing closes). A second close does nothing."""
        if self._group is not None:
            self._group.close()  # commits the writes it holds first
        self._closed = True
        self.engine.dispose()

    @contextmanager
    def _transaction(self, **options: bool) -> Iterator[Connection]:
        """A transaction; an unreachable or unusable database becomes one StoreError line
        (the URL's password is never in it), and so does a PostgreSQL commit not confirmed
        within the commit timeout (verifier/commit_deadline.py)."""
        with (
            self._failures(),
            self.engine.connect().execution_options(**options) as conn,
            self._commit_deadlines.watch(conn) as arm,
            conn.begin(),
        ):
            yield conn
            arm()  # the commit, as the block ends, may wait for a standby that is gone

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """An unreachable or unusable database as one StoreError line: also a SQLite file that
        is no database or is damaged (an integrity or programming error stays an exception:
        that is a bug, not the database's state); a value it cannot hold, InvalidRequest."""
        if self._closed:
            raise StoreError("the store is closed")
        try:
            yield
        except sa.exc.DataError as exc:
            # A value the database cannot hold (on PostgreSQL a NUL in text, a number beyond
            # bigint) is the caller's mistake, not a broken database. Its reason stops at the
            # first colon: what follows may quote the value, which may be a secret.
            reason = str(exc.orig).strip().splitlines()[0].split(":")[0] if exc.orig else ""
            raise InvalidRequest(f"the database cannot hold a value given ({reason})") from None
        except sa.exc.DatabaseError as exc:
            unusable = (sa.exc.OperationalError, sa.exc.InterfaceError)
            if not isinstance(exc, unusable) and not _damaged_sqlite_file(exc):
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            if _damaged_sqlite_file(exc):
                reason += " (not a SQLite file, or a damaged one: restore it from a backup)"
            raise StoreError(
                f"database {shown_url(self.engine.url.render_as_string(False))} failed: {reason}"
            ) from None

    @property
    def has_single_statements(self) -> bool:
        """Whether `single_statements` may be used: on PostgreSQL (SQLite's writes begin with
        its write lock, _sqlite_begin)."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def single_statements(self) -> Iterator[tuple[Connection, Callable[[], None]]]:
        """A connection on which each statement commits by itself (autocommit): no BEGIN and
        no COMMIT round trip, for a change that is one statement, such as a validation's
        (verifier/validation.py). Yields it and `arm`, to call right before the statement that
        writes, whose commit then has the commit timeout as a transaction's has."""
        with self._autocommit() as conn, self._commit_deadlines.watch(conn) as arm:
            yield conn, arm

    @contextmanager
    def _autocommit(self) -> Iterator[Connection]:
        """A connection on which each statement commits by itself; failures as `_failures`."""
        with (
            self._failures(),
            self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        ):
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self._transaction() as conn:
            yield conn

    @contextmanager
    def lookup(self) -> Iterator[Connection]:
        """For a read that needs no snapshot common to its statements, such as one SELECT on
        a validation's path: on PostgreSQL each statement commits by itself, without the
        BEGIN and COMMIT round trips (under READ COMMITTED, the default, each statement of a
        transaction takes its own snapshot anyway); on SQLite a read-only transaction."""
        with self._autocommit() if self.has_single_statements else self.read() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction serialised with every other `write` until it commits or rolls
        back, for administration that reads, checks, then writes (an enrolment racing a key
        rotation must not seal a secret with the old key). Validations use `concurrent_write`
        and never wait for it. Its commit is on disk before it returns (_sqlite_connect,
        _postgres_connect)."""
        with self._transaction(baoling_write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(_SERIALISE_WRITES)
            yield conn

    @contextmanager
    def concurrent_write(self) -> Iterator[Connection]:
        """A write transaction that takes no store-wide lock, for changes whose conflicts the
        row locks and conditional updates below settle: validations (of different tokens they
        never wait for each other, on one node or many) and the outbox's bookkeeping. SQLite
        has one writer at a time anyway. On disk before it returns, as `write`."""
        with self._transaction(baoling_write=True) as conn:
            yield conn

    def grouped_write(self, write: Callable[[Connection], T]) -> T:
        """`write` run in a `concurrent_write` transaction, and its result once that is on
        disk; on SQLite the transaction may hold other callers' writes too, each in a
        savepoint (verifier/group_commit.py), so concurrent validations share one flush."""
        if self._group is not None:
            return self._group.run(write)
        with self.concurrent_write() as conn:
            return write(conn)

    def version(self) -> int:
        with self.read() as conn:
            return current_version(conn)

    def migrate(self, target: int = SCHEMA_VERSION) -> int:
        """Bring the schema to `target` (default: newest); returns the version found before.
        This is `baoling verifier migrate`: the one way an existing PostgreSQL schema is
        upgraded."""
        return self._migrate(target, upgrade_existing=True)

    def prepare(self) -> int:
        """Make the schema ready for use when a Verifier opens the store; returns the version
        found. An empty database gets the newest schema. An older schema is upgraded in place
        when it is a SQLite file (embedded: the one installation that uses it upgrades as one)
        and refused in PostgreSQL, which other nodes share, until an operator runs `baoling
        verifier migrate` (docs/operations.md, "Schema upgrades")."""
        return self._migrate(SCHEMA_VERSION, upgrade_existing=self.engine.dialect.name == "sqlite")

    def _migrate(self, target: int, *, upgrade_existing: bool) -> int:
        with self._transaction(baoling_write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_ID)))
            if not (found := current_version(conn)):
                shown = shown_url(self.engine.url.render_as_string(False))
                _refuse_foreign(sa.inspect(conn).get_table_names(), shown)
            if found > SCHEMA_VERSION:
                raise StoreError(
                    f"the database schema is version {found}, newer than this software "
                    f"(version {SCHEMA_VERSION}); upgrade Baoling"
                )
            if 0 < found < target and not upgrade_existing:
                raise StoreError(
                    f"the database schema is version {found}, this Baoling needs "
                    f"{SCHEMA_VERSION}: run `baoling verifier migrate`"
                )
            for version in range(found + 1, target + 1):
                MIGRATIONS[version - 1](conn)
                conn.execute(schema_version.delete())
                conn.execute(schema_version.insert().values(version=version))
            if 0 < found < target:
                log.info("upgraded the database schema from version %d to %d", found, target)
            return found


def current_version(conn: Connection) -> int:
    """The schema version of the database (0 when it is empty)."""
    if not sa.inspect(conn).has_table(schema_version.name):
        return 0
    return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0


# Statements on the validation path are built once; each call only binds its values. Those a
# validation runs on SQLite go through the driver there (verifier/prepared.py).
_SERIALISE_WRITES = sa.select(sa.func.pg_advisory_xact_lock(_WRITE_LOCK_ID))
_LOCK_USER_ATTEMPTS = sa.select(
    sa.func.pg_advisory_xact_lock(
        sa.cast(sa.literal(_USER_ATTEMPTS_LOCK_CLASS), sa.Integer),
        sa.func.hashtext(sa.bindparam("user_key")),
    )
)
_GET_META = Prepared(sa.select(meta.c.value).where(meta.c.name == sa.bindparam("meta_name")))
_SET_META = Prepared(
    meta.update()
    .where(meta.c.name == sa.bindparam("meta_name"))
    .values(value=sa.bindparam("meta_value"))
)
# Whether the token's user is deactivated: its codes are then refused at every door, the token
# id's too (verifier/validation.py reads the token as disabled).
_OWNER_DEACTIVATED = (
    sa.exists()
    .where(
        token_owners.c.token_id == tokens.c.id,
        users.c.id == token_owners.c.user_id,
        users.c.active == sa.false(),
    )
    .correlate(tokens)
    .label("owner_deactivated")
)
_TOKEN = sa.select(tokens, _OWNER_DEACTIVATED).where(tokens.c.id == sa.bindparam("token_id"))
_GET_TOKEN = Prepared(_TOKEN)
_GET_TOKEN_TO_CHANGE = Prepared(_TOKEN.with_for_update())
# No lock holds: none, one that has ended by `now`, or one that ends later than any lock that
# holds can (`latest_lock_end`): set while a server's clock ran ahead (engine.Policy.locked).
_UNLOCKED = sa.or_(
    tokens.c.locked_until.is_(None),
    tokens.c.locked_until <= sa.bindparam("now"),
    tokens.c.locked_until > sa.bindparam("latest_lock_end", type_=sa.Double),
)
_ACCEPT = Prepared(
    tokens.update()
    .where(
        tokens.c.id == sa.bindparam("token_id"),
        tokens.c.enabled == sa.true(),
        sa.or_(tokens.c.last_step.is_(None), tokens.c.last_step < sa.bindparam("step")),
        _UNLOCKED,
    )
    .values(
        last_step=sa.bindparam("step"),
        fail_count=0,
        locked_until=None,
        drift=sa.bindparam("new_drift"),
    )
    .returning(tokens.c.id)
)
# An HOTP accept: the counter only moves forward, whoever else accepts at the same time.
_ACCEPT_COUNTER = Prepared(
    tokens.update()
    .where(
        tokens.c.id == sa.bindparam("token_id"),
        tokens.c.enabled == sa.true(),
        tokens.c.counter < sa.bindparam("counter"),
        _UNLOCKED,
    )
    .values(counter=sa.bindparam("counter"), fail_count=0, locked_until=None)
    .returning(tokens.c.id)
)
_NEW_COUNT = tokens.c.fail_count + 1
_FAIL = Prepared(
    tokens.update()
    .where(tokens.c.id == sa.bindparam("token_id"))
    .values(
        fail_count=_NEW_COUNT,
        locked_until=sa.case(
            (
                sa.and_(sa.bindparam("lock_after", type_=sa.Integer) <= _NEW_COUNT, _UNLOCKED),
                sa.bindparam("lock_end", type_=sa.Double),
            ),
            else_=tokens.c.locked_until,
        ),
    )
    .returning(tokens.c.fail_count, tokens.c.locked_until)
)
# A failure whose new count and lock were decided on the state read (failing_from).
_FAIL_FROM = Prepared(
    tokens.update()
    .where(
        tokens.c.id == sa.bindparam("token_id"),
        tokens.c.fail_count == sa.bindparam("old_count"),
        tokens.c.locked_until.is_not_distinct_from(sa.bindparam("old_locked", type_=sa.Double)),
    )
    .values(fail_count=sa.bindparam("new_count"), locked_until=sa.bindparam("new_locked"))
    .returning(tokens.c.fail_count, tokens.c.locked_until)
)


def get_meta(conn: Connection, name: str) -> str | None:
    return _GET_META.execute(conn, {"meta_name": name}).scalar()


def set_meta(conn: Connection, name: str, value: str) -> None:
    if _SET_META.execute(conn, {"meta_name": name, "meta_value": value}).rowcount == 0:
        conn.execute(meta.insert().values(name=name, value=value))


def get_token(conn: Connection, token_id: str, *, to_change: bool = False) -> Row:
    """The token's row; UnknownToken when there is none. `to_change`: held until the write
    transaction ends (PostgreSQL's FOR UPDATE; SQLite's one writer holds every row), so a
    decision taken on it is never on a state that another validation changes before the
    commit, and what it audits and reports (a new lock) happens once."""
    query = _GET_TOKEN_TO_CHANGE if to_change else _GET_TOKEN
    row = query.execute(conn, {"token_id": token_id}).first()
    if row is None:
        raise UnknownToken(f"no token {token_id!r} is enrolled")
    return row


def token_exists(conn: Connection, token_id: str) -> bool:
    return conn.execute(sa.select(tokens.c.id).where(tokens.c.id == token_id)).first() is not None


def list_tokens(conn: Connection) -> list[Row]:
    return list(conn.execute(sa.select(tokens).order_by(tokens.c.id)))


def insert_token(conn: Connection, **values: object) -> None:
    conn.execute(tokens.insert().values(**values))


def update_token(conn: Connection, token_id: str, **values: object) -> None:
    """Set columns of one token (admin operations); UnknownToken when there is none."""
    if conn.execute(tokens.update().where(tokens.c.id == token_id).values(**values)).rowcount == 0:
        raise UnknownToken(f"no token {token_id!r} is enrolled")


def delete_token(conn: Connection, token_id: str) -> None:
    conn.execute(token_owners.delete().where(token_owners.c.token_id == token_id))
    if conn.execute(tokens.delete().where(tokens.c.id == token_id)).rowcount == 0:
        raise UnknownToken(f"no token {token_id!r} is enrolled")


# A change of a token's row: an UPDATE ... RETURNING built once above and its values, for the
# caller to run alone or with its audit row in one statement (verifier/audit.py, append_with).
Change = tuple[Prepared[sa.Update], dict[str, Any]]


def accepting_step(token_id: str, step: int, drift: str, now: float, latest: float) -> Change:
    """Record an accepted step, clear failures and store the new drift, in one conditional
    UPDATE. It returns no row when another thread or node accepted this step or a later one
    first, or the token was disabled or locked meanwhile (`latest`: the latest end a lock that
    holds can have, engine.Policy.latest_lock_end): the caller treats that as a rejection."""
    values = {"token_id": token_id, "step": step, "new_drift": drift}
    return _ACCEPT, {**values, "now": now, "latest_lock_end": latest}


def accepting_counter(token_id: str, counter: int, now: float, latest: float) -> Change:
    """Move an HOTP token's counter forward to `counter` and clear failures, in one conditional
    UPDATE; no row when another thread or node moved it as far or further first, or the token
    was disabled or locked meanwhile (a rejection, as `accepting_step`)."""
    values = {"token_id": token_id, "counter": counter, "now": now, "latest_lock_end": latest}
    return _ACCEPT_COUNTER, values


def counting_failure(
    token_id: str, now: float, lock_after: int, lock_end: float, latest: float
) -> Change:
    """Add one failure in SQL; when the count reaches `lock_after` and no lock holds (`latest`,
    as `accepting_step`'s), lock it until `lock_end`. Returns the new (fail_count,
    locked_until); no row when the token is not enrolled."""
    values = {"token_id": token_id, "now": now, "lock_after": lock_after}
    return _FAIL, {**values, "lock_end": lock_end, "latest_lock_end": latest}


def failing_from(
    token_id: str, before: tuple[int, float | None], after: tuple[int, float | None]
) -> Change:
    """Set the token's (fail_count, locked_until) to `after` if they are still `before`, the
    state the engine decided on; no row when another validation changed them first (or the
    token is gone): the caller then decides again. Unlike `counting_failure`, what it writes
    is known before it runs, so a lock it sets can be audited and reported by the same
    statement, exactly once (verifier/validation.py, `_apply_at_once`)."""
    (old_count, old_locked), (new_count, new_locked) = before, after
    values = {"old_count": old_count, "old_locked": old_locked}
    return _FAIL_FROM, {
        "token_id": token_id,
        **values,
        "new_count": new_count,
        "new_locked": new_locked,
    }


def insert_api_key(
    conn: Connection, key_id: str, name: str, key_hash: str, scopes: list[str], created: float
) -> None:
    conn.execute(
        api_keys.insert().values(
            id=key_id, name=name, key_hash=key_hash, scopes=",".join(scopes), created=created
        )
    )


def api_key_name_taken(conn: Connection, name: str) -> bool:
    return conn.execute(sa.select(api_keys.c.id).where(api_keys.c.name == name)).first() is not None


def get_api_key(conn: Connection, key_id: str) -> Row | None:
    """The API key's row (its hash and scopes), or None."""
    return conn.execute(api_keys.select().where(api_keys.c.id == key_id)).first()


def list_api_keys(conn: Connection) -> list[Row]:
    """Every API key's row but its hash, oldest first, revoked ones too."""
    columns = [c for c in api_keys.c if c.name != "key_hash"]
    return list(conn.execute(sa.select(*columns).order_by(api_keys.c.created, api_keys.c.id)))


def revoke_api_key(conn: Connection, name: str, now: float) -> str | None:
    """Revoke the live key named `name`; its id, or None when no live key has that name."""
    row = conn.execute(
        sa.select(api_keys.c.id).where(api_keys.c.name == name, api_keys.c.revoked.is_(None))
    ).first()
    if row is None:
        return None
    conn.execute(api_keys.update().where(api_keys.c.id == row.id).values(revoked=now))
    return str(row.id)


_GET_USER = sa.select(users).where(
    users.c.realm == sa.bindparam("realm"), users.c.name == sa.bindparam("name")
)
# A user's tokens with their roles, primary ones first.
_USER_TOKENS = (
    sa.select(tokens, token_owners.c.role, _OWNER_DEACTIVATED)
    .join(token_owners, token_owners.c.token_id == tokens.c.id)
    .where(token_owners.c.user_id == sa.bindparam("user_id"))
    .order_by(sa.case((token_owners.c.role == "primary", 0), else_=1), tokens.c.id)
)


def insert_user(conn: Connection, **values: object) -> None:
    conn.execute(users.insert().values(**values))


def get_user(conn: Connection, realm: str, name: str) -> Row | None:
    return conn.execute(_GET_USER, {"realm": realm, "name": name}).first()


def list_users(conn: Connection) -> list[Row]:
    return list(conn.execute(sa.select(users).order_by(users.c.realm, users.c.name)))


def realm_has_users(conn: Connection, realm: str) -> bool:
    return (
        conn.execute(sa.select(users.c.id).where(users.c.realm == realm).limit(1)).first()
        is not None
    )


def update_user_attributes(conn: Connection, user_id: int, **values: str) -> None:
    """Set a user's display_name, email or phone (copied again from its directory)."""
    conn.execute(users.update().where(users.c.id == user_id).values(**values))


def set_notify_accepted(conn: Connection, user_id: int, on: bool) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(notify_accepted=on))


def set_login_rounds(conn: Connection, user_id: int, rounds: str) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(login_rounds=rounds))


def deactivate_user(conn: Connection, user_id: int, now: float) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(active=False, deactivated=now))


def user_tokens(conn: Connection, user_id: int) -> list[Row]:
    """The user's token rows, each with its `role`, primary tokens first, then by id."""
    return list(conn.execute(_USER_TOKENS, {"user_id": user_id}))


def token_owner(conn: Connection, token_id: str) -> Row | None:
    """The user row of the token's user, with the token's `role`; None when it has none."""
    return conn.execute(
        sa.select(users, token_owners.c.role)
        .join(token_owners, token_owners.c.user_id == users.c.id)
        .where(token_owners.c.token_id == token_id)
    ).first()


def assign_token(conn: Connection, token_id: str, user_id: int, role: str, now: float) -> None:
    conn.execute(
        token_owners.insert().values(token_id=token_id, user_id=user_id, role=role, assigned=now)
    )


def unassign_token(conn: Connection, token_id: str) -> None:
    conn.execute(token_owners.delete().where(token_owners.c.token_id == token_id))


# Bulk import (verifier/bulk_import.py): a few statements for thousands of rows, in chunks
# that keep each IN list within every database's limit on bound parameters.
_CHUNK_ROWS = 500


def enrolled_token_ids(conn: Connection, token_ids: list[str]) -> set[str]:
    """Which of `token_ids` are enrolled already."""
    found: set[str] = set()
    for start in range(0, len(token_ids), _CHUNK_ROWS):
        chunk = token_ids[start : start + _CHUNK_ROWS]
        found.update(conn.execute(sa.select(tokens.c.id).where(tokens.c.id.in_(chunk))).scalars())
    return found


def insert_tokens(conn: Connection, rows: list[dict[str, object]]) -> None:
    """Insert many token rows (each with every column) in one executemany."""
    if rows:
        conn.execute(tokens.insert(), rows)


def insert_users(conn: Connection, rows: list[dict[str, object]]) -> dict[tuple[str, str], int]:
    """Insert many user rows in one executemany; returns each new (realm, name)'s id."""
    if not rows:
        return {}
    conn.execute(users.insert(), rows)
    wanted = {(str(row["realm"]), str(row["name"])) for row in rows}
    realms = sorted({realm for realm, _ in wanted})
    query = sa.select(users.c.id, users.c.realm, users.c.name).where(users.c.realm.in_(realms))
    return {
        (row.realm, row.name): row.id
        for row in conn.execute(query)
        if (row.realm, row.name) in wanted
    }


def assign_tokens(conn: Connection, rows: list[dict[str, object]]) -> None:
    """Assign many tokens (token_id, user_id, role, assigned) in one executemany."""
    if rows:
        conn.execute(token_owners.insert(), rows)


def bind_directory_entries(conn: Connection, rows: list[dict[str, object]]) -> None:
    """Record many directory users' entries (user_id, entry_id) in one executemany."""
    if rows:
        conn.execute(directory_entries.insert(), rows)


def reactivate_user(conn: Connection, user_id: int) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(active=True, deactivated=None))


def set_token_role(conn: Connection, token_id: str, role: str) -> None:
    conn.execute(token_owners.update().where(token_owners.c.token_id == token_id).values(role=role))


def rebind_directory_entry(conn: Connection, user_id: int, entry_id: str) -> None:
    """Bind the user to another entry of its directory (reactivating a re-created account)."""
    conn.execute(
        directory_entries.update()
        .where(directory_entries.c.user_id == user_id)
        .values(entry_id=entry_id)
    )


# What use_backup_code found: the code is now used, was used before, has expired, or is no
# longer stored (revoked or replaced by a new set meanwhile).
CODE_USED, CODE_TAKEN, CODE_EXPIRED, CODE_GONE = "used", "taken", "expired", "gone"


def replace_backup_codes(
    conn: Connection, user_id: int, hashes: list[str], issued: float, expires: float
) -> int:
    """Store a new set of backup code hashes (slot = position) in place of the user's old
    set; returns how many of the old ones were still usable."""
    revoked = revoke_backup_codes(conn, user_id, issued)
    conn.execute(
        backup_codes.insert(),
        [
            {"user_id": user_id, "slot": slot, "code_hash": code_hash, "issued": issued}
            | {"expires": expires, "used": None}
            for slot, code_hash in enumerate(hashes)
        ],
    )
    return revoked


def revoke_backup_codes(conn: Connection, user_id: int, now: float) -> int:
    """Delete the user's backup codes; returns how many were still usable."""
    usable = backup_code_count(conn, user_id, now)
    conn.execute(backup_codes.delete().where(backup_codes.c.user_id == user_id))
    return usable


def backup_code_count(conn: Connection, user_id: int, now: float) -> int:
    """How many of the user's backup codes are unused and unexpired."""
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(backup_codes)
        .where(
            backup_codes.c.user_id == user_id,
            backup_codes.c.used.is_(None),
            backup_codes.c.expires > now,
        )
    ).scalar_one()


def backup_code_hash(conn: Connection, realm: str, name: str, slot: int) -> str | None:
    """The stored hash of the user's backup code in `slot`; None when there is none."""
    return conn.execute(
        sa.select(backup_codes.c.code_hash)
        .join(users, users.c.id == backup_codes.c.user_id)
        .where(users.c.realm == realm, users.c.name == name, backup_codes.c.slot == slot)
    ).scalar()


def use_backup_code(conn: Connection, user_id: int, slot: int, code_hash: str, now: float) -> str:
    """Mark the code used, in one conditional UPDATE: of two validations with the same code,
    on any nodes, one gets CODE_USED. Otherwise says why not (CODE_TAKEN, CODE_EXPIRED,
    CODE_GONE)."""
    this_code = sa.and_(
        backup_codes.c.user_id == user_id,
        backup_codes.c.slot == slot,
        backup_codes.c.code_hash == code_hash,
    )
    used = conn.execute(
        backup_codes.update()
        .where(this_code, backup_codes.c.used.is_(None), backup_codes.c.expires > now)
        .values(used=now)
    )
    if used.rowcount == 1:
        return CODE_USED
    row = conn.execute(sa.select(backup_codes.c.used).where(this_code)).first()
    if row is None:
        return CODE_GONE
    return CODE_TAKEN if row.used is not None else CODE_EXPIRED


def bind_directory_entry(conn: Connection, user_id: int, entry_id: str) -> None:
    """Record which directory entry the user is (when a directory user is added)."""
    conn.execute(directory_entries.insert().values(user_id=user_id, entry_id=entry_id))


def directory_entry(conn: Connection, user_id: int) -> str | None:
    """The id of the directory entry the user is; None for a local user."""
    found = directory_entries.c.entry_id
    return conn.execute(sa.select(found).where(directory_entries.c.user_id == user_id)).scalar()


PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
_INSERT_EVENT = events.insert().values(
    id=sa.bindparam("event_id"),
    type=sa.bindparam("event_type"),
    created=sa.bindparam("now"),
    body=sa.bindparam("body"),
    state=PENDING,
    attempts=0,
    due=sa.bindparam("now"),
    since=sa.bindparam("now"),
    realm=sa.bindparam("realm"),
    owner=sa.bindparam("owner"),
)


class PlannedEvent(NamedTuple):
    """An event row that a validation's one statement inserts (verifier/audit.py,
    `append_at_once`): only when its change updated a row (`if_changed`), or only when it did
    not; with the realm and name of the token's user, and for an `opted` type only when that
    user asked for it, as Outbox.emit decides in Python (verifier/outbox.py)."""

    if_changed: bool
    event_id: str
    event_type: str
    body: str
    opted: bool


def inserting_events(
    token: sa.ColumnElement[str],
    now: sa.ColumnElement[float],
    planned: Sequence[tuple[sa.ColumnElement[bool], bool]],
) -> sa.Insert:
    """INSERT ... SELECT of planned events, in order: each (condition, opted) is one row whose
    id, type and body are bound as event<i>_id, event<i>_type and event<i>_body (i from 0)."""

    def owner(column: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
        joined = users.join(token_owners, token_owners.c.user_id == users.c.id)
        found = sa.select(column).select_from(joined).where(token_owners.c.token_id == token)
        return found.scalar_subquery()

    rows = []
    for i, (condition, opted) in enumerate(planned):
        if opted:
            condition = sa.and_(condition, owner(users.c.notify_accepted))
        rows.append(
            sa.select(
                sa.bindparam(f"event{i}_id", type_=sa.String),
                sa.bindparam(f"event{i}_type", type_=sa.String),
                now,
                sa.bindparam(f"event{i}_body", type_=sa.Text),
                sa.literal(PENDING, sa.String),
                sa.literal(0, sa.Integer),
                now,
                now,
                owner(users.c.realm),
                owner(users.c.name),
            ).where(condition)
        )
    columns = ["id", "type", "created", "body", "state", "attempts", "due", "since", "realm"]
    return events.insert().from_select(
        [*columns, "owner"], rows[0] if len(rows) == 1 else sa.union_all(*rows)
    )


def insert_event(
    conn: Connection,
    event_id: str,
    event_type: str,
    body: str,
    now: float,
    realm: str | None = None,
    owner: str | None = None,
) -> None:
    """One INSERT, in the transaction of the change the event reports."""
    conn.execute(
        _INSERT_EVENT,
        {
            "event_id": event_id,
            "event_type": event_type,
            "body": body,
            "now": now,
            "realm": realm,
            "owner": owner,
        },
    )


def _claimable(now: float) -> sa.ColumnElement[bool]:
    return sa.and_(
        events.c.state == PENDING,
        events.c.due <= now,
        sa.or_(events.c.claimed_until.is_(None), events.c.claimed_until <= now),
    )


def claim_events(conn: Connection, node: str, now: float, until: float, limit: int) -> list[Row]:
    """Claim up to `limit` due events for `node` until `until`, oldest first, in one UPDATE.
    On PostgreSQL the rows are picked FOR UPDATE SKIP LOCKED, so nodes claiming at once take
    different events; on SQLite the write transaction is the only writer."""
    due = (
        sa.select(events.c.seq)
        .where(_claimable(now))
        .order_by(events.c.seq)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = conn.execute(
        events.update()
        .where(events.c.seq.in_(due), _claimable(now))
        .values(claimed_by=node, claimed_until=until)
        .returning(
            events.c.seq,
            events.c.id,
            events.c.body,
            events.c.attempts,
            events.c.since,
            events.c.realm,
            events.c.owner,
            events.c.done,
        )
    )
    return sorted(claimed, key=lambda row: row.seq)


def finish_event(
    conn: Connection,
    event_id: str,
    node: str,
    *,
    state: str,
    now: float,
    due: float | None = None,
    error: str | None = None,
    done: str | None = None,
) -> bool:
    """Record an attempt of `node`'s claim: delivered, dead, or pending again at `due`, with
    the recipients that took the event so far (`done`, JSON).
    False when the claim was lost (it expired and another node took the event)."""
    values: dict[str, object] = {
        "state": state,
        "attempts": events.c.attempts + 1,
        "claimed_by": None,
        "claimed_until": None,
        "last_error": error,
        "done": done,
    }
    if state == PENDING:
        values["due"] = due
    else:
        values["finished"] = now
    result = conn.execute(
        events.update()
        .where(events.c.id == event_id, events.c.claimed_by == node, events.c.state == PENDING)
        .values(**values)
    )
    return result.rowcount == 1


def count_burst(conn: Connection, token_id: str, now: float, window_s: float) -> tuple[int, float]:
    """Count one failure of the token in its burst window, a new window when the last one is
    over; returns (failures in the window, its start). Runs in the failure's write
    transaction after count_failure, whose UPDATE holds the token's row until commit, so counts
    of one token never race."""
    row = conn.execute(
        sa.select(failure_bursts.c.window_start, failure_bursts.c.failures).where(
            failure_bursts.c.token_id == token_id
        )
    ).first()
    if row is None:
        conn.execute(
            failure_bursts.insert().values(token_id=token_id, window_start=now, failures=1)
        )
        return 1, now
    start, failures = (row.window_start, row.failures + 1)
    if now - start >= window_s:
        start, failures = now, 1
    conn.execute(
        failure_bursts.update()
        .where(failure_bursts.c.token_id == token_id)
        .values(window_start=start, failures=failures)
    )
    return failures, start


def count_events(conn: Connection, state: str) -> int:
    """Events of one state: the backlog (pending) of /readyz and /metrics, the console's dead."""
    found = conn.execute(sa.select(sa.func.count()).where(events.c.state == state)).scalar()
    return int(found or 0)


def prune_events(conn: Connection, before: float, limit: int) -> int:
    """Delete up to `limit` events delivered before `before`; returns how many."""
    old = (
        sa.select(events.c.seq)
        .where(events.c.state == DELIVERED, events.c.finished < before)
        .limit(limit)
        .scalar_subquery()
    )
    return conn.execute(events.delete().where(events.c.seq.in_(old))).rowcount


def list_events(conn: Connection, state: str | None, limit: int) -> list[Row]:
    """The newest `limit` events, of one state or all."""
    query = sa.select(events).order_by(events.c.seq.desc()).limit(limit)
    if state is not None:
        query = query.where(events.c.state == state)
    return list(conn.execute(query))


def replay_event(conn: Connection, event_id: str, now: float) -> str | None:
    """Make a dead event pending again, its age counted from now. Returns the state it had
    (None: no such event); only a dead one changes."""
    found = conn.execute(sa.select(events.c.state).where(events.c.id == event_id)).scalar()
    if found == DEAD:
        conn.execute(
            events.update()
            .where(events.c.id == event_id)
            .values(state=PENDING, attempts=0, due=now, since=now, finished=None, last_error=None)
        )
    return found


def insert_challenge(
    conn: Connection, state_key: str, user_name: str, client: str, expires: float, now: float
) -> None:
    """Store a pending challenge, and drop those that expired (nobody can use them)."""
    conn.execute(radius_challenges.delete().where(radius_challenges.c.expires <= now))
    conn.execute(
        radius_challenges.insert().values(
            state_key=state_key, user_name=user_name, client=client, expires=expires
        )
    )


def take_challenge(conn: Connection, state_key: str) -> Row | None:
    """Remove the pending challenge of this State and return it (None: there is none). One
    DELETE ... RETURNING: of two nodes presenting the same State at once, one gets the row."""
    return conn.execute(
        radius_challenges.delete()
        .where(radius_challenges.c.state_key == state_key)
        .returning(
            radius_challenges.c.user_name,
            radius_challenges.c.client,
            radius_challenges.c.expires,
        )
    ).first()


def user_pin(conn: Connection, user_id: int) -> str | None:
    """The hash of the user's static PIN; None when the user has none."""
    return conn.execute(
        sa.select(user_pins.c.pin_hash).where(user_pins.c.user_id == user_id)
    ).scalar()


def set_user_pin(conn: Connection, user_id: int, pin_hash: str, now: float) -> None:
    """Give the user a PIN, replacing the one it had."""
    conn.execute(user_pins.delete().where(user_pins.c.user_id == user_id))
    conn.execute(user_pins.insert().values(user_id=user_id, pin_hash=pin_hash, set_at=now))


def clear_user_pin(conn: Connection, user_id: int) -> bool:
    """Take the user's PIN away; False when it had none."""
    return conn.execute(user_pins.delete().where(user_pins.c.user_id == user_id)).rowcount > 0


def insert_console_account(conn: Connection, **values: object) -> None:
    conn.execute(console_accounts.insert().values(**values))


def get_console_account(conn: Connection, name: str) -> Row | None:
    return conn.execute(console_accounts.select().where(console_accounts.c.name == name)).first()


def list_console_accounts(conn: Connection) -> list[Row]:
    return list(conn.execute(console_accounts.select().order_by(console_accounts.c.name)))


def update_console_account(conn: Connection, name: str, **values: object) -> None:
    conn.execute(console_accounts.update().where(console_accounts.c.name == name).values(**values))


def delete_console_sessions_of(conn: Connection, account: str) -> int:
    """End every session of `account`; returns how many there were."""
    return conn.execute(
        console_sessions.delete().where(console_sessions.c.account == account)
    ).rowcount


def console_sign_in_failures_since(
    conn: Connection, keys: Sequence[str], since: float
) -> dict[str, int]:
    """How many failed sign-ins each key has had since `since` (a key with none is absent)."""
    table = console_sign_in_failures
    rows = conn.execute(
        sa.select(table.c.key, sa.func.count())
        .where(table.c.key.in_(list(keys)), table.c.at >= since)
        .group_by(table.c.key)
    )
    return {key: int(count) for key, count in rows}


def add_console_sign_in_failure(
    conn: Connection, keys: Sequence[str], now: float, forget_before: float
) -> list[int]:
    """Count a failed sign-in against each key, deleting failures older than `forget_before`;
    returns the new rows' ids, for `forget_console_sign_in_failure`."""
    table = console_sign_in_failures
    conn.execute(table.delete().where(table.c.at < forget_before))
    ids = []
    for key in keys:
        row = conn.execute(table.insert().values(key=key, at=now).returning(table.c.id)).one()
        ids.append(int(row.id))
    return ids


def forget_console_sign_in_failure(conn: Connection, ids: Sequence[int]) -> None:
    """Take back the failures `add_console_sign_in_failure` counted for a sign-in that passed."""
    table = console_sign_in_failures
    conn.execute(table.delete().where(table.c.id.in_(list(ids))))


def insert_console_session(
    conn: Connection, key_hash: str, account: str, csrf: str, now: float, stale: float
) -> None:
    """Store a new session, and drop sessions not seen since `stale` (nobody can use them)."""
    conn.execute(console_sessions.delete().where(console_sessions.c.seen < stale))
    conn.execute(
        console_sessions.insert().values(
            key_hash=key_hash, account=account, csrf=csrf, created=now, seen=now
        )
    )


def get_console_session(conn: Connection, key_hash: str) -> Row | None:
    return conn.execute(
        console_sessions.select().where(console_sessions.c.key_hash == key_hash)
    ).first()


def touch_console_session(conn: Connection, key_hash: str, now: float) -> None:
    conn.execute(
        console_sessions.update().where(console_sessions.c.key_hash == key_hash).values(seen=now)
    )


def delete_console_session(conn: Connection, key_hash: str) -> str | None:
    """End a session; returns its account's name (None: there was no such session)."""
    return conn.execute(
        console_sessions.delete()
        .where(console_sessions.c.key_hash == key_hash)
        .returning(console_sessions.c.account)
    ).scalar()


# A rate-limit key is (kind, user_name, source), as verifier/rate_limits.py's Key.
RateKey = tuple[str, str, str]
_RATE_KEY = (rate_limits.c.kind, rate_limits.c.user_name, rate_limits.c.source)


_RATE_KEY_IS = sa.and_(
    rate_limits.c.kind == sa.bindparam("key_kind"),
    rate_limits.c.user_name == sa.bindparam("key_user"),
    rate_limits.c.source == sa.bindparam("key_source"),
)
# The rows of every key an attempt by `user_name` from `source` can have, in one statement
# built once (verifier/rate_limits.py's Key kinds: user_source, user, source).
_RATE_ROWS = sa.select(rate_limits).where(
    sa.or_(
        sa.and_(
            rate_limits.c.kind == "user_source",
            rate_limits.c.user_name == sa.bindparam("key_user"),
            rate_limits.c.source == sa.bindparam("key_source"),
        ),
        sa.and_(
            rate_limits.c.kind == "user",
            rate_limits.c.user_name == sa.bindparam("key_user"),
            rate_limits.c.source == "",
        ),
        sa.and_(
            rate_limits.c.kind == "source",
            rate_limits.c.user_name == "",
            rate_limits.c.source == sa.bindparam("key_source"),
        ),
    )
)


def _key_values(key: RateKey) -> dict[str, str]:
    kind, user_name, source = key
    return {"key_kind": kind, "key_user": user_name, "key_source": source}


def lock_user_attempts(conn: Connection, user_name: str) -> None:
    """Make the other attempts for `user_name` wait until this transaction ends (PostgreSQL;
    SQLite has one writer at a time): an attempt reads its rate-limit counts, checks them and
    counts its failure in one transaction, and attempts sent at once on several connections
    would otherwise all read the count before any added to it, and all be tried. Attempts
    for other users never wait for it."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_USER_ATTEMPTS, {"user_key": user_name})


def rate_limit_rows(conn: Connection, user_name: str, source: str) -> list[Row]:
    """The stored counts of an attempt's keys (a key that never failed lately has no row);
    `source` is "" when the attempt's is not known."""
    return list(conn.execute(_RATE_ROWS, {"key_user": user_name, "key_source": source}))


def count_rate_failure(conn: Connection, key: RateKey, now: float, forget_before: float) -> int:
    """Add one failure to the key in one upsert (INSERT ... ON CONFLICT DO UPDATE, on SQLite
    and PostgreSQL alike) and return its new count; a count whose last failure is older than
    `forget_before` starts again at one, and its wait ends. Rows forgotten by then (their wait
    over too) are deleted first, so the table holds only keys that failed lately."""
    conn.execute(
        rate_limits.delete().where(
            rate_limits.c.last_failure < forget_before,
            sa.or_(rate_limits.c.blocked_until.is_(None), rate_limits.c.blocked_until <= now),
        )
    )
    insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    forgotten = rate_limits.c.last_failure < forget_before
    kind, user_name, source = key
    statement = (
        insert(rate_limits)
        .values(
            kind=kind,
            user_name=user_name,
            source=source,
            failures=1,
            last_failure=now,
            blocked_until=None,
        )
        .on_conflict_do_update(
            index_elements=list(_RATE_KEY),
            set_={
                "failures": sa.case((forgotten, 1), else_=rate_limits.c.failures + 1),
                "blocked_until": sa.case((forgotten, None), else_=rate_limits.c.blocked_until),
                "last_failure": now,
            },
        )
        .returning(rate_limits.c.failures)
    )
    return int(conn.execute(statement).scalar_one())


def admit_message(
    conn: Connection, recipient: str, now: float, window_s: float, count: int = 1
) -> tuple[float, int]:
    """Count `count` messages to `recipient` in its window (a new window when the last one is
    over) in one statement, atomic across nodes; returns the window's start and how many
    messages it has counted, these included. The held counts of earlier windows stay for their
    summary."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    over = now - message_windows.c.start >= window_s
    statement = (
        insert(message_windows)
        .values(recipient=recipient, start=now, sent=count)
        .on_conflict_do_update(
            index_elements=[message_windows.c.recipient],
            set_={
                "start": sa.case((over, now), else_=message_windows.c.start),
                "sent": sa.case((over, count), else_=message_windows.c.sent + count),
            },
        )
        .returning(message_windows.c.start, message_windows.c.sent)
    )
    start, sent = conn.execute(statement).one()
    return float(start), int(sent)


def hold_message(
    conn: Connection,
    recipient: str,
    start: float,
    event_type: str,
    language: str,
    count: int = 1,
) -> None:
    """Count `count` messages held back in the recipient's window that began at `start`, by
    type."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    conn.execute(
        insert(held_messages)
        .values(
            recipient=recipient, start=start, event_type=event_type, language=language, count=count
        )
        .on_conflict_do_update(
            index_elements=[
                held_messages.c.recipient,
                held_messages.c.start,
                held_messages.c.event_type,
            ],
            set_={"count": held_messages.c.count + count},
        )
    )


def claim_held(conn: Connection, node: str, now: float, window_s: float, until: float) -> list[Row]:
    """Claim for `node` until `until` the held counts of windows that are over (their summary
    is due) and not claimed by a node still within its claim; drops windows that are over."""
    ended = held_messages.c.start <= now - window_s
    free = sa.or_(held_messages.c.claimed_until.is_(None), held_messages.c.claimed_until < now)
    conn.execute(
        held_messages.update().where(ended, free).values(claimed_by=node, claimed_until=until)
    )
    conn.execute(message_windows.delete().where(message_windows.c.start <= now - window_s))
    return list(
        conn.execute(
            sa.select(held_messages)
            .where(held_messages.c.claimed_by == node, held_messages.c.claimed_until == until)
            .order_by(held_messages.c.recipient, held_messages.c.start)
        )
    )


def drop_held(conn: Connection, node: str, recipient: str, start: float) -> None:
    """Forget a window's held counts once its summary went (only while `node` claims them)."""
    conn.execute(
        held_messages.delete().where(
            held_messages.c.recipient == recipient,
            held_messages.c.start == start,
            held_messages.c.claimed_by == node,
        )
    )


def block_rate_key(conn: Connection, key: RateKey, until: float) -> None:
    """Make the key wait until `until`, unless it already waits longer."""
    conn.execute(_BLOCK, {**_key_values(key), "until": until})


def clear_rate_keys(conn: Connection, keys: Sequence[RateKey]) -> None:
    """Forget these keys' failures and waits (an accepted code)."""
    for key in keys:
        conn.execute(_CLEAR, _key_values(key))


_BLOCK = (
    rate_limits.update()
    .where(
        _RATE_KEY_IS,
        sa.or_(
            rate_limits.c.blocked_until.is_(None),
            rate_limits.c.blocked_until < sa.bindparam("until"),
        ),
    )
    .values(blocked_until=sa.bindparam("until"))
)
_CLEAR = rate_limits.delete().where(_RATE_KEY_IS)
