"""The `baoling sim` commands: run a simulated token, and drive a running one from elsewhere.

`run` holds the simulator (host_tools.simulator) open; the other commands only touch the
control files in its state folder (host_tools.sim_control), so they work from any shell.
"""

import json
import time
from pathlib import Path

import click

from baoling.host_tools import sim_control
from baoling.host_tools.options import json_option
from baoling.host_tools.simulator import FIRMWARE_DIR, Simulator, SimulatorError, flash
from baoling.host_tools.stop_signals import StopSignals

STATE_ENV = "BAOLING_SIM_STATE"

state_option = click.option(
    "--state",
    "state_dir",
    envvar=STATE_ENV,
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"The simulated token's state folder: its filesystem and controls (or ${STATE_ENV}).",
)


offset_option = click.option(
    "--offset", "offset_s", type=float, help="Seconds the clock is off (moves it now)."
)
drift_option = click.option(
    "--drift", "drift_ppm", type=float, help="Clock rate error in ppm (+ = fast)."
)
battery_option = click.option(
    "--battery/--no-battery",
    default=None,
    help="RTC battery in or out (out: the RTC forgets its time at the next power-up).",
)


def existing_state(state_dir: Path) -> Path:
    """The state folder of a simulator that has run at least once, or a one-line error."""
    if not sim_control.control_dir(state_dir).is_dir():
        raise click.ClickException(
            f"{state_dir} is not a simulator state folder: "
            f"start one with `baoling sim run --state {state_dir}`"
        )
    return state_dir


@click.group()
def sim() -> None:
    """Run a simulated token: the real firmware under MicroPython, on a pseudo-terminal."""


@sim.command()
@state_option
@click.option("--heap", metavar="SIZE", help="Limit MicroPython's heap, e.g. 64k (as a board).")
@click.option(
    "--firmware",
    "firmware_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=FIRMWARE_DIR,
    show_default="the repository's firmware/",
    help="Firmware folder to flash into a new state folder.",
)
@click.option(
    "--buttons",
    type=click.IntRange(1, 2),
    help="Buttons on the board: 2 gives it a second one (B) [default: as before, else 1].",
)
@offset_option
@drift_option
@battery_option
def run(
    state_dir: Path,
    heap: str | None,
    firmware_dir: Path,
    buttons: int | None,
    offset_s: float | None,
    drift_ppm: float | None,
    battery: bool | None,
) -> None:
    """Start a simulated token and keep it running until Ctrl-C or SIGTERM.

    A new state folder is flashed with the firmware first; an existing one keeps its files,
    profiles and clock settings. The serial port (a pseudo-terminal) is printed and also
    linked as STATE/.sim/port; the screen is kept up to date as STATE/.sim/screen.png.
    --offset, --drift and --battery set the clock knobs before power-up (as `sim clock`).

    Examples:

      baoling sim run --state ~/token1 &

      baoling sim run --state ~/token2 --offset 3600 --drift 40

      baoling token info --port ~/token1/.sim/port

      mpremote connect ~/token1/.sim/port fs ls
    """
    try:
        simulator = Simulator(
            state_dir, heap=heap, firmware_dir=firmware_dir, png=True, buttons=buttons
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--heap") from exc
    if not (firmware_dir / "boards" / "sim.py").is_file():
        raise click.BadParameter(f"{firmware_dir} has no boards/sim.py", param_hint="--firmware")
    with StopSignals() as stop:
        flash(simulator.state_dir, firmware_dir)  # the knobs live in the flashed state folder
        sim_control.set_clock(simulator.state_dir, offset_s, drift_ppm, battery)
        try:
            with simulator, stop.interruptible():
                click.echo(f"port: {simulator.port}")
                click.echo(f"screen: {simulator.png_path}")
                click.echo(f"state: {simulator.state_dir}")
                click.echo("Running; press Ctrl-C to stop.", err=True)
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("Stopped.", err=True)
        except SimulatorError as exc:
            raise click.ClickException(str(exc)) from None


@sim.command()
@state_option
@click.option(
    "--seconds", default=0.1, show_default=True, type=click.FloatRange(0.05, 60), help="Hold time."
)
@click.option(
    "--button",
    type=click.IntRange(1, 2),
    default=1,
    show_default=True,
    help="Which: 2 is the second button (B) of a board run with --buttons 2.",
)
def press(state_dir: Path, seconds: float, button: int) -> None:
    """Press the simulated token's button (hold it longer to confirm a wipe or a time jump).

    Examples:

      baoling sim press --state ~/token1

      baoling sim press --state ~/token1 --seconds 1.5
    """
    sim_control.press(existing_state(state_dir), seconds, button)


@sim.command()
@state_option
@offset_option
@drift_option
@battery_option
@json_option
def clock(
    state_dir: Path,
    offset_s: float | None,
    drift_ppm: float | None,
    battery: bool | None,
    as_json: bool,
) -> None:
    """Show or change the simulated token's clock knobs.

    Examples:

      baoling sim clock --state ~/token1 --offset 3600

      baoling sim clock --state ~/token1 --drift 40 --no-battery

      baoling sim clock --state ~/token1 --json
    """
    knobs = sim_control.set_clock(existing_state(state_dir), offset_s, drift_ppm, battery)
    if as_json:
        click.echo(json.dumps(knobs))
        return
    click.echo(f"offset: {knobs['offset_ms'] / 1000:g} s")
    click.echo(f"drift: {knobs['drift_ppm']:g} ppm")
    click.echo(f"battery: {'in' if knobs['battery'] else 'out'}")
    click.echo(f"aged: {knobs['advanced_ms'] / 1000:g} s")


@sim.command()
@state_option
@click.argument("seconds", type=float)
def age(state_dir: Path, seconds: float) -> None:
    """Let SECONDS of time pass for the simulated token at once (its drift applies).

    Examples:

      baoling sim age --state ~/token1 86400
    """
    sim_control.age(existing_state(state_dir), seconds)


@sim.command()
@state_option
@click.option(
    "--png",
    "png_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also save the picture as this PNG file.",
)
@json_option
def screen(state_dir: Path, png_path: Path | None, as_json: bool) -> None:
    """Show what the simulated token's screen shows now (as the firmware describes it).

    Examples:

      baoling sim screen --state ~/token1

      baoling sim screen --state ~/token1 --json --png now.png
    """
    shown = sim_control.screen(existing_state(state_dir))
    if png_path is not None:
        sim_control.render_png(state_dir, png_path)
    if as_json:
        click.echo(json.dumps(shown, sort_keys=True))
    elif not shown:
        click.echo("(nothing on screen)")
    else:
        for key, value in shown.items():
            click.echo(f"{key}: {value}")
