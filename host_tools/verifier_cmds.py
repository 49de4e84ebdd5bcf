"""The `baoling verifier` commands."""

import click


@click.group()
def verifier() -> None:
    """Run and administer the verifier service."""
