"""`baoling verifier api-key`: the HTTP API's keys (docs/verifier.md, "Routes"). A key is
printed once when it is made and stored only as its SHA-256; a revoked key keeps its row, so
its name is never given to another key and the audit trail's `by: api-key:<name>` stays one
key's."""

import click

from baoling.host_tools.options import emit, json_option
from baoling.host_tools.verifier_cmds import open_verifier
from baoling.host_tools.verifier_text import iso_utc, table
from baoling.verifier.api_keys import API_KEY_SCOPES


@click.group("api-key")
def api_key() -> None:
    """Create, list and revoke HTTP API keys (docs/verifier.md)."""


@api_key.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(API_KEY_SCOPES),
    multiple=True,
    required=True,
    help="Repeat for several (docs/verifier.md, Routes).",
)
@json_option
@click.pass_context
def create(ctx: click.Context, name: str, scopes: tuple[str, ...], as_json: bool) -> None:
    """Create an HTTP API key (printed once, stored hashed).

    \b
    Examples:
      baoling verifier api-key create vpn-gateway --scope validate
      baoling verifier api-key create ops --scope admin --scope validate --json
      baoling verifier api-key create helpdesk-desk-1 --scope helpdesk
    """
    key = open_verifier(ctx).create_api_key(name, list(scopes))
    emit(as_json, {"name": name, "scopes": sorted(scopes), "key": key}, key)


@api_key.command("list")
@json_option
@click.pass_context
def list_keys(ctx: click.Context, as_json: bool) -> None:
    """List the API keys, revoked ones too (never a key itself).

    \b
    Example:
      baoling verifier api-key list
    """
    keys = open_verifier(ctx).list_api_keys()
    rows = [
        (k["name"], ",".join(k["scopes"]), iso_utc(k["created"]), iso_utc(k["revoked"]), k["id"])
        for k in keys
    ]
    text = table(("NAME", "SCOPES", "CREATED", "REVOKED", "ID"), rows) if rows else "No API keys."
    emit(as_json, keys, text)


@api_key.command("revoke")
@click.argument("name")
@json_option
@click.pass_context
def revoke(ctx: click.Context, name: str, as_json: bool) -> None:
    """Revoke the API key NAME for good: requests with it are refused (a serving node that took
    it in the last minute still takes it until then).

    \b
    Example:
      baoling verifier api-key revoke vpn-gateway
    """
    key_id = open_verifier(ctx).revoke_api_key(name)
    emit(as_json, {"name": name, "id": key_id, "revoked": True}, f"API key {name} is revoked.")
