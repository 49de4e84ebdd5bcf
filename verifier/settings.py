"""The verifier's settings: one typed object, filled from flag > environment > TOML file > default.

Every `serve` option and the store's location live here, so the server, the admin commands and
the Python API read them one way (docs/configuration.md lists them; verifier/options.py gives
each its flag). Environment variables are `BAOLING_` + the setting's name in capitals; the file
(`--config FILE` or `BAOLING_CONFIG`) is TOML whose keys are the settings' names. A refused value
is one SettingsError line naming the setting where it was given: the flag, the variable, or the
file and key.
"""

import difflib
import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from baoling.core.urls import shown_url
from baoling.verifier.commit_deadline import DEFAULT_COMMIT_TIMEOUT_S
from baoling.verifier.constants import (
    DEFAULT_DRIFT_BOUND_PPM,
    DEFAULT_HOTP_WINDOW,
    DEFAULT_LOCKOUT_TZ,
    DEFAULT_MAX_WINDOW_STEPS,
    DEFAULT_WINDOW_STEPS,
    LOCKOUT_AFTER_FAILS,
    MAX_DRIFT_RATE_PPM,
)
from baoling.verifier.engine import Policy
from baoling.verifier.errors import InvalidRequest, VerifierError
from baoling.verifier.inputs import http_url
from baoling.verifier.options import (
    CONFIG_ENV,
    CONFIG_FLAG,
    DEFAULT_AUDIT_ANCHOR_SECONDS,
    DEFAULT_AUDIT_SEAL_SECONDS,
    DEFAULT_CONSOLE_IDLE_SECONDS,
    DEFAULT_CONSOLE_SESSION_SECONDS,
    DEFAULT_EVENTS_AUDIT_VERIFY_SECONDS,
    DEFAULT_EVENTS_BACKLOG_READY,
    DEFAULT_EVENTS_DRIFT_FAR_SECONDS,
    DEFAULT_EVENTS_FAILED_BURST,
    DEFAULT_EVENTS_FAILED_BURST_SECONDS,
    DEFAULT_EVENTS_KEEP_SECONDS,
    DEFAULT_EVENTS_MAX_AGE_SECONDS,
    DEFAULT_EVENTS_RETRY_SECONDS,
    DEFAULT_EVENTS_WEBHOOK_TIMEOUT_SECONDS,
    DEFAULT_HTTP_BODY_TIMEOUT_SECONDS,
    DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS,
    DEFAULT_HTTP_PORT,
    DEFAULT_STORE_MAX_OVERFLOW,
    DEFAULT_STORE_POOL_SIZE,
    ENV_PREFIX,
    NAMES,
    env_var,
    flag,
)
from baoling.verifier.rate_limits import (
    DEFAULT_DELAY_S,
    DEFAULT_MAX_DELAY_S,
    DEFAULT_SOURCE_AFTER,
    DEFAULT_USER_AFTER,
    DEFAULT_USER_SOURCE_AFTER,
    DEFAULT_WINDOW_S,
    RateLimits,
)
from baoling.verifier.user_names import DEFAULT_REALM, check_realm

if TYPE_CHECKING:
    from baoling.verifier.channels_config import EventsConfig
    from baoling.verifier.events import EventRules

MASTER_KEY_FILENAME = "master.key"
SQLITE_FILENAME = "verifier.sqlite3"
AUDIT_ANCHORS_FILENAME = "audit-anchors.jsonl"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# The settings that name a file, and those and the data folder: the paths.
_FILES = (
    "master_key_file",
    "radius_config",
    "ldap_config",
    "events_webhook_secret_file",
    "events_config",
    "audit_anchor_file",
)
_PATHS = ("data_dir", *_FILES)
# The settings that are URLs: shown in errors without their secrets (core/urls.py).
_URLS = ("store_url", "events_webhook_url")
# The most a duration setting in seconds may be: a hundred years. Threads wait for these
# (Event.wait), and a longer wait, `inf` above all, overflows (threading.TIMEOUT_MAX) in the
# thread that waits, after the server has started: the audit sealer died so.
MAX_SECONDS = 100 * 365 * 86400


class SettingsError(VerifierError):
    """A setting's value is refused (the message names the setting where it was given)."""


def default_data_dir() -> Path:
    """~/.local/share/baoling, read when asked (HOME may change after import)."""
    return Path.home() / ".local" / "share" / "baoling"


class Settings(BaseSettings):
    """Where the data lives and how `serve` runs (meanings: verifier/options.py); `load` fills
    it from its sources."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="forbid", frozen=True
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    store_url: str | None = None
    store_commit_timeout_seconds: float = Field(DEFAULT_COMMIT_TIMEOUT_S, gt=0, le=MAX_SECONDS)
    store_pool_size: int = Field(DEFAULT_STORE_POOL_SIZE, ge=1)
    store_max_overflow: int = Field(DEFAULT_STORE_MAX_OVERFLOW, ge=0)
    master_key_file: Path | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(DEFAULT_HTTP_PORT, ge=0, le=65535)
    http_body_timeout_seconds: int = Field(DEFAULT_HTTP_BODY_TIMEOUT_SECONDS, ge=1)
    http_header_timeout_seconds: int = Field(DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS, ge=1)
    radius: bool = False
    radius_config: Path | None = None
    window_steps: int = Field(DEFAULT_WINDOW_STEPS, ge=0)
    hotp_window: int = Field(DEFAULT_HOTP_WINDOW, ge=1)
    lockout_after: int = Field(LOCKOUT_AFTER_FAILS, ge=1)
    lockout_seconds: int | None = Field(None, ge=1)
    lockout_tz: str = DEFAULT_LOCKOUT_TZ
    drift_learning: bool = True
    drift_bound_ppm: float = Field(DEFAULT_DRIFT_BOUND_PPM, ge=0, le=MAX_DRIFT_RATE_PPM)
    max_window_steps: int = Field(DEFAULT_MAX_WINDOW_STEPS, ge=0)
    default_realm: str = DEFAULT_REALM
    ldap_config: Path | None = None
    events_webhook_url: str | None = None
    events_webhook_secret_file: Path | None = None
    events_webhook_timeout_seconds: float = Field(
        DEFAULT_EVENTS_WEBHOOK_TIMEOUT_SECONDS, gt=0, le=MAX_SECONDS
    )
    events_validation_accepted: bool = False
    events_delivery: bool = True
    events_retry_seconds: float = Field(DEFAULT_EVENTS_RETRY_SECONDS, gt=0, le=MAX_SECONDS)
    events_max_age_seconds: float = Field(DEFAULT_EVENTS_MAX_AGE_SECONDS, gt=0, le=MAX_SECONDS)
    events_config: Path | None = None
    events_failed_burst: int = Field(DEFAULT_EVENTS_FAILED_BURST, ge=1)
    events_failed_burst_seconds: float = Field(
        DEFAULT_EVENTS_FAILED_BURST_SECONDS, gt=0, le=MAX_SECONDS
    )
    events_drift_far_seconds: float = Field(DEFAULT_EVENTS_DRIFT_FAR_SECONDS, gt=0, le=MAX_SECONDS)
    events_backlog_ready: int = Field(DEFAULT_EVENTS_BACKLOG_READY, ge=1)
    events_keep_seconds: float = Field(DEFAULT_EVENTS_KEEP_SECONDS, gt=0, le=MAX_SECONDS)
    events_audit_verify_seconds: float = Field(
        DEFAULT_EVENTS_AUDIT_VERIFY_SECONDS, gt=0, le=MAX_SECONDS
    )
    log_format: Literal["text", "json"] = "text"
    audit_seal_seconds: float = Field(DEFAULT_AUDIT_SEAL_SECONDS, gt=0, le=MAX_SECONDS)
    audit_anchor_file: Path | None = None
    audit_anchor_seconds: float = Field(DEFAULT_AUDIT_ANCHOR_SECONDS, ge=0, le=MAX_SECONDS)
    privacyidea_allow: str = ""
    privacyidea_no_detail_on_fail: bool = False
    rate_limit_user_source_after: int = Field(DEFAULT_USER_SOURCE_AFTER, ge=0)
    rate_limit_user_after: int = Field(DEFAULT_USER_AFTER, ge=0)
    rate_limit_source_after: int = Field(DEFAULT_SOURCE_AFTER, ge=0)
    rate_limit_delay_seconds: float = Field(DEFAULT_DELAY_S, gt=0, le=MAX_SECONDS)
    rate_limit_max_delay_seconds: float = Field(DEFAULT_MAX_DELAY_S, gt=0, le=MAX_SECONDS)
    rate_limit_window_seconds: float = Field(DEFAULT_WINDOW_S, gt=0, le=MAX_SECONDS)
    http_trusted_proxies: str = ""
    radius_trusted_proxies: str = ""
    console: bool = True
    console_idle_seconds: int = Field(DEFAULT_CONSOLE_IDLE_SECONDS, ge=1)
    console_session_seconds: int = Field(DEFAULT_CONSOLE_SESSION_SECONDS, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what `load` merged: the precedence is written there, once."""
        return (init_settings,)

    @field_validator(*_PATHS, mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        """An empty path given (a flag, a file's key) is refused: as a Path it would be the
        current folder. An empty BAOLING_ variable is not given at all (env_ignore_empty)."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator(*_FILES)
    @classmethod
    def _not_a_folder(cls, path: Path | None) -> Path | None:
        if path is not None and path.expanduser().is_dir():
            raise ValueError("a folder, not a file")
        return path

    @field_validator("data_dir")
    @classmethod
    def _a_folder(cls, path: Path) -> Path:
        path = path.expanduser()
        try:
            path.stat()
        except FileNotFoundError:
            return path  # made when the store is opened (verifier/service.py)
        except OSError as exc:  # a name too long, a file on the way: no folder can be there
            raise ValueError(f"cannot be a folder ({exc.strerror or exc})") from None
        if not path.is_dir():
            raise ValueError("not a folder")
        return path

    @field_validator("lockout_tz")
    @classmethod
    def _a_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone such as UTC or Asia/Shanghai") from None
        return zone

    @field_validator("default_realm")
    @classmethod
    def _a_realm(cls, realm: str) -> str:
        try:
            return check_realm(realm)
        except InvalidRequest as exc:
            raise ValueError(str(exc)) from None

    @field_validator("events_webhook_url")
    @classmethod
    def _a_webhook_url(cls, url: str | None) -> str | None:
        return None if url is None else http_url(url)

    def events(self) -> "EventsConfig":
        """The events channels file (verifier/channels_config.py), or an empty one."""
        from baoling.verifier.channels_config import EventsConfig, load

        return EventsConfig() if self.events_config is None else load(self.events_config)

    def unsubscribed_types(self) -> frozenset[str]:
        """What a channel no subscription narrows takes: every type, `validation.accepted`
        only when asked for (one more row per accepted code)."""
        from baoling.verifier.events import EVENT_TYPES, OPT_IN

        opted_out = frozenset() if self.events_validation_accepted else OPT_IN
        return frozenset(EVENT_TYPES) - opted_out

    def per_user_types(self) -> frozenset[str]:
        """The types recorded for users who opted in even where no channel takes them for
        everyone (events.TOLD_WHEN_OPTED_IN): with a subscription that messages users."""
        from baoling.verifier.events import TOLD_WHEN_OPTED_IN

        config = self.events()
        to_users = any(s.to == "user" for s in config.subscriptions)
        return TOLD_WHEN_OPTED_IN - self.event_types() if to_users else frozenset()

    def event_types(self) -> frozenset[str]:
        """The event types the outbox records: those some channel takes (none without one)."""
        webhook = self.events_webhook_url is not None
        return self.events().types(webhook, self.unsubscribed_types())

    def event_rules(self) -> "EventRules":
        """When the events with a threshold are reported."""
        from baoling.verifier.events import EventRules

        return EventRules(
            failed_burst=self.events_failed_burst,
            failed_burst_window_s=self.events_failed_burst_seconds,
            drift_far_s=self.events_drift_far_seconds,
        )

    @field_validator("privacyidea_allow", "http_trusted_proxies", "radius_trusted_proxies")
    @classmethod
    def _networks(cls, text: str) -> str:
        for word in _words(text):
            try:
                ipaddress.ip_network(word)
            except ValueError:
                raise ValueError(
                    f"{word!r} is not an IP address or network (such as 10.0.0.1 or 10.0.0.0/24)"
                ) from None
        return text

    @property
    def privacyidea_networks(self) -> tuple[IPNetwork, ...]:
        """The addresses whose privacyIDEA-style requests need no API key."""
        return _parse_networks(self.privacyidea_allow)

    @property
    def http_proxy_networks(self) -> tuple[IPNetwork, ...]:
        """The HTTP peers whose X-Forwarded-For names the client (docs/users.md)."""
        return _parse_networks(self.http_trusted_proxies)

    @property
    def radius_proxy_networks(self) -> tuple[IPNetwork, ...]:
        """The RADIUS clients whose NAS-IP-Address names the NAS (docs/users.md)."""
        return _parse_networks(self.radius_trusted_proxies)

    def rate_limits(self) -> RateLimits:
        return RateLimits(
            user_source_after=self.rate_limit_user_source_after,
            user_after=self.rate_limit_user_after,
            source_after=self.rate_limit_source_after,
            delay_s=self.rate_limit_delay_seconds,
            max_delay_s=self.rate_limit_max_delay_seconds,
            window_s=self.rate_limit_window_seconds,
        )

    @property
    def key_file(self) -> Path:
        return self.master_key_file or self.data_dir / MASTER_KEY_FILENAME

    @property
    def anchor_file(self) -> Path | None:
        """Where a serving node appends the audit chain's signed head; None when it does not."""
        if self.audit_anchor_seconds == 0:
            return None
        return self.audit_anchor_file or self.data_dir / AUDIT_ANCHORS_FILENAME

    @property
    def url(self) -> str:
        """The store's SQLAlchemy URL: store_url, else the SQLite file in the data folder."""
        from baoling.verifier.store import sqlite_url  # SQLAlchemy only for who opens a store

        return self.store_url or sqlite_url(str(self.data_dir / SQLITE_FILENAME))

    def policy(self) -> Policy:
        return Policy(
            window_steps=self.window_steps,
            hotp_window=self.hotp_window,
            lockout_after_fails=self.lockout_after,
            lockout_seconds=self.lockout_seconds,
            lockout_tz=self.lockout_tz,
            drift_learning=self.drift_learning,
            drift_bound_ppm=self.drift_bound_ppm,
            max_window_steps=self.max_window_steps,
        )


def _words(text: str) -> list[str]:
    """A list setting's items: separated by commas, spaces or both."""
    return text.replace(",", " ").split()


def _parse_networks(text: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(word) for word in _words(text))


def load(
    given: Mapping[str, Any] | None = None,
    *,
    config: Path | None = None,
    given_by_flags: bool = False,
) -> Settings:
    """The settings: `given` (flags, or a Python caller's arguments) over the environment over
    the TOML file (`config`, else $BAOLING_CONFIG) over the defaults."""
    given = {name: value for name, value in (given or {}).items() if value is not None}
    sources: list[tuple[dict[str, Any], Callable[[str], str]]] = []
    if config is not None:
        sources.append((_read_file(config, CONFIG_FLAG), lambda name: f"{config}: {name}"))
    elif os.environ.get(CONFIG_ENV, "").strip():
        path = Path(os.environ[CONFIG_ENV].strip())
        sources.append((_read_file(path, CONFIG_ENV), lambda name: f"{path}: {name}"))
    sources.append((EnvSettingsSource(Settings)(), env_var))
    sources.append((given, flag if given_by_flags else str))
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    for found, label in sources:  # lowest precedence first: each source overrides the ones before
        for name, value in found.items():
            values[name] = value
            where[name] = label(name)
    try:
        return Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0])
        value = error["input"]
        shown = repr(str(value) if isinstance(value, Path) else value)
        if name in _URLS and isinstance(value, str):  # a password, a webhook's secret path
            shown = repr(shown_url(value, path=name != "events_webhook_url"))
        raise SettingsError(f"{where[name]}: {_reason(error)}: {shown}") from None


def _read_file(path: Path, named_by: str) -> dict[str, Any]:
    """The TOML file's settings; a missing or malformed file or an unknown key is an error."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{named_by}: cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    for key in data:
        if key not in NAMES:
            close = difflib.get_close_matches(key, NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingsError(f"{path}: unknown setting {key!r}{hint}")
    return data


def _reason(error: Mapping[str, Any]) -> str:
    """pydantic's error, said shortly."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "not a valid integer"
    if kind in ("float_parsing", "float_type"):
        return "not a number"
    if kind == "greater_than":
        return f"must be more than {ctx['gt']}"
    if kind in ("bool_parsing", "bool_type"):
        return "not true or false"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "value_error":
        return str(ctx["error"])
    return str(error["msg"]).lower()
