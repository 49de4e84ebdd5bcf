"""Options shared by the `baoling` command groups, defined once so they read the same everywhere."""

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

PORT_ENV = "BAOLING_PORT"


def port_option(*, required: bool = True, multiple: bool = False) -> Callable[[Any], Any]:
    """--port PATH: the token's serial port (a /dev/ttyACM*, or the simulator's pty)."""
    return click.option(
        "--port",
        "-p",
        "port",
        envvar=PORT_ENV,
        required=required,
        multiple=multiple,
        metavar="PATH",
        help=f"Serial port of the token (or ${PORT_ENV})."
        + (" Repeat for several." if multiple else ""),
    )


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON on stdout, for scripts (an error as JSON on stderr).",
)


def wants_json(args: Sequence[str]) -> bool:
    """Whether a command line asks for JSON: `--json` before any `--`. Read from the words, not
    the parsed options, so that an error found while parsing them is JSON too."""
    words = list(args)
    if "--" in words:
        words = words[: words.index("--")]
    return "--json" in words


force_option = click.option(
    "--force", "-f", is_flag=True, help="Do not ask for confirmation; replace what is there."
)


def emit(as_json: bool, data: Any, text: str) -> None:
    """The one way a command prints its result: JSON for scripts, or text for people."""
    click.echo(json.dumps(data, indent=2, sort_keys=True) if as_json else text)


def read_hidden(label: str, *, confirm: bool = False) -> str:
    """A secret, PIN or password, never an argument (where other users' `ps` would see it):
    the first line of piped stdin without its line ending (a password's own spaces are kept),
    else typed at a prompt that does not echo (twice with `confirm`). Piped input is read
    directly: a prompt would print getpass's warning that the input may be echoed."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt(label, hide_input=True, confirmation_prompt=confirm, err=True))
