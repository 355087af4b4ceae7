"""`provenance index ...` (the chain's SQL mirror) and `provenance db ...` (schema migrations)."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from indexer.catalog import EventCatalog
from indexer.runner import ChainIndexer, target_of
from indexer.runner import Progress as IndexProgress
from indexer.store import Store
from indexer.verify import verify
from ledger_service.app.cli.common import console, fail, load_settings, terminate_on_sigterm
from ledger_service.core.chain.context import prepare_chain, running_chain_url
from ledger_service.core.compiler import compile_contracts
from ledger_service.core.db import head_revision, make_engine, schema_revision, upgrade_schema
from ledger_service.core.errors import ProvenanceError
from ledger_service.core.locks import writer_lease
from ledger_service.core.loops import HealthRecorder, run_loop
from ledger_service.core.settings import Settings

app = typer.Typer(help="The chain's SQL mirror: index, verify, rebuild, reset.", no_args_is_help=False)
db_app = typer.Typer(help="The database schema (Alembic migrations).", no_args_is_help=True)


def build_indexer(settings: Settings) -> ChainIndexer:
    """An indexer over the running chain's deployment, writing to the configured database."""
    chain = prepare_chain(settings, running_chain_url(settings))
    engine = make_engine(settings.resolved_database_url, bulk=True)
    upgrade_schema(engine)
    return ChainIndexer(
        engine,
        chain.client.rpc_url,
        target_of(chain.deployment, chain.artifacts),
        confirmations=settings.index_confirmations,
        use_finalized=settings.index_finalized,
        batch_confirmations=settings.confirmations,
        poll=settings.index_poll,
        transactions=settings.index_transactions,
        max_span=settings.index_max_span,
    )


def _first_backfill(indexer: ChainIndexer, stop: threading.Event, poll: float, retry: bool) -> int:
    """Backfills to the head; returns the blocks written. Unless it is a one-off (`--once`), an RPC
    or database outage on the way is ridden out by the loop policy, as following the head does."""
    if not retry:
        return indexer.backfill(stop)
    written = [0]
    done = threading.Event()

    def step() -> bool:
        written[0] += indexer.backfill(stop)
        done.set()
        return True

    run_loop("indexer", step, done, poll, HealthRecorder(indexer.store.engine))
    return written[0]


def _backfill_with_progress(indexer: ChainIndexer, stop: threading.Event, poll: float, retry: bool) -> int:
    """`_first_backfill` with a progress bar of blocks and rates; returns the blocks written."""
    state = indexer.open()
    start = state.start_block if state.head_number is None else state.head_number + 1
    with Progress(
        TextColumn("[bold]indexing[/bold]"),
        BarColumn(),
        TextColumn("block {task.completed:,.0f}/{task.total:,.0f}"),
        TextColumn("{task.fields[rates]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        _, target, _ = indexer.heads()
        task = bar.add_task("backfill", total=max(target, 0), completed=max(start - 1, 0), rates="")

        def report(p: IndexProgress) -> None:
            bar.update(
                task,
                completed=p.indexed,
                total=p.target,
                rates=f"{p.blocks_per_second:,.0f} blocks/s  {p.events_per_second:,.0f} events/s",
            )

        indexer.progress = report
        return _first_backfill(indexer, stop, poll, retry)


@app.callback(invoke_without_command=True)
def index(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Backfill to the head, then exit (no following).")] = False,
) -> None:
    """Backfill the mirror from the chain, then follow the head until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    terminate_on_sigterm()
    stop = threading.Event()
    try:
        indexer = build_indexer(settings)
        stack = ExitStack()
        try:
            stack.enter_context(
                writer_lease(
                    indexer.store.engine,
                    settings.data_dir,
                    on_wait=lambda: console.print("standing by: another indexer writes this database's mirror"),
                )
            )
            console.print("this indexer writes the mirror")
            started = time.perf_counter()
            blocks = _backfill_with_progress(indexer, stop, settings.index_poll, retry=not once)
            after = indexer.store.state()
            console.print(
                f"backfilled {blocks:,} blocks in {time.perf_counter() - started:.1f} s; mirror at block "
                f"{after.head_number if after else None}"
            )
            if once:
                return
            indexer.progress = None
            console.print(f"following the head (every {settings.index_poll}s); Ctrl-C stops")
            try:
                indexer.run(stop, follow=True)
            except KeyboardInterrupt:
                stop.set()
        finally:
            stack.close()
            indexer.close()
    except ProvenanceError as exc:
        fail(exc)


@app.command("reset")
def reset(yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Empty the mirror (blocks, transactions, events, derived tables) and forget its checkpoint."""
    settings = load_settings()
    engine = make_engine(settings.resolved_database_url)
    upgrade_schema(engine)
    state = Store(engine).state()
    if state is None:
        console.print("the mirror is already empty")
        return
    if not yes and not typer.confirm(
        f"drop the mirror of chain {state.chain_id} (genesis {state.genesis_hash[:12]}…, at block {state.head_number})?"
    ):
        raise typer.Exit(code=1)
    Store(engine).reset()
    console.print(f"mirror reset: chain {state.chain_id} dropped; `provenance index` indexes the current chain")


@app.command("verify")
def verify_command() -> None:
    """Compare the mirror with the contracts' state at the mirror's head; list every divergence."""
    settings = load_settings()
    try:
        chain = prepare_chain(settings, running_chain_url(settings))
        engine = make_engine(settings.resolved_database_url)
        upgrade_schema(engine)
        contracts = {name: c.address for name, c in chain.deployment.contracts.items()}
        abis = {name: chain.artifacts[name].abi for name in chain.deployment.contracts}
        report = verify(engine, chain.client.rpc_url, contracts, abis)
    except ProvenanceError as exc:
        fail(exc)
    checked = ", ".join(f"{count:,} {what}" for what, count in report.checked.items())
    console.print(f"checked at block {report.head}: {checked}")
    if report.ok:
        console.print("[green]the mirror matches the chain[/green]")
        return
    for line in report.divergences:
        console.print(f"[red]divergence[/red] {line}")
    console.print(f"{len(report.divergences)} divergence(s)")
    raise typer.Exit(code=1)


@app.command("rebuild")
def rebuild() -> None:
    """Rebuild the typed event and derived tables from the raw event log alone (no chain needed)."""
    settings = load_settings()
    try:
        artifacts = compile_contracts(settings.build_dir, settings.solc)
    except ProvenanceError as exc:
        fail(exc)
    engine = make_engine(settings.resolved_database_url, bulk=True)
    upgrade_schema(engine)
    count = Store(engine).rebuild_from_log(EventCatalog([a.abi for a in artifacts.values()]))
    console.print(f"rebuilt the typed and derived tables from {count:,} logged events")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (creating it when new)."""
    settings = load_settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    before, after = upgrade_schema(engine)
    if before == after:
        console.print(f"database already at revision {after}")
    else:
        console.print(f"database migrated from {before or 'empty'} to {after}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the newest one."""
    settings = load_settings()
    engine = make_engine(settings.resolved_database_url)
    console.print(f"database at {schema_revision(engine) or 'no revision'}; newest is {head_revision()}")
