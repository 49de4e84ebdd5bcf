"""`baoling verifier events`: the events outbox for administrators (docs/events.md): list the
events (the dead ones: deliveries that gave up), replay a dead one."""

from datetime import UTC, datetime
from typing import Any

import click

from baoling.host_tools.options import emit, json_option
from baoling.host_tools.verifier_cmds import open_verifier


@click.group()
def events() -> None:
    """List the events outbox and replay dead events (docs/events.md)."""


def _event_lines(found: list[dict[str, Any]]) -> str:
    """One line per event: id, type, state, attempts, creation time, last error."""
    if not found:
        return "No events."
    lines = []
    for event in found:
        created = datetime.fromtimestamp(event["created"], UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        error = f"  ({event['last_error']})" if event["last_error"] else ""
        lines.append(
            f"{event['id']}  {event['type']:<20} {event['state']:<9} "
            f"{event['attempts']:>3} tries  {created}{error}"
        )
    return "\n".join(lines)


@events.command("list")
@click.option("--dead", is_flag=True, help="Only the dead events (delivery gave up).")
@json_option
@click.pass_context
def list_events(ctx: click.Context, dead: bool, as_json: bool) -> None:
    """List the newest events, newest first.

    \b
    Examples:
      baoling verifier events list
      baoling verifier events list --dead --json
    """
    found = open_verifier(ctx).list_events("dead" if dead else None)
    emit(as_json, found, _event_lines(found))


@events.command()
@click.argument("event_id")
@click.pass_context
def replay(ctx: click.Context, event_id: str) -> None:
    """Deliver a dead event again (its maximum age counts from now).

    \b
    Example:
      baoling verifier events replay evt_1f0c6e0a9b7d4d7e8a1c2b3d4e5f6a7b
    """
    open_verifier(ctx).replay_event(event_id)
    click.echo(f"Event {event_id} will be delivered again.", err=True)
