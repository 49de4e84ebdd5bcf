"""`python -m baoling.verifier` serves: the same settings as `baoling verifier serve`, given as
flags, BAOLING_ variables or a TOML file (docs/configuration.md)."""

from pathlib import Path
from typing import Any

import click

from baoling.verifier.errors import VerifierError
from baoling.verifier.options import NAMES, config_option, from_command_line, setting_options


@click.command()
@config_option
@setting_options(NAMES)
def main(config: Path | None, **flags: Any) -> None:
    """Serve the verifier's HTTP API (and RADIUS with --radius) until SIGINT or SIGTERM."""
    from baoling.verifier.server import serve

    try:
        serve(from_command_line(flags, config))
    except VerifierError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main(prog_name="python -m baoling.verifier")
