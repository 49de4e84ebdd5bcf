"""The `baoling verifier` commands: small verbs over the verifier's Python API.

Results go to stdout (JSON with --json), talk and prompts to stderr. Secrets (a given token
secret, a PSKC key or password, a RADIUS PIN) are read from stdin when it is piped, else
prompted for without echo; they are never taken from the command line.
"""

import logging
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from baoling.host_tools import verifier_text
from baoling.host_tools.options import emit, force_option, json_option
from baoling.verifier.constants import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_LOCKOUT_TZ,
    DEFAULT_PERIOD_S,
    DEFAULT_WINDOW_STEPS,
    LOCKOUT_AFTER_FAILS,
)
from baoling.verifier.engine import Policy
from baoling.verifier.errors import InvalidRequest
from baoling.verifier.otp import OTPError, b32decode
from baoling.verifier.service import Verifier

DEFAULT_HTTP_PORT = 8080


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the SQLite file and master.key [env BAOLING_DATA_DIR; "
    "default ~/.local/share/baoling].",
)
@click.option(
    "--store-url",
    default=None,
    metavar="URL",
    help="PostgreSQL URL (postgresql+psycopg://...) shared by several nodes "
    "[env BAOLING_STORE_URL].",
)
@click.pass_context
def verifier(ctx: click.Context, data_dir: Path | None, store_url: str | None) -> None:
    """Run and administer the verifier service.

    With no options the data lives in a SQLite file in ~/.local/share/baoling.
    """
    ctx.obj = {"data_dir": data_dir, "store_url": store_url}


def open_verifier(ctx: click.Context, policy: Policy | None = None) -> Verifier:
    """The Verifier the group's options name; closed when the command ends."""
    v = Verifier(ctx.obj["store_url"], data_dir=ctx.obj["data_dir"], policy=policy)
    ctx.call_on_close(v.close)
    return v


def read_secret(what: str) -> str:
    """A secret from piped stdin (first line), else a prompt that does not echo."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    return click.prompt(what, hide_input=True, err=True)


# ------------------------------------------------------------------------------- serving


@verifier.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address for HTTP.")
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_HTTP_PORT,
    show_default=True,
    help="TCP port for HTTP; 0 picks a free one.",
)
@click.option("--radius", is_flag=True, help="Also answer RADIUS Access-Requests (UDP).")
@click.option(
    "--radius-config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="BAOLING_RADIUS_CONFIG",
    help="RADIUS clients and users (TOML) [env BAOLING_RADIUS_CONFIG].",
)
@click.option(
    "--window",
    type=click.IntRange(0),
    default=DEFAULT_WINDOW_STEPS,
    show_default=True,
    envvar="BAOLING_WINDOW_STEPS",
    help="Time steps accepted either side of the token's predicted step "
    "[env BAOLING_WINDOW_STEPS].",
)
@click.option(
    "--lockout-after",
    type=click.IntRange(1),
    default=LOCKOUT_AFTER_FAILS,
    show_default=True,
    envvar="BAOLING_LOCKOUT_AFTER",
    help="Consecutive failures that lock a token [env BAOLING_LOCKOUT_AFTER].",
)
@click.option(
    "--lockout-for",
    type=click.IntRange(1),
    default=None,
    metavar="SECONDS",
    envvar="BAOLING_LOCKOUT_SECONDS",
    help="How long a lock lasts; default: until midnight in --lockout-tz "
    "[env BAOLING_LOCKOUT_SECONDS].",
)
@click.option(
    "--lockout-tz",
    default=DEFAULT_LOCKOUT_TZ,
    show_default=True,
    envvar="BAOLING_LOCKOUT_TZ",
    help="IANA time zone whose midnight ends a lock [env BAOLING_LOCKOUT_TZ].",
)
@click.option(
    "--no-drift-learning",
    is_flag=True,
    help="Keep each token's clock offset where enrolment or resync put it.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    http_port: int,
    radius: bool,
    radius_config: Path | None,
    window: int,
    lockout_after: int,
    lockout_for: int | None,
    lockout_tz: str,
    no_drift_learning: bool,
) -> None:
    """Serve the HTTP API (and RADIUS with --radius).

    Runs until Ctrl-C or SIGTERM.

    Prints the addresses it listens on to stderr. Requests are logged as one line each
    (method, route, status, time): never a code, a secret or a query string. Nodes that
    share a database should be started with the same window and lockout options.

    \b
    Examples:
      baoling verifier serve
      baoling verifier --data-dir /var/lib/baoling serve --host 0.0.0.0 --http-port 8080
      baoling verifier --store-url postgresql+psycopg://baoling@db/baoling serve
      baoling verifier serve --radius --radius-config /etc/baoling/radius.toml
      baoling verifier serve --lockout-after 5 --lockout-for 900
    """
    # Imported here: FastAPI and uvicorn would add about a second to every other command.
    import uvicorn

    from baoling.verifier.http import create_app
    from baoling.verifier.radius import RadiusConfigError, RadiusServer, load_config

    if radius and radius_config is None:
        raise RadiusConfigError("--radius needs --radius-config FILE (docs/verifier.md, RADIUS)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    policy = Policy(
        window_steps=window,
        lockout_after_fails=lockout_after,
        lockout_seconds=lockout_for,
        lockout_tz=lockout_tz,
        drift_learning=not no_drift_learning,
    )
    v = open_verifier(ctx, policy)
    if radius:
        config = load_config(radius_config)
        radius_server = RadiusServer(v, config)  # a taken port is a RadiusConfigError
        threading.Thread(target=radius_server.Run, name="radius", daemon=True).start()
        click.echo(f"RADIUS on udp {config.host}:{radius_server.port}", err=True)
    with _listening("tcp", host, http_port):
        sock = listen_tcp(host, http_port)
    # Printed last: once this line is out, both listeners are bound (ServerProcess waits for it).
    click.echo(f"HTTP on http://{host}:{sock.getsockname()[1]}", err=True)
    config = uvicorn.Config(create_app(v), access_log=False, log_config=None)
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def _listening(protocol: str, host: str, port: int) -> Iterator[None]:
    """Turn a failure to bind (port taken, address not ours) into a one-line error."""
    try:
        yield
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {protocol} {host}:{port}: {exc.strerror or exc}"
        ) from None


def listen_tcp(host: str, port: int) -> socket.socket:
    """A listening TCP socket made with protocol IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY
    only on such sockets' connections, and without it every keep-alive answer waits ~40 ms
    for a delayed ACK (Nagle)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(socket.SOMAXCONN)
    return sock


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
@click.option("--digits", type=click.IntRange(6, 8), default=DEFAULT_DIGITS, show_default=True)
@click.option(
    "--period",
    type=click.IntRange(10, 300),
    default=DEFAULT_PERIOD_S,
    show_default=True,
    help="Seconds per code.",
)
@click.option("--issuer", default="", help="Shown by authenticator apps.")
@click.option("--label", default="", help="Account name; defaults to the token id.")
@json_option
@click.pass_context
def enrol(
    ctx: click.Context,
    token_id: str,
    given: bool,
    algorithm: str,
    digits: int,
    period: int,
    issuer: str,
    label: str,
    as_json: bool,
) -> None:
    """Enrol a token (prints a generated secret's otpauth URI, once).

    \b
    Examples:
      baoling verifier enrol alice --issuer Example
      echo JBSWY3DPEHPK3PXP | baoling verifier enrol bob --secret --digits 8 --period 60
    """
    secret = None
    if given:
        try:
            secret = b32decode(read_secret("Base32 secret"))
        except OTPError as exc:
            raise InvalidRequest(str(exc)) from None
    uri = open_verifier(ctx).enrol(
        token_id,
        secret,
        algorithm=algorithm,
        digits=digits,
        period_s=period,
        issuer=issuer,
        label=label,
    )
    shown = None if given else uri
    emit(as_json, {"token": token_id, "uri": shown}, shown or f"Enrolled {token_id}.")


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
    key = password = None
    if with_key:
        text = read_secret("Pre-shared key (hex)")
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise click.BadParameter("the pre-shared key must be hex", param_hint="--key") from None
    if with_password:
        password = read_secret("PSKC password")
    ids = open_verifier(ctx).import_pskc(pskc_file.read(), key=key, password=password)
    emit(as_json, {"tokens": ids}, "\n".join(f"Imported {i}." for i in ids))


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
    tokens = open_verifier(ctx).list_tokens()
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
    info = open_verifier(ctx).show(token_id)
    emit(as_json, info, verifier_text.token_fields(info))


def _admin_command(action: str, summary: str, done: str) -> None:
    """Register `baoling verifier <action> TOKEN` (underscores become hyphens), which calls
    Verifier.<action>(token) and says `done` on stderr."""
    name = action.replace("_", "-")

    @click.pass_context
    def command(ctx: click.Context, token_id: str) -> None:
        getattr(open_verifier(ctx), action)(token_id)
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
)


@verifier.command()
@click.argument("token_id")
@click.argument("code1")
@click.argument("code2")
@click.pass_context
def resync(ctx: click.Context, token_id: str, code1: str, code2: str) -> None:
    """Resynchronise a drifted token with two consecutive codes.

    \b
    Examples:
      baoling verifier resync alice 123456 654321
    """
    if not open_verifier(ctx).resync(token_id, code1, code2):
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


# --------------------------------------------------------------------- audit and keys


@verifier.group(invoke_without_command=True)
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
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
@json_option
@click.pass_context
def verify(ctx: click.Context, archives: tuple[Path, ...], as_json: bool) -> None:
    """Check that no audit row was changed or deleted; exit 1 if one was.

    Without --archive the database's rows are checked from where the last archive ended.

    \b
    Examples:
      baoling verifier audit verify
      baoling verifier audit verify --archive audit-2025.jsonl
    """
    report = open_verifier(ctx).verify_audit(archives)
    data = {
        "ok": report.ok,
        "rows": report.rows,
        "start": report.start,
        "head": report.head,
        "problem": report.problem,
    }
    emit(
        as_json,
        data,
        f"Audit chain intact: {report.rows} rows, head {report.head}."
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


@verifier.command("api-key")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(["validate", "admin"]),
    multiple=True,
    required=True,
    help="Repeat for both.",
)
@json_option
@click.pass_context
def api_key(ctx: click.Context, name: str, scopes: tuple[str, ...], as_json: bool) -> None:
    """Create an HTTP API key (printed once, stored hashed).

    \b
    Examples:
      baoling verifier api-key vpn-gateway --scope validate
      baoling verifier api-key ops --scope admin --scope validate --json
    """
    key = open_verifier(ctx).create_api_key(name, list(scopes))
    emit(as_json, {"name": name, "scopes": sorted(scopes), "key": key}, key)


@verifier.command("radius-pin")
def radius_pin() -> None:
    """Hash a static RADIUS PIN for the RADIUS configuration.

    The PIN is read from stdin when piped, else prompted for.

    \b
    Examples:
      echo 4321 | baoling verifier radius-pin
    """
    from baoling.verifier.radius import hash_pin

    click.echo(hash_pin(read_secret("PIN")))
