"""`baoling verifier console-account`: the web console's accounts (docs/console.md). The first
admin account can only be made here; later ones here or on the console's Accounts page. A
password is read from stdin when piped, else prompted for twice without echo, and never taken
from the command line."""

from typing import Any

import click

from baoling.host_tools.options import emit, json_option, read_hidden
from baoling.host_tools.verifier_cmds import open_verifier
from baoling.verifier.console.accounts import ROLES


@click.group("console-account")
def console_account() -> None:
    """Accounts that sign in to the web console under /ui/ (docs/console.md)."""


@console_account.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the account may do.")
@click.option(
    "--token",
    "token_id",
    required=True,
    metavar="TOKEN",
    help="The enrolled Baoling token whose codes the account signs in with.",
)
@json_option
@click.pass_context
def add(ctx: click.Context, name: str, role: str, token_id: str, as_json: bool) -> None:
    """Add a console account; sign-in takes its password and a code from TOKEN.

    \b
    Examples:
      baoling verifier console-account add alice --role admin --token BL0001-0
      printf '%s\\n' "$PASSWORD" |
        baoling verifier console-account add bob --role helpdesk --token BL0002-0
    """
    account = open_verifier(ctx).console.add(
        name, role, read_hidden("Password", confirm=True), token_id
    )
    emit(as_json, account, f"Console account {name} ({role}) signs in with token {token_id}.")


@console_account.command("list")
@json_option
@click.pass_context
def list_accounts(ctx: click.Context, as_json: bool) -> None:
    """List the console accounts.

    \b
    Example:
      baoling verifier console-account list
    """
    found = open_verifier(ctx).console.list_accounts()
    lines = [
        f"{a['account']:<20} {a['role']:<9} {a['token']}{'' if a['active'] else '  (inactive)'}"
        for a in found
    ]
    emit(as_json, found, "\n".join(lines) or "No console accounts.")


def _state(account: dict[str, Any]) -> str:
    return "active" if account["active"] else "inactive"


@console_account.command("disable")
@click.argument("name")
@json_option
@click.pass_context
def disable(ctx: click.Context, name: str, as_json: bool) -> None:
    """Deactivate an account: its sessions end at once and it cannot sign in.

    \b
    Example:
      baoling verifier console-account disable bob
    """
    account = open_verifier(ctx).console.set_active(name, False)
    emit(as_json, account, f"Console account {name} is {_state(account)}; its sessions ended.")


@console_account.command("enable")
@click.argument("name")
@json_option
@click.pass_context
def enable(ctx: click.Context, name: str, as_json: bool) -> None:
    """Make a deactivated account active again.

    \b
    Example:
      baoling verifier console-account enable bob
    """
    account = open_verifier(ctx).console.set_active(name, True)
    emit(as_json, account, f"Console account {name} is {_state(account)}.")


@console_account.command("password")
@click.argument("name")
@json_option
@click.pass_context
def password(ctx: click.Context, name: str, as_json: bool) -> None:
    """Give an account a new password (read like add's); its sessions end.

    \b
    Example:
      printf '%s\\n' "$PASSWORD" | baoling verifier console-account password bob
    """
    account = open_verifier(ctx).console.set_password(name, read_hidden("Password", confirm=True))
    emit(as_json, account, f"Console account {name} has a new password; its sessions ended.")


@console_account.command("token")
@click.argument("name")
@click.option(
    "--token",
    "token_id",
    required=True,
    metavar="TOKEN",
    help="The enrolled Baoling token whose codes the account signs in with from now on.",
)
@json_option
@click.pass_context
def token(ctx: click.Context, name: str, token_id: str, as_json: bool) -> None:
    """Let an account sign in with another token (its own was lost); its sessions end.

    \b
    Example:
      baoling verifier console-account token bob --token BL0007-0
    """
    account = open_verifier(ctx).console.set_token(name, token_id)
    emit(as_json, account, f"Console account {name} signs in with token {token_id} now.")
