"""The events channels file (the `events_config` setting; docs/events.md, "Channels"): the SMTP
server, the SMS gateway, the syslog collector, which events go where (subscriptions, per event
type and per realm), message templates, and the per-recipient rate limit.

Read when the settings are used; a wrong value, an unknown template placeholder or a
subscription to a channel the file does not set up is one SettingsError line naming the file
and the key. Passwords and gateway secrets are read from files here and never shown.
"""

import tomllib
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from baoling.verifier.events import EVENT_TYPES, OPT_IN
from baoling.verifier.inputs import http_url, mail_address
from baoling.verifier.settings import SettingsError
from baoling.verifier.templates import (
    BUILT_IN,
    LANGUAGES,
    MESSAGE_TYPES,
    placeholders,
    unknown_placeholders,
)

CHANNELS = ("webhook", "email", "sms", "syslog")
# Channels that reach a person: they need recipients, and the rate limit applies to them.
PERSONAL = ("email", "sms")
DEFAULT_TIMEOUT_S = 10.0
# At most this many messages per recipient per window; the rest are counted and summed up in
# one message when the window ends (docs/events.md, "Alert hygiene").
DEFAULT_RATE_LIMIT = 5
DEFAULT_RATE_WINDOW_S = 300.0
SMS_PLACEHOLDERS = ("to", "text", "secret")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _read_secret(path: Path, key: str) -> str:
    """The first line of a secret file; the message names the key and file, never the value."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SettingsError(f"cannot read {key} {path}: {exc.strerror or exc}") from None
    if not lines or not lines[0]:
        raise SettingsError(f"{key} {path} is empty")
    return lines[0]


class SmtpSettings(_Strict):
    """The mail server e-mail is sent through."""

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    # starttls: plain connection upgraded by STARTTLS (port 587); tls: TLS from the start (465).
    security: Literal["starttls", "tls", "none"] = "starttls"
    ca_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None
    sender: str = Field(min_length=3)
    timeout_seconds: float = Field(DEFAULT_TIMEOUT_S, gt=0)

    @field_validator("sender")
    @classmethod
    def _one_sender(cls, sender: str) -> str:
        """One address, with a display name or not: a line break would add headers (and make
        every message fail)."""
        try:
            if not sender.isprintable():
                raise ValueError
            mail_address(parseaddr(sender)[1])
        except ValueError:
            raise ValueError(
                f"{sender!r} is not one e-mail address (with a display name or not)"
            ) from None
        return sender

    @model_validator(mode="after")
    def _auth(self) -> "SmtpSettings":
        if (self.username is None) != (self.password_file is None):
            raise ValueError("give both username and password_file, or neither")
        if self.username is not None and self.security == "none":  # smtplib would log in
            raise ValueError(
                "a username needs security starttls or tls (none sends its password in clear)"
            )
        return self

    def password(self) -> str | None:
        if self.password_file is None:
            return None
        return _read_secret(self.password_file, "smtp.password_file")


class SmsSettings(_Strict):
    """A generic HTTP SMS gateway: `params` are sent as JSON, a form or the query string, each
    value a template of ${to}, ${text} and ${secret} (the secret file's first line)."""

    url: str
    method: Literal["POST", "GET"] = "POST"
    encoding: Literal["json", "form", "query"] = "json"
    params: dict[str, str] = Field(min_length=1)
    headers: dict[str, str] = {}
    secret_file: Path | None = None
    timeout_seconds: float = Field(DEFAULT_TIMEOUT_S, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return http_url(url)

    @model_validator(mode="after")
    def _templates(self) -> "SmsSettings":
        for where, templates in (("params", self.params), ("headers", self.headers)):
            for name, template in templates.items():
                _check_template(f"{where}.{name}", template, SMS_PLACEHOLDERS)
        return self

    def secret(self) -> str:
        if self.secret_file is None:
            return ""
        return _read_secret(self.secret_file, "sms.secret_file")


class SyslogSettings(_Strict):
    """A syslog collector (a SIEM) taking RFC 5424 messages over UDP or TCP."""

    host: str = Field(min_length=1)
    port: int = Field(514, ge=1, le=65535)
    protocol: Literal["udp", "tcp"] = "udp"
    # 10 is authpriv (RFC 5424, table 1): security and authorisation messages.
    facility: int = Field(10, ge=0, le=23)
    app_name: str = Field("baoling", pattern=r"^[!-~]{1,48}$")
    timeout_seconds: float = Field(DEFAULT_TIMEOUT_S, gt=0)


class Subscription(_Strict):
    """Which events one channel gets: `events` (default: all but the opt-in ones), of tokens
    of users in `realms` (default: any realm, and tokens without a user), sent `to` the token's
    user ("user": the directory's e-mail or phone) or to a list of addresses, in `language`."""

    channel: Literal["webhook", "email", "sms", "syslog"]
    events: list[str] | None = None
    realms: list[str] | None = None
    to: Literal["user"] | list[str] | None = None
    language: str = "en"

    @field_validator("events")
    @classmethod
    def _known_events(cls, names: list[str] | None) -> list[str] | None:
        for name in names or ():
            if name not in EVENT_TYPES:
                raise ValueError(f"unknown event type {name!r} (docs/events.md lists them)")
        return names

    @field_validator("language")
    @classmethod
    def _known_language(cls, language: str) -> str:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        return language

    @model_validator(mode="after")
    def _recipients(self) -> "Subscription":
        if self.channel in PERSONAL and not self.to:
            raise ValueError(f'an {self.channel} subscription needs to = "user" or addresses')
        if self.channel not in PERSONAL and self.to is not None:
            raise ValueError(f"a {self.channel} subscription has no recipients: drop `to`")
        if self.channel == "email" and isinstance(self.to, list):
            for address in self.to:
                mail_address(address)
        return self

    @property
    def types(self) -> frozenset[str]:
        if self.events is None:
            return frozenset(EVENT_TYPES) - OPT_IN
        return frozenset(self.events)

    def takes(self, event_type: str, realm: str | None) -> bool:
        return event_type in self.types and self.covers(realm)

    def covers(self, realm: str | None) -> bool:
        """True for tokens of users in `realm` (or of no user, when no realms are named)."""
        return self.realms is None or (realm is not None and realm in self.realms)


class MessageTemplate(_Strict):
    """A subject (e-mail only) and a text (e-mail body, SMS)."""

    subject: str = Field(min_length=1)
    text: str = Field(min_length=1)


class RateLimit(_Strict):
    """Per recipient of e-mail and SMS: at most `messages` per `window_seconds`."""

    messages: int = Field(DEFAULT_RATE_LIMIT, ge=1)
    window_seconds: float = Field(DEFAULT_RATE_WINDOW_S, gt=0)


class EventsConfig(_Strict):
    """The whole events file."""

    smtp: SmtpSettings | None = None
    sms: SmsSettings | None = None
    syslog: SyslogSettings | None = None
    subscriptions: list[Subscription] = []
    # type -> language -> template; replaces the built-in one (verifier/templates.py).
    templates: dict[str, dict[str, MessageTemplate]] = {}
    rate_limit: RateLimit = RateLimit()

    @model_validator(mode="after")
    def _consistent(self) -> "EventsConfig":
        for n, subscription in enumerate(self.subscriptions):
            if subscription.channel in ("email", "sms", "syslog"):
                table = {"email": "smtp"}.get(subscription.channel, subscription.channel)
                if getattr(self, table) is None:
                    raise ValueError(
                        f"subscriptions.{n}: channel {subscription.channel!r} needs a "
                        f"[{table}] table"
                    )
        for event_type, languages in self.templates.items():
            if event_type not in EVENT_TYPES and event_type not in MESSAGE_TYPES:
                raise ValueError(f"templates.{event_type}: unknown event type")
            for language, template in languages.items():
                if language not in LANGUAGES:
                    raise ValueError(
                        f"templates.{event_type}.{language}: language must be one of "
                        f"{', '.join(LANGUAGES)}"
                    )
                for part in ("subject", "text"):
                    _check_template(
                        f"templates.{event_type}.{language}.{part}",
                        getattr(template, part),
                        placeholders(event_type),
                    )
        return self

    def template(self, event_type: str, language: str) -> tuple[str, str]:
        """The (subject, text) of an event type in a language: the file's, else built in."""
        given = self.templates.get(event_type, {}).get(language)
        if given is not None:
            return given.subject, given.text
        return BUILT_IN[event_type][language]

    def types(self, webhook: bool, unsubscribed: frozenset[str]) -> frozenset[str]:
        """The event types some channel takes. The webhook and syslog take `unsubscribed` (all
        but the opt-in types, unless asked for) while no subscription names them; e-mail and
        SMS take events only by subscription."""
        types: set[str] = set()
        for subscription in self.subscriptions:
            types |= subscription.types
        if self.open_channels(webhook):
            types |= unsubscribed
        return frozenset(types)

    def open_channels(self, webhook: bool) -> list[str]:
        """The channels set up without a subscription: they take every (non-opt-in) event."""
        present = (("webhook", webhook), ("syslog", self.syslog is not None))
        return [name for name, there in present if there and not self.subscribed(name)]

    def addresses(self, channel: str) -> list[str]:
        """The operators' addresses the subscriptions of an e-mail or SMS channel name."""
        found: list[str] = []
        for subscription in self.subscribed(channel):
            if isinstance(subscription.to, list):
                found.extend(a for a in subscription.to if a not in found)
        return found

    def subscribed(self, channel: str) -> list[Subscription]:
        return [s for s in self.subscriptions if s.channel == channel]


def _check_template(where: str, template: str, allowed: tuple[str, ...]) -> None:
    unknown = unknown_placeholders(template, allowed)
    if unknown:
        names = ", ".join("${" + name + "}" for name in allowed)
        raise ValueError(f"{where}: unknown placeholder {unknown[0]} (known: {names})")


def load(path: Path) -> EventsConfig:
    """The events channels file at `path`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"events_config: cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    try:
        return EventsConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        raise SettingsError(f"{path}: {key + ': ' if key else ''}{message}") from None
