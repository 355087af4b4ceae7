"""The `provenance` command line."""

from __future__ import annotations

import sys

import typer

from ledger_service.app.cli import (
    apikeys,
    devices,
    edge,
    export,
    index,
    items,
    log,
    monitor,
    oracles,
    parties,
    proofs,
    service,
    transactions,
    trust,
    webhooks,
)

app = typer.Typer(
    help="provenance-ledger: signed IoT readings, batched into Merkle trees and anchored on an EVM chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
service.register(app)
proofs.register(app)
monitor.register(app)
edge.register(app)
export.register(app)
app.add_typer(devices.app, name="device")
app.add_typer(apikeys.app, name="apikey")
app.add_typer(parties.app, name="party")
app.add_typer(index.app, name="index")
app.add_typer(index.db_app, name="db")
app.add_typer(items.app, name="item")
app.add_typer(items.token_app, name="token")
app.add_typer(oracles.rule_app, name="rule")
app.add_typer(oracles.oracle_app, name="oracle")
app.add_typer(trust.app, name="trust")
app.add_typer(transactions.app, name="tx")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(log.app, name="log")
app.command("witness", help="The transparency log's witness (the same as `provenance log witness`).")(log.witness)


def main() -> None:
    """Entry point of the `provenance` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
