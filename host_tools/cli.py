"""Entry point of the `baoling` command: the groups, and the one place errors become a line."""

import json
import re
import sys
from typing import NoReturn

import click

from baoling.host_tools.demo_cmd import demo
from baoling.host_tools.options import wants_json
from baoling.host_tools.sim_cmd import sim
from baoling.host_tools.token_cmds import token
from baoling.host_tools.verifier_api_key_cmds import api_key
from baoling.host_tools.verifier_cmds import verifier
from baoling.host_tools.verifier_console_cmds import console_account
from baoling.host_tools.verifier_events_cmds import events
from baoling.host_tools.verifier_lifecycle_cmds import backup_codes  # noqa: F401 (registers)
from baoling.provisioning.errors import BaolingError
from baoling.verifier.errors import VerifierError


@click.group()
@click.version_option(package_name="baoling")
def cli() -> None:
    """Baoling: an open hardware TOTP token, its provisioning tools and its verifier."""


cli.add_command(token)
cli.add_command(verifier)
cli.add_command(sim)
cli.add_command(demo)
verifier.add_command(events)
verifier.add_command(console_account)
verifier.add_command(api_key)


_EXTRA_WORDS = "Got unexpected extra argument"  # click's words, for one or several
_EXTRA_WORDS_MESSAGE = (
    "Got unexpected extra words, not repeated here in case one is a secret: secrets, PINs and "
    "passwords are read from stdin or a prompt, never from the command line."
)


def main() -> None:
    """Run the CLI; every failure ends as one line on stderr and an exit code (docs/cli.md):
    `Error: <sentence>`, or with --json the object {"error": <code>, "message": <sentence>}."""
    args = sys.argv[1:]
    try:
        cli.main(args, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        if sys.stdin is not None and not sys.stdin.isatty():
            click.echo(err=True)  # a question answered from a pipe left its line open
        _fail(args, "aborted", "Aborted.", 1, text="Aborted.")
    except click.ClickException as exc:
        if isinstance(exc, click.UsageError) and exc.message.startswith(_EXTRA_WORDS):
            # click quotes the words, and one may be a secret typed where the command reads
            # it from stdin or a prompt (`enrol alice --secret JBSW...`).
            exc = click.UsageError(_EXTRA_WORDS_MESSAGE, exc.ctx)
        if not wants_json(args):
            exc.show()  # a usage error also shows the usage line and where the help is
            sys.exit(exc.exit_code)
        code = "usage_error" if isinstance(exc, click.UsageError) else "failed"
        _fail(args, code, exc.format_message(), exc.exit_code)
    except (BaolingError, VerifierError) as exc:
        _fail(args, error_code(exc), str(exc), 1)


def _fail(args: list[str], code: str, message: str, exit_code: int, *, text: str = "") -> NoReturn:
    if wants_json(args):
        click.echo(json.dumps({"error": code, "message": message}), err=True)
    else:
        click.echo(text or f"Error: {message}", err=True)
    sys.exit(exit_code)


def error_code(exc: Exception) -> str:
    """The stable snake_case code of a library error, from its class name: NotASerialPort ->
    not_a_serial_port, PSKCImportError -> pskc_import_error (docs/cli.md lists them)."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", type(exc).__name__)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
