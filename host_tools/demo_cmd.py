"""`baoling demo`: a simulated token, an embedded verifier, and a code checked end to end."""

import tempfile
from pathlib import Path

import click

from baoling.host_tools.demo import run_demo
from baoling.host_tools.stop_signals import StopSignals

EXPECTED = ("accept", "reject", "reject")


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the token's state and the verifier's store here (default: a temporary folder).",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Leave the token and the verifier up until Ctrl-C (or SIGTERM); print how to try them.",
)
def demo(data_dir: Path | None, keep_running: bool) -> None:
    """Run a simulated token and a verifier, provision one into the other, check codes.

    No hardware and no configuration: the real firmware runs under MicroPython on a
    pseudo-terminal, the verifier on 127.0.0.1 with an SQLite store. The code on the token's
    screen is checked over HTTP (accept), again (reject: replay) and a wrong one (reject).
    Ctrl-C or SIGTERM stops it at any step; every process it started and its temporary
    folder go with it.

    Examples:
      baoling demo
      baoling demo --keep-running --data-dir ./demo-state
    """
    with StopSignals() as stop, tempfile.TemporaryDirectory(prefix="baoling-demo-") as scratch:
        workdir = data_dir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        result = run_demo(
            workdir.resolve(),
            click.echo,
            keep_running=keep_running,
            interruptible=stop.interruptible,
        )
    if result is None:
        click.echo("Demo stopped before its checks.")
        return
    if (result.first, result.replay, result.wrong) != EXPECTED:
        raise click.ClickException(
            f"the verifier answered {result.first}/{result.replay}/{result.wrong}, "
            "expected accept/reject/reject"
        )
    click.echo("Demo finished: accept, then reject (replay), then reject (wrong code).")
    if data_dir is None:
        click.echo("(Its temporary folder is gone; --data-dir DIR keeps the state and the PNG.)")
