"""The verifier's Python API (docs/verifier.md, "Python API"): what the HTTP API, RADIUS, the
admin CLI and embedding servers call.

`Verifier` opens the store and the master key, then hands each call to the module whose one
job it is: token administration (verifier/tokens.py), checking codes (verifier/validation.py),
API keys (verifier/api_keys.py), the master key (verifier/master_key.py) and the audit trail
(verifier/audit_trail.py). Their SQL is in verifier/store.py, and the audit chain's in
verifier/audit.py, the audit store.
"""

import shutil
import time
from collections.abc import Collection, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from baoling.core.limits import DEFAULT_ALGORITHM, DEFAULT_DIGITS, DEFAULT_PERIOD_S
from baoling.verifier import settings, store
from baoling.verifier.api_keys import ApiKey, ApiKeys
from baoling.verifier.audit import AuditReport
from baoling.verifier.audit_trail import AuditTrail
from baoling.verifier.backup_codes import DEFAULT_BACKUP_CODES, BackupCodes
from baoling.verifier.bulk_import import BulkImport
from baoling.verifier.challenges import Challenges
from baoling.verifier.console.accounts import ConsoleAccounts
from baoling.verifier.constants import MIN_FREE_DATA_BYTES
from baoling.verifier.directory_sync import DirectorySync
from baoling.verifier.engine import Decision, Policy, UserDecision
from baoling.verifier.errors import StoreError
from baoling.verifier.events import EventRules
from baoling.verifier.import_formats import read_import
from baoling.verifier.ldap_resolver import open_directories
from baoling.verifier.lifecycle import Lifecycle
from baoling.verifier.logins import Login, Logins
from baoling.verifier.master_key import CurrentKey
from baoling.verifier.outbox import Outbox
from baoling.verifier.rate_limits import RateLimits
from baoling.verifier.resolvers import LocalResolver, RealmResolvers
from baoling.verifier.tokens import TokenAdmin
from baoling.verifier.user_pins import UserPins
from baoling.verifier.users import PRIMARY, UserAdmin
from baoling.verifier.validation import Validation
from baoling.verifier.validation_metrics import ValidationCounts


class Verifier:
    """Checks codes and administers tokens in one store (SQLite file or PostgreSQL)."""

    def __init__(
        self,
        store_url: str | None = None,
        *,
        store_commit_timeout_s: float | None = None,
        store_pool: tuple[int, int] | None = None,
        data_dir: Path | None = None,
        master_key_file: Path | None = None,
        policy: Policy | None = None,
        default_realm: str | None = None,
        ldap_config: Path | None = None,
        event_types: Collection[str] | None = None,
        event_rules: EventRules | None = None,
        rate_limits: RateLimits | None = None,
        per_user_types: Collection[str] | None = None,
    ) -> None:
        """Where the data lives, the realm of names given without one and the event types the
        outbox records (docs/events.md): the arguments given, else the settings
        (verifier/settings.py: BAOLING_ variables, the BAOLING_CONFIG file, the defaults).
        `policy` and `rate_limits` (verifier/rate_limits.py) are their defaults unless given."""
        self.policy = policy or Policy()
        where = settings.load(
            {
                "store_url": store_url,
                "store_commit_timeout_seconds": store_commit_timeout_s,
                "data_dir": data_dir,
                "master_key_file": master_key_file,
                "default_realm": default_realm,
                "ldap_config": ldap_config,
            }
        )
        self.default_realm = where.default_realm
        self._data_dir = where.data_dir
        directories = open_directories(where.ldap_config)  # a bad file stops before the store
        types = where.event_types() if event_types is None else frozenset(event_types)
        per_user = where.per_user_types() if per_user_types is None else frozenset(per_user_types)
        try:
            where.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:  # before the store: SQLite would only say "unable to open"
            raise StoreError(
                f"cannot create the data folder {where.data_dir}: {exc.strerror or exc}"
            ) from None
        pool = store_pool or (where.store_pool_size, where.store_max_overflow)
        self._store = store.Store(where.url, where.store_commit_timeout_seconds, pool)
        try:
            self._store.prepare()
            self._key = CurrentKey(self._store, where.key_file)
        except BaseException:
            self._store.close()
            raise
        self.outbox = Outbox(self._store, types, event_rules or where.event_rules(), per_user)
        self._tokens = TokenAdmin(self._store, self._key, self.outbox)
        self._resolver = LocalResolver(self._store, self.default_realm)
        self._realms = RealmResolvers(self._resolver, directories)
        # Every door's answers to code checks, counted by verifier/validation.py; /metrics
        # shows them (verifier/http/app.py).
        self.validation_counts = ValidationCounts()
        self._validation = Validation(
            self._store,
            self._key,
            self.policy,
            self._realms,
            self.outbox,
            rate_limits or RateLimits(),
            self.validation_counts,
        )
        self._api_keys = ApiKeys(self._store, self.outbox)
        self._challenges = Challenges(self._store)
        self._audit = AuditTrail(self._store, self.outbox, self._key)
        self._pins = UserPins(self._store)
        self._logins = Logins(self._store, self._realms, self._validation, self._challenges)
        self._users = UserAdmin(
            self._store, self._resolver, self._realms, self._validation.prove, self.outbox
        )
        self._lifecycle = Lifecycle(self._store, self._realms, self.outbox)
        self._backup_codes = BackupCodes(self._store, self.policy.lockout_tz, self.outbox)
        self._directory_sync = DirectorySync(self._store, self._realms)
        self._bulk_import = BulkImport(
            self._store, self._tokens, self._realms, self._users.parse, self.outbox
        )
        # The web console's accounts and sessions (docs/console.md).
        self.console = ConsoleAccounts(self._store, self._validation)

    def close(self) -> None:
        """Release the database and directory connections; every call after it raises
        StoreError, and a second close does nothing."""
        self._realms.close()
        self._store.close()

    # -------------------------------------------------------------------- tokens

    def enrol(
        self,
        token_id: str,
        secret: bytes | None = None,
        *,
        algorithm: str = DEFAULT_ALGORITHM,
        digits: int = DEFAULT_DIGITS,
        period_s: int = DEFAULT_PERIOD_S,
        issuer: str = "",
        label: str = "",
        kind: str = "totp",
        counter: int = 0,
        device_pin: bool = False,
        now: float | None = None,
    ) -> str:
        """Enrol a TOTP token, or with `kind` "hotp" an HOTP (counter) token whose next code is
        the one at `counter` (`period_s` does not apply); returns its otpauth URI (holds the
        secret: show it once). `device_pin`: the token asks for a PIN before it shows a code,
        so its accepts carry "pin" in `amr` (docs/verifier.md). `now`, as for validate: the
        enrolment time, from which the reach of its first code grows (docs/engine.md).

        Without `secret`, one as long as the algorithm's hash output is generated
        (RFC 4226 asks for at least 128 bits).
        """
        return self._tokens.enrol(
            token_id,
            secret,
            algorithm=algorithm,
            digits=digits,
            period_s=period_s,
            issuer=issuer,
            label=label,
            kind=kind,
            counter=counter,
            device_pin=device_pin,
            now=now,
        )

    def import_pskc(
        self, data: bytes, *, key: bytes | None = None, password: str | None = None
    ) -> list[str]:
        """Enrol every TOTP and HOTP key of a PSKC file in one transaction: all, or none on any
        error. Returns the token ids (verifier/pskc_import.py); a key's TimeDrift starts its
        drift, an HOTP key's Counter its counter."""
        return self._tokens.import_pskc(data, key=key, password=password)

    def import_tokens(
        self,
        data: bytes,
        *,
        file_format: str,
        user_map: bytes | None = None,
        key: bytes | None = None,
        password: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Import a file of tokens with their users, all or nothing: `file_format` "csv" (a
        token CSV), "uris" (a CSV of otpauth URIs) or "pskc" (with a CSV `user_map`; `key` or
        `password` for an encrypted file). With `dry_run`, only say what would change
        (docs/users.md, "Bulk import"). A refused line raises BulkImportError naming it."""
        return self._bulk_import.run(
            read_import(data, file_format, user_map=user_map, key=key, password=password),
            source=f"import-{file_format}",
            dry_run=dry_run,
        )

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every token's settings and state, without secrets, by id."""
        now = time.time()
        return [self._with_lock(info, now) for info in self._tokens.list_tokens()]

    def show(self, token_id: str) -> dict[str, Any]:
        """A token's settings and state, without its secret."""
        return self._with_lock(self._tokens.show(token_id), time.time())

    def _with_lock(self, info: dict[str, Any], now: float) -> dict[str, Any]:
        """`info` with `locked`: whether its lock holds now (Policy.locked), which
        `locked_until` alone does not say (a lock that has ended keeps its time)."""
        return {**info, "locked": self.policy.locked(info["locked_until"], now)}

    def disable(self, token_id: str) -> None:
        self._tokens.disable(token_id)

    def enable(self, token_id: str) -> None:
        self._tokens.enable(token_id)

    def unlock(self, token_id: str) -> None:
        """Clear the failure count and any lock."""
        self._tokens.unlock(token_id)

    def reset_drift(self, token_id: str) -> None:
        """Forget the learned clock offset and rate, as after the token's clock was set again:
        the window is centred on the verifier's own time until new codes teach it again."""
        self._tokens.reset_drift(token_id)

    def delete(self, token_id: str) -> None:
        self._tokens.delete(token_id)

    # --------------------------------------------------------------------- users

    def add_user(
        self, user: str, *, display_name: str = "", email: str = "", phone: str = ""
    ) -> dict[str, Any]:
        """Add a local user (`name@realm`, or `name` in the default realm); returns it."""
        return self._users.add(user, display_name=display_name, email=email, phone=phone)

    def list_users(self) -> list[dict[str, Any]]:
        """Every user with its state and tokens, by realm and name."""
        return self._users.list_users()

    def show_user(self, user: str) -> dict[str, Any]:
        """A user's attributes, state and tokens (with their roles)."""
        return self._users.show(user)

    def refresh_users(self, user: str | None = None) -> list[dict[str, Any]]:
        """Copy the display name, e-mail and phone of `user`, or of every active directory
        user, from the directory again; deactivate those whose entry is gone or re-created
        (verifier/directory_sync.py). Returns what became of each."""
        name = None if user is None else self._users.parse(user)
        return self._directory_sync.refresh(name)

    def set_notify_accepted(self, user: str, on: bool) -> dict[str, Any]:
        """Whether the user hears of every accepted code of their tokens (docs/events.md,
        "validation.accepted"), whatever their realm's subscriptions say."""
        return self._users.set_notify_accepted(user, on)

    def set_login_rounds(self, user: str, rounds: str) -> dict[str, Any]:
        """How the user logs in at RADIUS: "client" (as its client entry says, the default),
        "one" (first factor and code in one password) or "two" (always challenged for the
        code); docs/verifier.md, "Password, then code"."""
        return self._users.set_login_rounds(user, rounds)

    def deactivate_user(self, user: str) -> dict[str, Any]:
        """Refuse every validation for the user from now on; its tokens stay assigned."""
        return self._users.deactivate(user)

    def assign(
        self,
        token_id: str,
        user: str,
        role: str = PRIMARY,
        *,
        code: str | None = None,
        override: bool = False,
    ) -> dict[str, Any]:
        """Give a token to a user as its `primary` or `spare` token; returns the user. `code`
        is a code the token shows now (proof of possession, used up like a validated code);
        `override` assigns without one, audited as such. PossessionNotProven when neither is
        given or the token refuses the code (docs/users.md)."""
        return self._users.assign(token_id, user, role, code=code, override=override)

    def unassign(self, token_id: str) -> None:
        """Take a token from its user; the token stays enrolled."""
        self._users.unassign(token_id)

    # ---------------------------------------------------------------- lifecycle

    def report_lost(self, token_id: str) -> dict[str, Any]:
        """Disable a token its user lost; returns {token, user, enabled}. Then give the user
        backup codes (`issue_backup_codes`) or make its spare the primary token
        (`activate_spare`)."""
        return self._lifecycle.report_lost(token_id)

    def token_found(self, token_id: str) -> dict[str, Any]:
        """Enable a lost token that is back and revoke its user's backup codes; returns
        {token, user, enabled, backup_codes_revoked}."""
        return self._lifecycle.found(token_id)

    def activate_spare(self, token_id: str) -> dict[str, Any]:
        """Make a user's spare token its primary one, enabled; returns {token, user, role,
        enabled}. LifecycleConflict when the token is not a spare of an active user."""
        return self._lifecycle.activate_spare(token_id)

    def issue_backup_codes(
        self, user: str, expires: date, count: int = DEFAULT_BACKUP_CODES
    ) -> tuple[list[str], float]:
        """`count` (1 to 10) one-time backup codes for an active user, valid through the day
        `expires` (in the lockout_tz time zone, at most 90 days ahead), replacing any it had.
        Returns the codes, to be shown once (only slow hashes are stored), and the Unix time
        they expire. A validation by user name accepts each once (docs/users.md)."""
        return self._backup_codes.issue(self._users.parse(user), expires, count)

    def revoke_backup_codes(self, user: str) -> int:
        """Revoke the user's backup codes; returns how many were still usable."""
        return self._backup_codes.revoke(self._users.parse(user))

    def reactivate_user(self, user: str, *, keep_tokens: bool = False) -> dict[str, Any]:
        """Let a deactivated user validate again (a directory user must be back in its
        directory). Its tokens are unassigned unless `keep_tokens`, never for a re-created
        directory account; returns {user, tokens_kept, tokens_unassigned}."""
        return self._lifecycle.reactivate(self._users.parse(user), keep_tokens=keep_tokens)

    def set_user_pin(self, user: str, pin: str) -> None:
        """Give the user a static PIN (4 to 64 printable characters), replacing one it had;
        stored as a slow hash, never shown or logged (docs/users.md, "PINs")."""
        self._pins.set(self._users.parse(user), pin)

    def clear_user_pin(self, user: str) -> bool:
        """Take the user's PIN away; False when it had none."""
        return self._pins.clear(self._users.parse(user))

    def user_has_pin(self, user: str) -> bool:
        return self._pins.has_pin(self._users.parse(user))

    # --------------------------------------------------------------- validation

    def validate(self, token_id: str, code: str, now: float | None = None) -> bool:
        """True when `code` is accepted. Unknown tokens raise UnknownToken."""
        return self._validation.check(token_id, code, now).accepted

    def check(self, token_id: str, code: str, now: float | None = None) -> Decision:
        """The engine's decision for `code`, applied to the store, with its reason."""
        return self._validation.check(token_id, code, now)

    def validate_user(
        self, user: str, code: str, now: float | None = None, source: str | None = None
    ) -> bool:
        """True when `code` is accepted for one of the user's active tokens (`name@realm`, or
        `name` in the default realm). An unknown realm or user, a deactivated user and one
        without tokens are rejected, with the reason in the audit trail; a malformed name
        raises InvalidRequest (docs/users.md). `source`, the client's address, is what the
        rate limits count by besides the user (docs/users.md, "Abuse control")."""
        return self.check_user(user, code, now, source).accepted

    def check_user(
        self, user: str, code: str, now: float | None = None, source: str | None = None
    ) -> UserDecision:
        """The engine's decision for `code` given with a user name, applied, with its reason
        (rate_limited while one of the attempt's rate-limit keys waits)."""
        return self._validation.check_user(self._users.parse(user), code, now, source)

    def resync(self, token_id: str, code1: str, code2: str, now: float | None = None) -> bool:
        """Find two consecutive codes in the wide window and move the token's offset there."""
        return self._validation.resync(token_id, code1, code2, now)

    def wrong_pin(self, token_id: str, now: float | None = None) -> Decision:
        """Count a wrong or missing static PIN (checked by a front end such as RADIUS) as one
        failed attempt, audited with reason "wrong_pin"; the PIN itself never reaches here."""
        return self._validation.wrong_pin(token_id, now)

    # ------------------------------------------------- password-and-code logins

    def login(
        self,
        user: str,
        password: str,
        *,
        door: str,
        two_rounds: bool,
        timeout_s: float,
        source: str | None = None,
    ) -> Login:
        """A login by user name through a door that carries a password (verifier/logins.py):
        first factor and code in one round, or with `two_rounds` the first factor alone,
        answered by a challenge; rate-limited by user and by the client's address `source`.
        A malformed name raises InvalidRequest."""
        return self._logins.login(
            self._users.parse(user),
            password,
            door=door,
            two_rounds=two_rounds,
            timeout_s=timeout_s,
            source=source,
        )

    def login_either(
        self, user: str, password: str, *, door: str, timeout_s: float, source: str | None = None
    ) -> Login:
        """privacyIDEA's reading: the first factor alone earns a challenge, with a code
        appended it is one round."""
        return self._logins.login_either(
            self._users.parse(user), password, door=door, timeout_s=timeout_s, source=source
        )

    def answer_challenge(
        self, state: bytes, user: str, code: str, *, door: str, source: str | None = None
    ) -> Login:
        """The second round of a login: the State `login` issued, then the code."""
        return self._logins.answer(state, self._users.parse(user), code, door=door, source=source)

    # ------------------------------------------------------- RADIUS challenges

    def issue_challenge(self, user_name: str, client: str, timeout_s: float) -> bytes:
        """A random single-use State for a two-round login of `user_name` through RADIUS
        client `client`, kept in the store (as its hash) for `timeout_s` seconds."""
        return self._challenges.issue(user_name, client, timeout_s)

    def redeem_challenge(self, state: bytes, user_name: str, client: str) -> str | None:
        """Use up a State: None when it was issued to this user and client and has not
        expired, else why it is refused (verifier/radius_challenge.py)."""
        return self._challenges.redeem(state, user_name, client)

    # -------------------------------------------------------------------- events

    def list_events(self, state: str | None = None) -> list[dict[str, Any]]:
        """The newest events of the outbox, of one state (pending, delivered, dead) or all."""
        return self.outbox.list_events(state)

    def replay_event(self, event_id: str) -> None:
        """Deliver a dead event again; its maximum age counts from now."""
        self.outbox.replay(event_id)

    # ---------------------------------------------------------------- master key

    def rotate_key(self) -> None:
        """Re-encrypt every secret under a new master key, in one transaction
        (verifier/master_key.py says how a crash or another node is handled)."""
        self._key.rotate()

    # ------------------------------------------------------------------ API keys

    def create_api_key(self, name: str, scopes: Sequence[str]) -> str:
        """A new API key with `scopes` (validate, helpdesk, admin: verifier/api_keys.py);
        shown once, only its SHA-256 is stored."""
        return self._api_keys.create(name, scopes)

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Every API key, revoked ones too: id, name, scopes, created, revoked; never a key."""
        return self._api_keys.list_keys()

    def revoke_api_key(self, name: str) -> str:
        """Revoke the live API key named `name` for good; returns its id (verifier/api_keys.py)."""
        return self._api_keys.revoke(name)

    def check_api_key(self, key: str, scope: str) -> bool:
        """True when `key` is a stored API key that has `scope`."""
        return self._api_keys.check(key, scope)

    def find_api_key(self, key: str) -> ApiKey | None:
        """The stored API key `key` is (id, name, scopes), or None."""
        return self._api_keys.find(key)

    def record_forbidden(self, key: ApiKey, method: str, path: str, needs: str) -> None:
        """Audit a request `key` made to a route that needs the scope `needs`."""
        self._api_keys.refused(key, method, path, needs)

    # --------------------------------------------------------------------- audit

    def audit(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` audit rows, newest first."""
        return self._audit.recent(limit)

    def search_audit(self, **filters: Any) -> list[dict[str, Any]]:
        """The newest audit rows matching token, action, since, until, detail (a dict of
        fields such as user or console_account) and limit, newest first."""
        return self._audit.search(**filters)

    def validation_results(self, since: float) -> list[tuple[float, str | None]]:
        """(time, "accept" or "reject") of every validation since `since`, oldest first."""
        return self._audit.results_since("validate", since)

    def readiness(self, backlog_limit: int) -> dict[str, str]:
        """What /readyz reports (docs/operations.md): the store answers, its schema is the one
        this code needs, fewer than `backlog_limit` events wait, the data folder's volume has
        room; each "ok" or the problem."""
        try:
            version = self._store.version()
            backlog = self.outbox.backlog()
        except StoreError as exc:
            return {"store": str(exc)}
        schema = "ok"
        if version != store.SCHEMA_VERSION:
            schema = (
                f"the store's schema is version {version}, this code needs {store.SCHEMA_VERSION}"
            )
        waiting = (
            "ok"
            if backlog < backlog_limit
            else f"{backlog} events wait for delivery (limit {backlog_limit})"
        )
        checks = {"store": "ok", "schema": schema, "events_backlog": waiting}
        return {**checks, "data_folder": self._data_room()}

    def _data_room(self) -> str:
        """ "ok", or why the data folder's volume cannot take writes: reads alone (all /readyz
        does otherwise) still work on a full disk, where every validation fails."""
        try:
            free = shutil.disk_usage(self._data_dir).free
        except OSError as exc:
            return f"cannot read the data folder {self._data_dir}: {exc.strerror or exc}"
        if free < MIN_FREE_DATA_BYTES:
            return f"its volume has {free} bytes free (at least {MIN_FREE_DATA_BYTES} needed)"
        return "ok"

    def verify_audit(
        self, archives: Sequence[Path] = (), anchors: Path | None = None
    ) -> AuditReport:
        """Seal the rows appended so far and check the hash chain, through `archives` (oldest
        first, from the first ever written) and on through the database, and against the
        anchors file `anchors`; `ok` is False with the first problem if broken."""
        return self._audit.verify(archives, anchors)

    def last_audit_verify(self) -> tuple[float, AuditReport] | None:
        """When this process last verified the audit chain (verify_audit), and the report;
        None before its first verify."""
        return self._audit.last_verified

    def seal_audit(self, *, wait: bool = True) -> int:
        """Chain the audit rows appended so far (a serving node does it every
        audit_seal_seconds); returns how many. `wait` False leaves it to a node sealing now."""
        return self._audit.seal(wait=wait)

    def anchor_audit(self, path: Path) -> str | None:
        """Append the audit chain's head, signed, to the anchors file `path` (a serving node
        does it every audit_anchor_seconds); None when it has not moved since the last one."""
        return self._audit.anchor(path)

    def archive_audit(self, path: Path, *, before: float) -> int:
        """Move the audit rows written before `before` (Unix time) to a new file at `path`;
        returns how many (0: nothing that old, and no file). The chain is verified first, and
        the file is on disk before any row is deleted (docs/operations.md, "Archiving the
        audit trail")."""
        return self._audit.archive(path, before=before)
