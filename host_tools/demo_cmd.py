"""`baoling demo`: a simulated token, an embedded verifier, and a code checked end to end."""

import click


@click.command()
def demo() -> None:
    """Run the end-to-end demo (not built yet: see the open issues)."""
    raise click.ClickException("the demo is not built yet")
