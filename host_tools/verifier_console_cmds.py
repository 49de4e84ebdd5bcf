"""`baoling verifier console-account`: the web console's accounts (docs/console.md). The first
admin account can only be made here; its password is read from stdin when piped, else prompted
for twice without echo, and never taken from the command line."""

import sys

import click

from baoling.host_tools.options import emit, json_option
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
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    account = open_verifier(ctx).console.add(name, role, password, token_id)
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
