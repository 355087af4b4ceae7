"""`provenance rule ...` and `provenance oracle ...`: sensor rules, the oracle daemon, its committee
and its reports from the shell."""

from __future__ import annotations

import os
import threading
from typing import Annotated

import typer
from rich.table import Table

from ledger_service.cli.common import console, fail, load_settings, terminate_on_sigterm
from ledger_service.cli.items import AsParty, _act, _item, _services
from ledger_service.errors import ProvenanceError
from ledger_service.runtime import attached_services
from oracles.committee import load_committee, register_committee, save_committee
from oracles.contract import CommitteeMember, SensorOracleContract
from oracles.daemon import OracleDaemon
from oracles.reports import ReportBook
from oracles.rules import Action, build_spec, describe
from oracles.tasks import report_dispatcher

rule_app = typer.Typer(help="Sensor rules: add, list, disable.")
oracle_app = typer.Typer(help="The oracle daemon (run with no subcommand), its committee and its reports.")
committee_app = typer.Typer(help="The oracle committee whose keys this service holds.")
oracle_app.add_typer(committee_app, name="committee")


@rule_app.command("add")
def add(
    item_id: Annotated[str, typer.Argument(help="The item the rule watches (0x-hex); 0x0…0 with --device.")],
    metric: Annotated[str, typer.Option(help="The metric compared, e.g. temperature.")] = "",
    unit: Annotated[str, typer.Option(help="The metric's unit as devices report it, e.g. Cel.")] = "",
    above: Annotated[str | None, typer.Option(help="Breach above this value.")] = None,
    below: Annotated[str | None, typer.Option(help="Breach below this value (with --above: outside the band).")] = None,
    scale: Annotated[int, typer.Option(help="Decimals the device's readings carry (value = raw / 10^scale).")] = 0,
    readings: Annotated[int, typer.Option(min=1, help="Consecutive breaching readings needed.")] = 1,
    duration: Annotated[int, typer.Option("--for", min=0, help="Seconds the breach must last.")] = 0,
    heartbeat: Annotated[int | None, typer.Option(min=1, help="Breach when silent this many seconds.")] = None,
    mean_over: Annotated[int | None, typer.Option(min=1, help="Compare the mean over this many seconds.")] = None,
    actions: Annotated[str, typer.Option(help="Comma-separated: mark, freeze, settle.")] = "mark",
    device: Annotated[str | None, typer.Option(help="Only this device (default: any attached).")] = None,
    party: AsParty = None,
) -> None:
    """Add a rule (as the item's manufacturer or an admin)."""
    try:
        spec = build_spec(
            _item(item_id),
            metric=metric,
            unit=unit,
            above=above,
            below=below,
            scale=scale,
            heartbeat=heartbeat,
            mean_over=mean_over,
            readings=readings,
            duration=duration,
            actions=Action.parse(actions),
            device_id=_item(device) if device else bytes(32),
        )
    except ValueError as exc:
        fail(exc)
    with _services() as services:
        oracle = SensorOracleContract(services.parties.client(party), services.ledger.deployment, services.artifacts)
        try:
            rule_id, receipt = oracle.add_rule(spec)
        except ProvenanceError as exc:
            fail(exc)
    console.print(f"rule {rule_id}: {describe(spec)}; actions {', '.join(spec.actions.names()) or 'none'}")
    console.print(f"  transaction 0x{bytes(receipt['transactionHash']).hex()} in block {receipt['blockNumber']}")


@rule_app.command("list")
def list_rules(
    item: Annotated[str | None, typer.Option(help="Only the rules of this item.")] = None,
) -> None:
    """List the rules on chain."""
    item_id = _item(item) if item else None
    with _services() as services:
        oracle = SensorOracleContract(services.ledger.client, services.ledger.deployment, services.artifacts)
        rules = [r for r in oracle.rules() if item_id is None or r.item_id == item_id]
    table = Table("rule", "item", "kind", "breach when", "actions", "state")
    for rule in rules:
        state = "fired" if rule.fired_at else "armed" if rule.active else "disabled"
        table.add_row(
            str(rule.rule_id),
            "0x" + rule.item_id.hex()[:12] + "…",
            rule.kind.name.lower(),
            describe(rule),
            ",".join(rule.actions.names()) or "-",
            state,
        )
    console.print(table)
    console.print(f"{len(rules)} rule(s)")


@rule_app.command("disable")
def disable(rule_id: Annotated[int, typer.Argument(min=1)], party: AsParty = None) -> None:
    """Disable a rule (as the item's manufacturer or an admin)."""
    with _services() as services:
        oracle = SensorOracleContract(services.parties.client(party), services.ledger.deployment, services.artifacts)
        _act(f"rule {rule_id} disabled", lambda: oracle.disable_rule(rule_id))


@oracle_app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="This daemon's name in the reports it claims.")] = "",
) -> None:
    """Run the oracle daemon until Ctrl-C: evaluate rules on new readings, submit reports."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    terminate_on_sigterm()
    daemon_name = name or f"oracle-{os.getpid()}"
    try:
        with attached_services(settings) as services:
            daemon = OracleDaemon(services, report_dispatcher(services), name=daemon_name)
            committee = len(load_committee(settings.data_dir))
            console.print(
                f"oracle daemon {daemon_name} running (poll {settings.oracle_poll}s, {committee} committee key(s), "
                f"{settings.oracle_scheme}); Ctrl-C stops it"
            )
            try:
                daemon.run(threading.Event(), settings.oracle_poll)
            except KeyboardInterrupt:
                pass
    except ProvenanceError as exc:
        fail(exc)


@oracle_app.command("reports")
def reports(item: Annotated[str | None, typer.Option(help="Only reports about this item.")] = None) -> None:
    """List the reports the oracle daemons found, and what became of them."""
    with _services() as services:
        book = ReportBook(services.engine)
        rows = (
            book.for_item("0x" + _item(item).hex())
            if item
            else book.with_status("pending", "queued", "fired", "superseded", "failed")
        )
    table = Table("report", "rule", "item", "path", "status", "transaction", "found by")
    for row in rows:
        table.add_row(
            row.report_id[:14] + "…",
            str(row.rule_id),
            row.item_id[:14] + "…",
            row.path,
            row.status,
            (row.transaction_hash or "-")[:14],
            row.found_by,
        )
    console.print(table)
    console.print(f"{len(rows)} report(s)")


@committee_app.command("init")
def committee_init(
    members: Annotated[int, typer.Option(min=1, max=255, help="How many member keys to create.")] = 4,
    quorum: Annotated[int, typer.Option(min=1, max=255, help="Signatures a report needs.")] = 3,
) -> None:
    """Create the committee's keys in the data directory (unless there) and register them on chain."""
    if quorum > members:
        fail(ValueError("the quorum cannot exceed the number of members"))
    settings = load_settings()
    existing = load_committee(settings.data_dir)
    keys = existing or [CommitteeMember.generate() for _ in range(members)]
    if not existing:
        path = save_committee(settings.data_dir, keys)
        console.print(f"created {len(keys)} member keys in {path}")
    with _services() as services:
        oracle = SensorOracleContract(services.ledger.client, services.ledger.deployment, services.artifacts)
        try:
            register_committee(oracle, keys, min(quorum, len(keys)))
        except ProvenanceError as exc:
            fail(exc)
        console.print(
            f"committee on chain: {len(oracle.members())} member(s), quorum {oracle.quorum()}, "
            f"version {oracle.config_version()}"
        )


@committee_app.command("show")
def committee_show() -> None:
    """Show the committee on chain and which members' keys this service holds."""
    settings = load_settings()
    local = {m.address for m in load_committee(settings.data_dir)}
    with _services() as services:
        oracle = SensorOracleContract(services.ledger.client, services.ledger.deployment, services.artifacts)
        members = oracle.members()
        quorum, version = oracle.quorum(), oracle.config_version()
    for position, address in enumerate(members):
        console.print(f"{position:>3}  {address}  {'(key held here)' if address in local else ''}")
    console.print(f"{len(members)} member(s), quorum {quorum}, version {version}")
