"""`provenance tx`: the operator's transactions in the outbox, and cancelling one that is stuck."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from ledger_service.app.cli.common import console, fail, load_settings, terminate_on_sigterm
from ledger_service.app.runtime import attached_services
from ledger_service.core.chain.outbox import Outbox
from ledger_service.core.db import create_schema, make_engine
from ledger_service.core.errors import ProvenanceError

app = typer.Typer(help="The operator's transactions (the outbox): list them, cancel a stuck one.", no_args_is_help=True)


@app.command("list")
def list_command(
    status: Annotated[
        str | None, typer.Option(help="Only these: pending, mined, reverted, dropped, cancelled.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """List the latest transactions: sender, nonce, what they call, status, fees and replacements."""
    settings = load_settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    table = Table("sent", "sender", "nonce", "call", "status", "max fee gwei", "replaced", "hash")
    for row in Outbox(engine).listing(status, limit):
        offered = row.max_fee_per_gas if row.max_fee_per_gas is not None else row.gas_price
        table.add_row(
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row.created_at)), row.sender, str(row.nonce), row.purpose,
            row.status, f"{int(offered or 0) / 1e9:.3f}", str(row.replacements), row.tx_hash,
        )  # fmt: skip
    console.print(table)


@app.command("cancel")
def cancel(
    nonce: Annotated[int, typer.Argument(min=0, help="The nonce of the transaction to take back.")],
    role: Annotated[str, typer.Option(help="Whose: operator, deployer, anchorer, registrar or reporter.")] = "anchorer",
) -> None:
    """Cancel a transaction that is not mined: the same nonce goes to a transfer of nothing to the
    sender, with higher fees. What the cancelled transaction was for is done again by its loop."""
    terminate_on_sigterm()
    try:
        with attached_services(load_settings()) as services:
            client = services.ledger.client
            sender = client if role == "operator" else client.for_role(role)
            receipt = sender.cancel(nonce)
    except ProvenanceError as exc:
        fail(exc)
    console.print(f"nonce {nonce} of {sender.operator.address} went to {receipt['transactionHash'].hex()}")
