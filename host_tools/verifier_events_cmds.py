"""`baoling verifier events`: the events outbox for administrators (docs/events.md): list the
events (the dead ones: deliveries that gave up), replay a dead one, test a channel."""

from datetime import UTC, datetime
from typing import Any

import click

from baoling.host_tools.options import emit, json_option
from baoling.host_tools.verifier_cmds import command_settings, open_verifier
from baoling.verifier.channels_config import CHANNELS
from baoling.verifier.options import setting_options
from baoling.verifier.templates import LANGUAGES

# The settings a channel test reads (the rest of serve's do not matter to it).
TEST_NAMES = (
    "events_webhook_url",
    "events_webhook_secret_file",
    "events_webhook_timeout_seconds",
    "events_config",
)


@click.group()
def events() -> None:
    """List the events outbox, replay dead events, test a channel (docs/events.md)."""


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


@events.command("test")
@click.argument("channel", type=click.Choice(CHANNELS))
@click.option("--to", "to", metavar="ADDRESS", help="E-mail address or phone number to send to.")
@click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="For e-mail and SMS.",
)
@setting_options(TEST_NAMES)
@click.pass_context
def test_channel(
    ctx: click.Context, channel: str, to: str | None, language: str, **flags: Any
) -> None:
    """Send a test message through a channel now (not through the outbox).

    E-mail and SMS go to --to, else to the operators' addresses of the channel's
    subscriptions.

    \b
    Examples:
      baoling verifier events test webhook
      baoling verifier events test email --to ops@example.com --language zh-CN
    """
    from baoling.verifier.channel_setup import send_test

    settings = command_settings(ctx, **flags)
    for where in send_test(settings, channel, to, language):
        click.echo(f"Sent a test message through {channel} to {where}.", err=True)
