"""The `baoling token` commands."""

import click


@click.group()
def token() -> None:
    """Find, flash, provision, prove, lock and wipe tokens."""
