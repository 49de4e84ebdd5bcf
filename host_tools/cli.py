"""Entry point of the `baoling` command: the groups, and the one place errors become a line."""

import sys

import click

from baoling.host_tools.demo_cmd import demo
from baoling.host_tools.sim_cmd import sim
from baoling.host_tools.token_cmds import token
from baoling.host_tools.verifier_cmds import verifier
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


def main() -> None:
    """Run the CLI; library errors become one line on stderr and exit code 1 (docs/cli.md)."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (BaolingError, VerifierError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
