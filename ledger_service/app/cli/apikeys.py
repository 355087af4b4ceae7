"""`provenance apikey`: issue, list and revoke API keys for the write endpoints."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.engine import Engine

from ledger_service.app.cli.common import console, fail, load_settings
from ledger_service.core.db import create_schema, make_engine
from ledger_service.core.errors import ProvenanceError
from ledger_service.services.apikeys import Role, create_key, list_keys, revoke_key
from ledger_service.services.parties import party_account

app = typer.Typer(help="Issue and revoke API keys (stored as hashes in the service's database).", no_args_is_help=True)


def _engine() -> Engine:
    settings = load_settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    return engine


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    role: Annotated[list[Role], typer.Option("--role", help="A role the key has; repeat for several.")],
    party: Annotated[
        str | None,
        typer.Option(help="Act on chain as this party (an account the service holds; made now if new)."),
    ] = None,
) -> None:
    """Issue a key. The secret is printed once, on stdout; only its hash is stored."""
    try:
        record, secret = create_key(_engine(), name, role, party=party)
        acting = ""
        if party:  # issuing a key for a party is an admin's act: it makes the party when new
            address = party_account(load_settings(), party, create=True).address
            acting = f", acting as party {party} ({address})"
    except ProvenanceError as exc:
        fail(exc)
    console.print(f"created API key '{record.name}' (prefix {record.prefix}) with roles {record.roles}{acting}")
    console.print("store the key now: it cannot be shown again")
    print(secret)


@app.command("list")
def list_command() -> None:
    """List keys (prefix, name, roles, state)."""
    table = Table("prefix", "name", "roles", "party", "created", "state")
    for record in list_keys(_engine()):
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(record.created_at))
        state = "revoked" if record.revoked_at else "active"
        table.add_row(record.prefix, record.name, record.roles, record.party or "-", created, state)
    console.print(table)


@app.command("revoke")
def revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix, as `apikey list` shows it.")]) -> None:
    """Revoke a key; requests with it are refused from now on."""
    try:
        record = revoke_key(_engine(), prefix)
    except ProvenanceError as exc:
        fail(exc)
    console.print(f"revoked API key '{record.name}' (prefix {record.prefix})")
