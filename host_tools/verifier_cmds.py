"""The `baoling verifier` commands: small verbs over the verifier's Python API.

Results go to stdout (JSON with --json), talk and prompts to stderr. Secrets (a given token
secret, a PSKC key or password, a RADIUS PIN) are read from stdin when it is piped, else
prompted for without echo; they are never taken from the command line.
"""

import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from baoling.core import base32
from baoling.core.errors import CoreError
from baoling.core.limits import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD_S,
    MAX_DIGITS,
    MAX_PERIOD_S,
    MIN_DIGITS,
    MIN_PERIOD_S,
)
from baoling.host_tools import verifier_text
from baoling.host_tools.options import emit, force_option, json_option, read_hidden
from baoling.host_tools.terminal_screen import qr_to_text
from baoling.host_tools.verifier_remote import Helpdesk, RemoteVerifier
from baoling.verifier.audit import origin as audit_origin
from baoling.verifier.constants import MAX_AUDIT_LIMIT, MAX_HOTP_COUNTER
from baoling.verifier.errors import InvalidRequest
from baoling.verifier.import_formats import FORMATS
from baoling.verifier.logins import LOGIN_ROUNDS
from baoling.verifier.options import (
    COMMON_NAMES,
    SERVE_NAMES,
    config_option,
    from_command_line,
    setting_options,
)
from baoling.verifier.service import Verifier
from baoling.verifier.settings import Settings


@click.group()
@config_option
@setting_options(COMMON_NAMES)
@click.option(
    "--server",
    metavar="URL",
    envvar="BAOLING_VERIFIER_URL",
    help="Run a helpdesk command through this running verifier with the API key in "
    "$BAOLING_API_KEY (the key's scope decides what it may do), not on the store.",
)
@click.pass_context
def verifier(ctx: click.Context, config: Path | None, server: str | None, **flags: Any) -> None:
    """Run and administer the verifier service.

    With no options the data lives in a SQLite file in ~/.local/share/baoling. Every setting
    can also come from a BAOLING_ variable or a TOML file (docs/configuration.md).
    """
    ctx.obj = {"config": config, "flags": flags, "server": server}


def command_settings(ctx: click.Context, **flags: Any) -> Settings:
    """The settings of this command line: the group's flags and these over the environment
    and the file (verifier/settings.py). Refused with --server: a command that reads them works
    on the store, and only the helpdesk's commands (open_helpdesk) run through a server."""
    if ctx.obj["server"] is not None:
        names, at = [], ctx
        while at.parent is not None:  # the words after `baoling`, however it was started
            names.append(str(at.info_name))
            at = at.parent
        raise click.UsageError(
            f"'baoling {' '.join(reversed(names))}' works on the store itself and cannot run "
            "through --server, which runs only the helpdesk's commands (docs/users.md, "
            '"The helpdesk").'
        )
    return from_command_line({**ctx.obj["flags"], **flags}, ctx.obj["config"])


def open_verifier(ctx: click.Context) -> Verifier:
    """The Verifier the settings name; closed when the command ends."""
    settings = command_settings(ctx)
    v = Verifier(
        settings.store_url,
        data_dir=settings.data_dir,
        master_key_file=settings.master_key_file,
        policy=settings.policy(),
        default_realm=settings.default_realm,
        ldap_config=settings.ldap_config,
        event_types=settings.event_types(),
    )
    ctx.call_on_close(v.close)
    # Who did it, in every audit row this command writes: the account running it.
    ctx.with_resource(audit_origin(by=f"cli:{getpass.getuser()}"))
    return v


def open_helpdesk(ctx: click.Context) -> Helpdesk:
    """For a helpdesk command: the server of --server, asked with the API key in
    $BAOLING_API_KEY (the server checks its scope and names it in the audit trail), else the
    Verifier on the store."""
    server = ctx.obj["server"]
    if server is None:
        return open_verifier(ctx)
    api_key = os.environ.get("BAOLING_API_KEY", "")
    if not api_key:
        raise click.UsageError("--server needs the API key in $BAOLING_API_KEY.")
    remote = RemoteVerifier(server, api_key)
    ctx.call_on_close(remote.close)
    return remote


class _Code(click.ParamType):
    """A code from a token, checked as the HTTP API checks one (`CODE_PATTERN` in
    verifier/http/schemas.py): over --server a malformed code is refused before any token is
    tried, so on the store too, rather than counted as the token's failure."""

    name = "code"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if text.isascii() and text.isdigit() and MIN_DIGITS <= len(text) <= MAX_DIGITS:
            return text
        self.fail(f"must be {MIN_DIGITS} to {MAX_DIGITS} digits", param, ctx)


CODE = _Code()


# ------------------------------------------------------------------------------- serving


@verifier.command()
@setting_options(SERVE_NAMES)
@click.pass_context
def serve(ctx: click.Context, **flags: Any) -> None:
    """Serve the HTTP API (and RADIUS with --radius).

    Runs until Ctrl-C or SIGTERM. `python -m baoling.verifier` is the same server.

    Prints the addresses it listens on to stderr. Requests are logged as one line each
    (method, route, status, time): never a code, a secret or a query string. Nodes that
    share a database should be started with the same window and lockout settings. A
    PostgreSQL database on an older schema is refused until `baoling verifier migrate`.

    \b
    Examples:
      baoling verifier serve
      baoling verifier --data-dir /var/lib/baoling serve --host 0.0.0.0 --http-port 8080
      baoling verifier --store-url postgresql+psycopg://baoling@db/baoling serve
      baoling verifier --config /etc/baoling/verifier.toml serve
      baoling verifier serve --radius --radius-config /etc/baoling/radius.toml
      baoling verifier serve --lockout-after 5 --lockout-for 900
    """
    from baoling.verifier.server import serve as run_server

    run_server(command_settings(ctx, **flags))


@verifier.command()
@json_option
@click.pass_context
def migrate(ctx: click.Context, as_json: bool) -> None:
    """Upgrade the database's schema to this Baoling's version.

    Back up the database first: an upgrade cannot be undone (docs/operations.md). Nodes
    running an older Baoling refuse the upgraded schema.

    \b
    Examples:
      baoling verifier migrate
      baoling verifier --store-url postgresql+psycopg://baoling@db/baoling migrate --json
    """
    from baoling.verifier.store import SCHEMA_VERSION, Store

    settings = command_settings(ctx)
    db = Store(settings.url, settings.store_commit_timeout_seconds)
    try:
        found = db.migrate()
    finally:
        db.close()
    if found == SCHEMA_VERSION:
        text = f"The database schema is at version {SCHEMA_VERSION} already."
    elif found == 0:
        text = f"Created the database schema at version {SCHEMA_VERSION}."
    else:
        text = f"Upgraded the database schema from version {found} to {SCHEMA_VERSION}."
    emit(as_json, {"from": found, "to": SCHEMA_VERSION}, text)


# -------------------------------------------------------------------------------- tokens


@verifier.command()
@click.argument("token_id")
@click.option(
    "--secret",
    "given",
    is_flag=True,
    help="Use your base32 secret (read from stdin or a prompt) instead of a new one.",
)
@click.option(
    "--algorithm", type=click.Choice(ALGORITHMS), default=DEFAULT_ALGORITHM, show_default=True
)
@click.option(
    "--digits",
    type=click.IntRange(MIN_DIGITS, MAX_DIGITS),
    default=DEFAULT_DIGITS,
    show_default=True,
)
@click.option(
    "--period",
    type=click.IntRange(MIN_PERIOD_S, MAX_PERIOD_S),
    default=DEFAULT_PERIOD_S,
    show_default=True,
    help="Seconds per code (TOTP).",
)
@click.option(
    "--hotp",
    is_flag=True,
    help="An HOTP (counter) token, such as a key fob with a button, instead of TOTP.",
)
@click.option(
    "--counter",
    type=click.IntRange(0, MAX_HOTP_COUNTER),
    default=0,
    show_default=True,
    help="With --hotp: the counter of the token's next code.",
)
@click.option("--issuer", default="", help="Shown by authenticator apps.")
@click.option("--label", default="", help="Account name; defaults to the token id.")
@click.option(
    "--device-pin",
    is_flag=True,
    help="The token asks for a PIN on the device before a code (accepts carry amr pin).",
)
@click.option(
    "--qr",
    "as_qr",
    is_flag=True,
    help="Also draw the otpauth URI as a QR code, for a phone to scan (shown once).",
)
@json_option
@click.pass_context
def enrol(
    ctx: click.Context,
    token_id: str,
    given: bool,
    algorithm: str,
    digits: int,
    period: int,
    hotp: bool,
    counter: int,
    issuer: str,
    label: str,
    device_pin: bool,
    as_qr: bool,
    as_json: bool,
) -> None:
    """Enrol a token (prints a generated secret's otpauth URI, once).

    \b
    Examples:
      baoling verifier enrol alice --issuer Example
      baoling verifier enrol alice-phone --label alice@corp --issuer Corp --qr
      echo JBSWY3DPEHPK3PXP | baoling verifier enrol bob --secret --digits 8 --period 60
      echo JBSWY3DPEHPK3PXP | baoling verifier enrol fob7 --secret --hotp --counter 12
    """
    if counter and not hotp:
        raise click.BadParameter("a counter is for HOTP tokens: add --hotp", param_hint="--counter")
    if as_qr and given:
        raise click.BadParameter(
            "a given secret is never shown again, so there is no QR code to draw", param_hint="--qr"
        )
    secret = None
    if given:
        try:
            secret = base32.decode(read_hidden("Base32 secret"))
        except CoreError as exc:
            raise InvalidRequest(str(exc)) from None
    uri = open_verifier(ctx).enrol(
        token_id,
        secret,
        algorithm=algorithm,
        digits=digits,
        period_s=period,
        issuer=issuer,
        label=label,
        kind="hotp" if hotp else "totp",
        counter=counter,
        device_pin=device_pin,
    )
    shown = None if given else uri
    text = shown or f"Enrolled {token_id}."
    if as_qr:
        text += "\n" + qr_to_text(uri)
    emit(as_json, {"token": token_id, "uri": shown}, text)


def pskc_protection(with_key: bool, with_password: bool) -> tuple[bytes | None, str | None]:
    """The PSKC file's pre-shared key (hex) or password, read when the flag asks for it."""
    key = password = None
    if with_key:
        text = read_hidden("Pre-shared key (hex)")
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise click.BadParameter("the pre-shared key must be hex", param_hint="--key") from None
    if with_password:
        password = read_hidden("PSKC password")
    return key, password


@verifier.command("import-pskc")
@click.argument("pskc_file", type=click.File("rb"))
@click.option(
    "--key",
    "with_key",
    is_flag=True,
    help="The file is protected by a pre-shared key (hex, read from stdin or a prompt).",
)
@click.option(
    "--password",
    "with_password",
    is_flag=True,
    help="The file is protected by a password (read from stdin or a prompt).",
)
@json_option
@click.pass_context
def import_pskc(
    ctx: click.Context, pskc_file: Any, with_key: bool, with_password: bool, as_json: bool
) -> None:
    """Import the keys of a PSKC (RFC 6030) file: all or none.

    \b
    Examples:
      baoling verifier import-pskc tokens.pskc
      cat psk.hex | baoling verifier import-pskc tokens.pskc --key
    """
    key, password = pskc_protection(with_key, with_password)
    ids = open_verifier(ctx).import_pskc(pskc_file.read(), key=key, password=password)
    emit(as_json, {"tokens": ids}, "\n".join(f"Imported {i}." for i in ids))


@verifier.command("import")
@click.argument("import_file", type=click.File("rb"))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(FORMATS),
    required=True,
    help="csv: serial, slot, secret or secret_hex, user...; uris: uri, user, token; pskc.",
)
@click.option(
    "--user-map",
    type=click.File("rb"),
    help="PSKC only: a CSV with the columns serial, user and optionally role.",
)
@click.option(
    "--key",
    "with_key",
    is_flag=True,
    help="PSKC only: the file's pre-shared key (hex, read from stdin or a prompt).",
)
@click.option(
    "--password",
    "with_password",
    is_flag=True,
    help="PSKC only: the file's password (read from stdin or a prompt).",
)
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@json_option
@click.pass_context
def import_tokens(
    ctx: click.Context,
    import_file: Any,
    file_format: str,
    user_map: Any,
    with_key: bool,
    with_password: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import tokens with their users from a file: all or none (docs/users.md).

    Users named in the file are added when missing and given their tokens. A refused line
    is named by its number and nothing is imported.

    \b
    Examples:
      baoling verifier import tokens.csv --format csv --dry-run
      baoling verifier import phones.csv --format uris
      baoling verifier import tokens.pskc --format pskc --user-map owners.csv
    """
    key, password = pskc_protection(with_key, with_password)
    result = open_verifier(ctx).import_tokens(
        import_file.read(),
        file_format=file_format,
        user_map=None if user_map is None else user_map.read(),
        key=key,
        password=password,
        dry_run=dry_run,
    )
    emit(as_json, result, verifier_text.import_result(result))


@verifier.command("list")
@json_option
@click.pass_context
def list_tokens(ctx: click.Context, as_json: bool) -> None:
    """List the enrolled tokens.

    \b
    Examples:
      baoling verifier list
      baoling verifier list --json
    """
    tokens = open_helpdesk(ctx).list_tokens()
    emit(as_json, tokens, verifier_text.token_list(tokens))


@verifier.command()
@click.argument("token_id")
@json_option
@click.pass_context
def show(ctx: click.Context, token_id: str, as_json: bool) -> None:
    """Show a token's settings and state (not its secret).

    \b
    Examples:
      baoling verifier show alice
    """
    info = open_helpdesk(ctx).show(token_id)
    emit(as_json, info, verifier_text.token_fields(info))


def _admin_command(action: str, summary: str, done: str, *, helpdesk: bool = True) -> None:
    """Register `baoling verifier <action> TOKEN` (underscores become hyphens), which calls
    Verifier.<action>(token) and says `done` on stderr; a helpdesk command unless not."""
    name = action.replace("_", "-")
    opener = open_helpdesk if helpdesk else open_verifier

    @click.pass_context
    def command(ctx: click.Context, token_id: str) -> None:
        getattr(opener(ctx), action)(token_id)
        click.echo(f"{done} {token_id}.", err=True)

    command.__doc__ = f"{summary}\n\n\b\nExamples:\n  baoling verifier {name} alice\n"
    verifier.command(name)(click.argument("token_id")(command))


_admin_command("disable", "Disable a token: its codes fail until it is enabled.", "Disabled")
_admin_command("enable", "Enable a disabled token.", "Enabled")
_admin_command("unlock", "Clear a token's failure count and lock.", "Unlocked")
_admin_command(
    "reset_drift",
    "Forget a token's learned clock offset and rate (after its clock was set again).",
    "Reset the drift estimate of",
    helpdesk=False,
)


@verifier.command()
@click.argument("token_id")
@click.argument("code1", type=CODE)
@click.argument("code2", type=CODE)
@click.pass_context
def resync(ctx: click.Context, token_id: str, code1: str, code2: str) -> None:
    """Resynchronise a drifted token with two consecutive codes.

    \b
    Examples:
      baoling verifier resync alice 123456 654321
    """
    if not open_helpdesk(ctx).resync(token_id, code1, code2):
        raise click.ClickException(
            "the two codes were not found one after the other; wait for the next code and "
            "try again with two fresh ones"
        )
    click.echo(f"Resynchronised {token_id}.", err=True)


@verifier.command()
@click.argument("token_id")
@force_option
@click.pass_context
def delete(ctx: click.Context, token_id: str, force: bool) -> None:
    """Delete a token and its secret for good.

    \b
    Examples:
      baoling verifier delete alice
      baoling verifier delete alice --force
    """
    v = open_verifier(ctx)
    v.show(token_id)  # an unknown token fails before the question
    if not force:
        click.confirm(f"Delete token {token_id}? This cannot be undone", abort=True, err=True)
    v.delete(token_id)
    click.echo(f"Deleted {token_id}.", err=True)


# --------------------------------------------------------------------------------- users


@verifier.group()
def user() -> None:
    """Add, list, show and deactivate users (docs/users.md).

    A user is NAME@REALM, or NAME in the default realm (--default-realm).
    """


@user.command("add")
@click.argument("name")
@click.option("--display-name", default="", help="The user's full name.")
@click.option("--email", default="", help="The user's e-mail address.")
@click.option("--phone", default="", help="The user's phone number.")
@json_option
@click.pass_context
def user_add(
    ctx: click.Context, name: str, display_name: str, email: str, phone: str, as_json: bool
) -> None:
    """Add a local user.

    \b
    Examples:
      baoling verifier user add alice@corp --display-name "Alice Liddell"
      baoling verifier --default-realm corp user add bob --email bob@corp.example
    """
    info = open_verifier(ctx).add_user(name, display_name=display_name, email=email, phone=phone)
    emit(as_json, info, f"Added {info['user']}.")


@user.command("list")
@json_option
@click.pass_context
def user_list(ctx: click.Context, as_json: bool) -> None:
    """List the users with their state and tokens.

    \b
    Examples:
      baoling verifier user list
    """
    users = open_helpdesk(ctx).list_users()
    emit(as_json, users, verifier_text.user_list(users))


@user.command("show")
@click.argument("name")
@json_option
@click.pass_context
def user_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a user's attributes, state and tokens.

    \b
    Examples:
      baoling verifier user show alice@corp
    """
    info = open_helpdesk(ctx).show_user(name)
    emit(as_json, info, verifier_text.user_fields(info))


@user.command("refresh")
@click.argument("name", required=False)
@json_option
@click.pass_context
def user_refresh(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Copy directory users' name, e-mail and phone from the directory again.

    Without NAME every active directory user is refreshed; one whose entry is gone or was
    re-created is deactivated, as a validation would. Local users are left alone.

    \b
    Examples:
      baoling verifier user refresh
      baoling verifier user refresh alice@corp --json
    """
    results = open_verifier(ctx).refresh_users(name)
    emit(as_json, results, verifier_text.refresh_results(results))


@user.command("notify-accepted")
@click.argument("name")
@click.option("--on/--off", "on", required=True, help="Tell the user of each accepted code.")
@json_option
@click.pass_context
def user_notify_accepted(ctx: click.Context, name: str, on: bool, as_json: bool) -> None:
    """Tell a user of every accepted code of their tokens, or stop (docs/events.md).

    The message goes through the events file's subscriptions that message users (to =
    "user") of the user's realm, whatever event types they list.

    \b
    Examples:
      baoling verifier user notify-accepted alice@corp --on
    """
    info = open_helpdesk(ctx).set_notify_accepted(name, on)
    state = "will be told" if on else "will not be told"
    emit(as_json, info, f"{info['user']} {state} of each accepted code.")


@user.command("login-rounds")
@click.argument("name")
@click.argument("rounds", type=click.Choice(LOGIN_ROUNDS))
@json_option
@click.pass_context
def user_login_rounds(ctx: click.Context, name: str, rounds: str, as_json: bool) -> None:
    """Choose how a user with a PIN or directory password logs in at RADIUS.

    client (the default): as the client entry says (challenge = true: two rounds);
    one: PIN or password and the code in one password, from every client;
    two: the PIN or password, then the code after an Access-Challenge, from every client.

    \b
    Examples:
      baoling verifier user login-rounds alice@corp two
    """
    info = open_verifier(ctx).set_login_rounds(name, rounds)
    emit(as_json, info, f"{info['user']} logs in at RADIUS {verifier_text.ROUNDS[rounds]}.")


@user.command("deactivate")
@click.argument("name")
@json_option
@click.pass_context
def user_deactivate(ctx: click.Context, name: str, as_json: bool) -> None:
    """Refuse every code for a user from now on; its tokens stay assigned.

    Users are never deleted, so a re-created account cannot inherit the old one's tokens.

    \b
    Examples:
      baoling verifier user deactivate alice@corp
    """
    info = open_verifier(ctx).deactivate_user(name)
    emit(as_json, info, f"Deactivated {info['user']}.")


@user.command("set-pin")
@click.argument("name")
@click.pass_context
def user_set_pin(ctx: click.Context, name: str) -> None:
    """Give a user a static PIN, asked before the code at RADIUS and /validate/check.

    The PIN is read from stdin when piped, else prompted for; it is stored as a slow hash
    and never shown. It replaces a PIN the user had.

    \b
    Examples:
      baoling verifier user set-pin alice@corp
      echo 4711 | baoling verifier user set-pin bob@corp
    """
    v = open_helpdesk(ctx)
    v.show_user(name)  # an unknown user fails before the question
    v.set_user_pin(name, read_hidden("PIN"))
    click.echo(f"Set the PIN of {v.show_user(name)['user']}.", err=True)


@user.command("clear-pin")
@click.argument("name")
@click.pass_context
def user_clear_pin(ctx: click.Context, name: str) -> None:
    """Take a user's static PIN away: it then logs in with the code alone.

    \b
    Examples:
      baoling verifier user clear-pin alice@corp
    """
    v = open_helpdesk(ctx)
    user = v.show_user(name)["user"]
    cleared = v.clear_user_pin(name)
    click.echo(f"Cleared the PIN of {user}." if cleared else f"{user} has no PIN.", err=True)


@verifier.command()
@click.argument("token_id")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["primary", "spare"]),
    default="primary",
    show_default=True,
    help="A spare token is kept for when the primary one is lost.",
)
@click.option("--code", type=CODE, help="A code the token shows now: proof that the user holds it.")
@click.option("--override", is_flag=True, help="Assign without a code (audited as such).")
@json_option
@click.pass_context
def assign(
    ctx: click.Context,
    token_id: str,
    name: str,
    role: str,
    code: str | None,
    override: bool,
    as_json: bool,
) -> None:
    """Give a token to a user on proof of possession: a code from it (or --override).

    The code is used up as a validated code is; a wrong one counts as a failure.

    \b
    Examples:
      baoling verifier assign BL0001-1 alice@corp --code 123456
      baoling verifier assign alice-phone alice@corp --role spare --code 654321
      baoling verifier assign BL0002-1 bob@corp --override
    """
    info = open_helpdesk(ctx).assign(token_id, name, role, code=code, override=override)
    emit(as_json, info, f"Assigned {token_id} to {info['user']} ({role}).")


@verifier.command()
@click.argument("token_id")
@click.pass_context
def unassign(ctx: click.Context, token_id: str) -> None:
    """Take a token from its user; the token stays enrolled.

    \b
    Examples:
      baoling verifier unassign BL0001-1
    """
    open_helpdesk(ctx).unassign(token_id)
    click.echo(f"Unassigned {token_id}.", err=True)


# --------------------------------------------------------------------- audit and keys


@verifier.group(invoke_without_command=True)
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_AUDIT_LIMIT),
    default=20,
    show_default=True,
    help=f"Rows to show, newest first (1 to {MAX_AUDIT_LIMIT}, as the HTTP API's).",
)
@json_option
@click.pass_context
def audit(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Show audit rows; `audit verify` checks the chain.

    \b
    Examples:
      baoling verifier audit --limit 5
      baoling verifier audit verify
    """
    if ctx.invoked_subcommand is not None:
        return
    rows = open_verifier(ctx).audit(limit=limit)
    emit(as_json, rows, verifier_text.audit_rows(rows))


@audit.command()
@click.option(
    "--archive",
    "archives",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An archive file from `audit archive`; repeat, oldest first, from the first.",
)
@click.option(
    "--anchors",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An anchors file a serving node wrote (audit_anchor_file): its signed heads.",
)
@json_option
@click.pass_context
def verify(
    ctx: click.Context, archives: tuple[Path, ...], anchors: Path | None, as_json: bool
) -> None:
    """Check that no audit row was changed, deleted, inserted or moved; exit 1 if one was.

    Rows appended and not chained yet are chained first. Without --archive the database's
    rows are checked from where the last archive ended. With --anchors every anchored row must
    still be on the chain, and the chain must reach the newest anchor.

    \b
    Examples:
      baoling verifier audit verify
      baoling verifier audit verify --archive audit-2025.jsonl
      baoling verifier audit verify --anchors /var/log/baoling/audit-anchors.jsonl
    """
    report = open_verifier(ctx).verify_audit(archives, anchors)
    data = {
        "ok": report.ok,
        "rows": report.rows,
        "start": report.start,
        "head": report.head,
        "anchors": report.anchors,
        "problem": report.problem,
    }
    checked = f", {report.anchors} anchors checked" if anchors is not None else ""
    emit(
        as_json,
        data,
        f"Audit chain intact: {report.rows} rows, head {report.head}{checked}."
        if report.ok
        else f"Audit chain broken: {report.problem}",
    )
    if not report.ok:
        sys.exit(1)


@audit.command()
@click.option(
    "--before",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="Archive the rows written before this day (00:00 UTC).",
)
@click.option(
    "--to",
    "path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The new archive file (never overwritten).",
)
@json_option
@click.pass_context
def archive(ctx: click.Context, before: datetime, path: Path, as_json: bool) -> None:
    """Move old audit rows out of the database into a file, keeping the chain verifiable.

    The chain is verified first; the file is on disk before any row is deleted.

    \b
    Examples:
      baoling verifier audit archive --before 2026-01-01 --to audit-2025.jsonl
    """
    count = open_verifier(ctx).archive_audit(path, before=before.replace(tzinfo=UTC).timestamp())
    emit(
        as_json,
        {"archived": count, "file": str(path) if count else None},
        f"Archived {count} audit rows to {path}."
        if count
        else f"No audit row before {before:%Y-%m-%d}; no file written.",
    )


@verifier.command("rotate-key")
@force_option
@click.pass_context
def rotate_key(ctx: click.Context, force: bool) -> None:
    """Re-encrypt every secret under a new master key.

    Nodes sharing a PostgreSQL database need the new master.key copied to them.

    \b
    Examples:
      baoling verifier rotate-key --force
    """
    if not force:
        click.confirm("Replace the master key and re-encrypt every secret?", abort=True, err=True)
    open_verifier(ctx).rotate_key()
    click.echo("Master key rotated; back up the new master.key.", err=True)


@verifier.command("radius-pin")
def radius_pin() -> None:
    """Hash a static RADIUS PIN for the RADIUS configuration.

    The PIN is read from stdin when piped, else prompted for.

    \b
    Examples:
      echo 4321 | baoling verifier radius-pin
    """
    from baoling.verifier.radius import hash_pin

    click.echo(hash_pin(read_hidden("PIN")))
