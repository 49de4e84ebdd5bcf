"""The helpdesk's `baoling verifier` commands (docs/users.md, "Lost tokens"): a token lost and
found, a spare made primary, backup codes for a user, a deactivated user reactivated.

Every audit row these (and the other verifier commands) write names the operator: the login
of the account running the command (`by: "cli:<login>"`, set by `open_verifier`), or with
--server the API key the server took (`by: "api-key:<name>"`, host_tools/verifier_remote.py).
"""

from datetime import UTC, date, datetime

import click

from baoling.host_tools.options import emit, json_option
from baoling.host_tools.verifier_cmds import open_helpdesk, user, verifier
from baoling.verifier.backup_codes import DEFAULT_BACKUP_CODES, MAX_BACKUP_CODES


def _token_command(action: str, name: str, summary: str, done: str) -> None:
    """Register `baoling verifier <name> TOKEN`: Verifier.<action>(token), its answer as
    JSON with --json, else `done` on stderr."""

    @json_option
    @click.pass_context
    def command(ctx: click.Context, token_id: str, as_json: bool) -> None:
        answer = getattr(open_helpdesk(ctx), action)(token_id)
        owner = f" ({answer['user']})" if answer.get("user") else ""
        emit(as_json, answer, f"{done} {token_id}{owner}.")

    command.__doc__ = f"{summary}\n\n\b\nExamples:\n  baoling verifier {name} BL0001-1\n"
    verifier.command(name)(click.argument("token_id")(command))


_token_command(
    "report_lost",
    "lost",
    "Disable a token its user lost (then: backup codes, or activate the spare).",
    "Disabled lost token",
)
_token_command(
    "token_found",
    "found",
    "Enable a lost token that is back, and revoke its user's backup codes.",
    "Enabled found token",
)
_token_command(
    "activate_spare",
    "activate-spare",
    "Make a user's spare token its primary one, enabled.",
    "Activated spare token",
)


@user.command("backup-codes")
@click.argument("name")
@click.option(
    "--expires",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="The last day the codes work (in the lockout_tz time zone), at most 90 days ahead.",
)
@click.option(
    "--count",
    type=click.IntRange(1, MAX_BACKUP_CODES),
    default=DEFAULT_BACKUP_CODES,
    show_default=True,
)
@json_option
@click.pass_context
def backup_codes(
    ctx: click.Context, name: str, expires: datetime, count: int, as_json: bool
) -> None:
    """Print one-time backup codes for a user (shown once), replacing any it had.

    Each code works once, in place of a token code, until the end of --expires.

    \b
    Examples:
      baoling verifier user backup-codes alice@corp --expires 2026-12-31
    """
    last_day: date = expires.date()
    v = open_helpdesk(ctx)
    codes, until = v.issue_backup_codes(name, last_day, count)
    who = v.show_user(name)["user"]
    ends = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    click.echo(
        f"Backup codes for {who}, each usable once, through {last_day.isoformat()} (until {ends}):",
        err=True,
    )
    emit(as_json, {"user": who, "codes": codes, "expires": until}, "\n".join(codes))


@user.command("revoke-backup-codes")
@click.argument("name")
@json_option
@click.pass_context
def revoke_backup_codes(ctx: click.Context, name: str, as_json: bool) -> None:
    """Revoke a user's backup codes.

    \b
    Examples:
      baoling verifier user revoke-backup-codes alice@corp
    """
    revoked = open_helpdesk(ctx).revoke_backup_codes(name)
    emit(as_json, {"revoked": revoked}, f"Revoked {revoked} usable backup codes.")


@user.command("reactivate")
@click.argument("name")
@click.option(
    "--keep-tokens",
    is_flag=True,
    help="Keep the tokens the user had (never for a re-created directory account).",
)
@json_option
@click.pass_context
def reactivate(ctx: click.Context, name: str, keep_tokens: bool, as_json: bool) -> None:
    """Let a deactivated user validate again; its tokens are unassigned unless kept.

    \b
    Examples:
      baoling verifier user reactivate alice@corp
      baoling verifier user reactivate alice@corp --keep-tokens
    """
    answer = open_helpdesk(ctx).reactivate_user(name, keep_tokens=keep_tokens)
    gone = ", ".join(answer["tokens_unassigned"]) or "none"
    kept = ", ".join(answer["tokens_kept"]) or "none"
    emit(
        as_json,
        answer,
        f"Reactivated {answer['user']}; tokens kept: {kept}; unassigned: {gone}.",
    )
