"""The `baoling sim` commands."""

import click


@click.group()
def sim() -> None:
    """Run a simulated token: the real firmware under MicroPython."""
