"""The verifier's settings on the command line: each setting's flag and help, once, for both
`baoling verifier` and `python -m baoling.verifier`.

verifier/settings.py holds the settings' types, defaults and sources; this module only what a
command line adds: flag names, metavars and help.
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from baoling.verifier.commit_deadline import DEFAULT_COMMIT_TIMEOUT_S
from baoling.verifier.constants import (
    DEFAULT_DRIFT_BOUND_PPM,
    DEFAULT_HOTP_WINDOW,
    DEFAULT_LOCKOUT_TZ,
    DEFAULT_MAX_WINDOW_STEPS,
    DEFAULT_WINDOW_STEPS,
    LOCKOUT_AFTER_FAILS,
)
from baoling.verifier.rate_limits import (
    DEFAULT_DELAY_S,
    DEFAULT_MAX_DELAY_S,
    DEFAULT_SOURCE_AFTER,
    DEFAULT_USER_AFTER,
    DEFAULT_USER_SOURCE_AFTER,
    DEFAULT_WINDOW_S,
)
from baoling.verifier.user_names import DEFAULT_REALM

if TYPE_CHECKING:
    from baoling.verifier.settings import Settings

ENV_PREFIX = "BAOLING_"
CONFIG_ENV = "BAOLING_CONFIG"
CONFIG_FLAG = "--config"
DEFAULT_HTTP_PORT = 8080
# A validate body is one small packet: ten seconds is ample on a slow mobile link.
DEFAULT_HTTP_BODY_TIMEOUT_SECONDS = 10
# Events (docs/events.md): a webhook attempt's time limit, the first retry's delay, and the age
# after which an undelivered event is dead (a day: a receiver down over a night still gets it).
DEFAULT_EVENTS_WEBHOOK_TIMEOUT_SECONDS = 10.0
DEFAULT_EVENTS_RETRY_SECONDS = 5.0
DEFAULT_EVENTS_MAX_AGE_SECONDS = 86400.0
# validation.failed_burst: this many failures of one token within the window (docs/events.md).
DEFAULT_EVENTS_FAILED_BURST = 20
DEFAULT_EVENTS_FAILED_BURST_SECONDS = 300.0
# token.drift_far: three 30-second steps, where the default window (one step) no longer reaches.
DEFAULT_EVENTS_DRIFT_FAR_SECONDS = 90.0
# /readyz fails while more events than this wait (a stuck or far-behind delivery).
DEFAULT_EVENTS_BACKLOG_READY = 10000
# A request's head (request line and headers) must arrive within this (docs/operations.md).
DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS = 10
# Delivered events are pruned after a week; dead ones stay until replayed or pruned by hand.
DEFAULT_EVENTS_KEEP_SECONDS = 7 * 86400.0
# A delivering node verifies the audit chain hourly (audit.chain_broken, docs/events.md).
DEFAULT_EVENTS_AUDIT_VERIFY_SECONDS = 3600.0
# A node's PostgreSQL connections: kept open, and opened beyond those under load.
DEFAULT_STORE_POOL_SIZE = 8
DEFAULT_STORE_MAX_OVERFLOW = 8
# The audit trail's sealer and anchors (docs/threat-model.md, "Audit tampering").
DEFAULT_AUDIT_SEAL_SECONDS = 1.0
DEFAULT_AUDIT_ANCHOR_SECONDS = 60.0
# The web console's sessions (docs/console.md): 15 minutes idle, a working day at most.
DEFAULT_CONSOLE_IDLE_SECONDS = 900
DEFAULT_CONSOLE_SESSION_SECONDS = 8 * 3600

# name: (metavar, or None for an on/off flag; help; default in words).
_OPTIONS: dict[str, tuple[str | None, str, str]] = {
    "data_dir": ("DIR", "Folder of the SQLite file and master.key.", "~/.local/share/baoling"),
    "store_url": (
        "URL",
        "PostgreSQL URL (postgresql+psycopg://...) shared by several nodes.",
        "SQLite in the data folder",
    ),
    "store_commit_timeout_seconds": (
        "SECONDS",
        "Time a PostgreSQL commit may wait (a synchronous standby away) before it fails (503).",
        f"{DEFAULT_COMMIT_TIMEOUT_S:g}",
    ),
    "store_pool_size": (
        "N",
        "PostgreSQL connections a node keeps open (validations at once without waiting).",
        str(DEFAULT_STORE_POOL_SIZE),
    ),
    "store_max_overflow": (
        "N",
        "Further PostgreSQL connections a node opens under load, closed when returned.",
        str(DEFAULT_STORE_MAX_OVERFLOW),
    ),
    "master_key_file": (
        "FILE",
        "The master key file (mode 0600), e.g. a mounted secret.",
        "master.key in the data folder",
    ),
    "http_host": ("ADDRESS", "Address for HTTP.", "127.0.0.1"),
    "http_port": ("PORT", "TCP port for HTTP; 0 picks a free one.", str(DEFAULT_HTTP_PORT)),
    "http_body_timeout_seconds": (
        "SECONDS",
        "Time a request's whole body may take to arrive (else 408).",
        str(DEFAULT_HTTP_BODY_TIMEOUT_SECONDS),
    ),
    "http_header_timeout_seconds": (
        "SECONDS",
        "Time a request's line and headers may take to arrive (else 408).",
        str(DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS),
    ),
    "radius": (None, "Also answer RADIUS Access-Requests (UDP).", "off"),
    "radius_config": ("FILE", "RADIUS clients and users (TOML).", "none"),
    "window_steps": (
        "STEPS",
        "Time steps accepted either side of the token's predicted step.",
        str(DEFAULT_WINDOW_STEPS),
    ),
    "hotp_window": (
        "CODES",
        "HOTP codes accepted from the token's expected counter on (look-ahead).",
        str(DEFAULT_HOTP_WINDOW),
    ),
    "lockout_after": ("N", "Consecutive failures that lock a token.", str(LOCKOUT_AFTER_FAILS)),
    "lockout_seconds": (
        "SECONDS",
        "How long a lock lasts.",
        "until midnight in the lockout zone",
    ),
    "lockout_tz": ("ZONE", "IANA time zone whose midnight ends a lock.", DEFAULT_LOCKOUT_TZ),
    "drift_learning": (
        None,
        "Learn each token's clock offset and rate from accepted codes.",
        "on",
    ),
    "drift_bound_ppm": (
        "PPM",
        "The most a token's crystal is off: how far its clock can drift while unused (0: off).",
        f"{DEFAULT_DRIFT_BOUND_PPM:g}",
    ),
    "max_window_steps": (
        "STEPS",
        "The most steps from a token's predicted step its codes are sought (the reach's cap).",
        str(DEFAULT_MAX_WINDOW_STEPS),
    ),
    "default_realm": ("REALM", "The realm of a user name given without @realm.", DEFAULT_REALM),
    "ldap_config": ("FILE", "The realms whose users an LDAP directory holds (TOML).", "none"),
    "events_webhook_url": ("URL", "Deliver events to this http(s) webhook.", "none"),
    "events_webhook_secret_file": (
        "FILE",
        "The webhook's signing secret (whsec_...).",
        "none; required with a webhook",
    ),
    "events_webhook_timeout_seconds": (
        "SECONDS",
        "Time one webhook attempt may take.",
        str(DEFAULT_EVENTS_WEBHOOK_TIMEOUT_SECONDS),
    ),
    "events_validation_accepted": (None, "Also report every accepted code.", "off"),
    "events_delivery": (None, "Run the delivery worker on this node.", "on"),
    "events_retry_seconds": (
        "SECONDS",
        "Delay before the first retry; doubled per attempt.",
        str(DEFAULT_EVENTS_RETRY_SECONDS),
    ),
    "events_max_age_seconds": (
        "SECONDS",
        "Age after which an undelivered event is dead.",
        str(DEFAULT_EVENTS_MAX_AGE_SECONDS),
    ),
    "events_config": (
        "FILE",
        "E-mail, SMS and syslog channels, subscriptions and templates (TOML).",
        "none",
    ),
    "events_failed_burst": (
        "N",
        "Failures of one token within the burst window that report validation.failed_burst.",
        str(DEFAULT_EVENTS_FAILED_BURST),
    ),
    "events_failed_burst_seconds": (
        "SECONDS",
        "The window failures are counted in for validation.failed_burst.",
        str(DEFAULT_EVENTS_FAILED_BURST_SECONDS),
    ),
    "events_drift_far_seconds": (
        "SECONDS",
        "A learned clock offset beyond this reports token.drift_far.",
        str(DEFAULT_EVENTS_DRIFT_FAR_SECONDS),
    ),
    "events_backlog_ready": (
        "N",
        "/readyz fails while more events than this wait for delivery.",
        str(DEFAULT_EVENTS_BACKLOG_READY),
    ),
    "events_keep_seconds": (
        "SECONDS",
        "Delivered events older than this are pruned.",
        str(DEFAULT_EVENTS_KEEP_SECONDS),
    ),
    "events_audit_verify_seconds": (
        "SECONDS",
        "How often a delivering node verifies the audit chain (audit.chain_broken).",
        f"{DEFAULT_EVENTS_AUDIT_VERIFY_SECONDS:g}",
    ),
    "log_format": ("FORMAT", "Log lines as text or json (one object per line).", "text"),
    "audit_seal_seconds": (
        "SECONDS",
        "How often appended audit rows are chained (one node at a time).",
        f"{DEFAULT_AUDIT_SEAL_SECONDS:g}",
    ),
    "audit_anchor_file": (
        "FILE",
        "Where the audit chain's signed head is appended (keep it off the database host).",
        "audit-anchors.jsonl in the data folder",
    ),
    "audit_anchor_seconds": (
        "SECONDS",
        "How often the signed head is appended to the anchors file; 0: never.",
        f"{DEFAULT_AUDIT_ANCHOR_SECONDS:g}",
    ),
    "privacyidea_allow": (
        "NETWORKS",
        "Addresses or networks (comma-separated) whose /validate/check needs no API key.",
        "none: an API key is needed",
    ),
    "privacyidea_no_detail_on_fail": (
        None,
        "Answer a rejected /validate/check without a detail, as privacyIDEA's policy of that "
        "name does: no caller can tell users with a token from others.",
        "off",
    ),
    "rate_limit_user_source_after": (
        "N",
        "Failures of one user from one address before its attempts wait (0: off).",
        str(DEFAULT_USER_SOURCE_AFTER),
    ),
    "rate_limit_user_after": (
        "N",
        "Failures of one user from any address before its attempts wait (0: off).",
        str(DEFAULT_USER_AFTER),
    ),
    "rate_limit_source_after": (
        "N",
        "Failures from one address, any user, before its attempts wait (0: off).",
        str(DEFAULT_SOURCE_AFTER),
    ),
    "rate_limit_delay_seconds": (
        "SECONDS",
        "The first wait; doubled per further failure.",
        f"{DEFAULT_DELAY_S:g}",
    ),
    "rate_limit_max_delay_seconds": (
        "SECONDS",
        "The longest wait.",
        f"{DEFAULT_MAX_DELAY_S:g}",
    ),
    "rate_limit_window_seconds": (
        "SECONDS",
        "Time without a failure after which a count is forgotten.",
        f"{DEFAULT_WINDOW_S:g}",
    ),
    "http_trusted_proxies": (
        "NETWORKS",
        "Proxies (comma-separated) whose X-Forwarded-For names the client.",
        "none: the TCP peer is the client",
    ),
    "radius_trusted_proxies": (
        "NETWORKS",
        "RADIUS clients (comma-separated) whose NAS-IP-Address names the NAS.",
        "none: the packet's source is the NAS",
    ),
    "console": (None, "Serve the web console under /ui/.", "on"),
    "console_idle_seconds": (
        "SECONDS",
        "A console session ends after this long without a request.",
        str(DEFAULT_CONSOLE_IDLE_SECONDS),
    ),
    "console_session_seconds": (
        "SECONDS",
        "A console session ends this long after sign-in, however busy.",
        str(DEFAULT_CONSOLE_SESSION_SECONDS),
    ),
}
NAMES = tuple(_OPTIONS)
# Options of `baoling verifier` itself, before the command: every command reads them.
COMMON_NAMES = ("data_dir", "store_url", "master_key_file", "default_realm", "ldap_config")
SERVE_NAMES = tuple(name for name in NAMES if name not in COMMON_NAMES)
# Flags whose name is not the setting's name with hyphens (kept from earlier releases).
_FLAG_NAMES = {
    "http_host": "--host",
    "window_steps": "--window",
    "lockout_seconds": "--lockout-for",
}


def flag(name: str) -> str:
    return _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def setting_options(names: tuple[str, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """click options for these settings. Each is None when not given, so that the environment,
    the file and the defaults apply (verifier/settings.py checks every value, a flag's too)."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for name in reversed(names):
            metavar, text, default = _OPTIONS[name]
            help_text = f"{text} [env {env_var(name)}; default: {default}]"
            if metavar is None:
                declaration = f"{flag(name)}/--no-{flag(name)[2:]}"
                option = click.option(declaration, name, default=None, help=help_text)
            else:
                option = click.option(
                    flag(name), name, default=None, metavar=metavar, help=help_text
                )
            command = option(command)
        return command

    return apply


config_option = click.option(
    CONFIG_FLAG,
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help=f"A TOML file of settings (docs/configuration.md) [env {CONFIG_ENV}].",
)


def from_command_line(flags: Mapping[str, Any], config: Path | None) -> "Settings":
    """The settings of a click command: its flags over the environment over the file."""
    from baoling.verifier.settings import load

    return load(flags, config=config, given_by_flags=True)
