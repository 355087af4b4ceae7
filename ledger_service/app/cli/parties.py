"""`provenance party`: create and list parties (accounts the service holds keys for). Only an
admin, who runs the service's command line, makes parties; API requests never do."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ledger_service.app.cli.common import console, fail, load_settings
from ledger_service.core.errors import ProvenanceError
from ledger_service.services.parties import create_party, list_parties

app = typer.Typer(help="Create and list parties: accounts the service acts as for API keys.", no_args_is_help=True)


@app.command("create")
def create(name: Annotated[str, typer.Argument(help="Lowercase letters, digits and dashes (up to 63).")]) -> None:
    """Create a party: its key is made and kept in the data directory (mode 0600); prints its address."""
    settings = load_settings()
    try:
        account = create_party(settings, name)
    except ProvenanceError as exc:
        fail(exc)
    console.print(f"created party {name}; on a dev chain it is funded when it first acts, elsewhere send it ether")
    print(account.address)


@app.command("list")
def list_command() -> None:
    """List parties with their addresses."""
    table = Table("party", "address")
    for name, address in list_parties(load_settings().data_dir):
        table.add_row(name, address)
    console.print(table)
