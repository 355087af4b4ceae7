"""`provenance webhooks`: the webhook deliverer (one per database; a second stands by), and the
subscriptions and their delivery log from the shell."""

from __future__ import annotations

import threading
from contextlib import ExitStack

import typer
from rich.table import Table
from sqlmodel import Session, col, select

from ledger_service.app.cli.common import console, fail, load_settings, terminate_on_sigterm
from ledger_service.core.db import make_engine, upgrade_schema
from ledger_service.core.errors import ProvenanceError
from ledger_service.core.locks import writer_lease
from ledger_service.core.loops import HealthRecorder, run_loop
from ledger_service.core.models import Subscription
from ledger_service.services.webhooks import WebhookDeliverer

app = typer.Typer(help="Signed webhooks: the deliverer (run with no subcommand) and the subscriptions.")


@app.callback(invoke_without_command=True)
def run(ctx: typer.Context) -> None:
    """Deliver the event feed to every subscription until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    terminate_on_sigterm()
    try:
        engine = make_engine(settings.resolved_database_url)
        upgrade_schema(engine)
        with ExitStack() as stack:
            stack.enter_context(
                writer_lease(
                    engine,
                    settings.data_dir,
                    on_wait=lambda: console.print("standing by: another deliverer serves this database's webhooks"),
                    role="webhook-deliverer",
                )
            )
            deliverer = WebhookDeliverer(engine, settings)
            stack.callback(deliverer.close)
            console.print(f"delivering webhooks (poll {settings.webhook_poll}s); Ctrl-C stops")
            stop = threading.Event()
            try:
                run_loop("webhooks", lambda: deliverer.step() > 0, stop, settings.webhook_poll, HealthRecorder(engine))
            except KeyboardInterrupt:
                stop.set()
    except ProvenanceError as exc:
        fail(exc)


@app.command("list")
def list_all() -> None:
    """Every subscription: its URL, party, event types, cursor and failures."""
    settings = load_settings()
    engine = make_engine(settings.resolved_database_url)
    upgrade_schema(engine)
    with Session(engine) as session:
        rows = session.exec(select(Subscription).order_by(col(Subscription.id))).all()
    table = Table("id", "url", "party", "types", "cursor", "active", "failures")
    for row in rows:
        table.add_row(str(row.id), row.url, row.party or "(operator)", row.types or "all", row.cursor,
                      "yes" if row.active else "no", str(row.failures))  # fmt: skip
    console.print(table)
