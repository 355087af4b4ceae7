"""`provenance rule ...` and `provenance oracle ...`: sensor rules, the oracle daemon, its committee
and its reports from the shell."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ledger_service.app.cli.committee import MemberDir, committee_app, member_folder
from ledger_service.app.cli.common import console, fail, load_settings, terminate_on_sigterm
from ledger_service.app.cli.items import AsParty, _act, _item, _services
from ledger_service.app.runtime import attached_services
from ledger_service.core.chain.context import running_chain_url
from ledger_service.core.compiler import compile_contracts
from ledger_service.core.enums import Action
from ledger_service.core.errors import ProvenanceError
from ledger_service.core.settings import Settings
from oracles.contract import SensorOracleContract
from oracles.coordinator import parse_members
from oracles.daemon import OracleDaemon
from oracles.member import Member, MemberServer
from oracles.member_keys import MemberFile
from oracles.reports import ReportBook
from oracles.rules import build_spec, describe
from oracles.tasks import report_dispatcher

rule_app = typer.Typer(help="Sensor rules: add, list, disable.")
oracle_app = typer.Typer(help="The oracle daemon (run with no subcommand), its committee and its reports.")
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
    member: Annotated[
        str | None, typer.Option(help="Serve as this committee member instead (its key in members/NAME/).")
    ] = None,
    key_dir: MemberDir = None,
    host: Annotated[str, typer.Option(help="Address the member's endpoint listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port of the member's endpoint (0: any).")] = 0,
) -> None:
    """Run the oracle daemon until Ctrl-C (evaluate rules on new readings, submit reports), or with
    --member, one committee member's signing endpoint."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    terminate_on_sigterm()
    if member is not None or key_dir is not None:
        _serve_member(settings, member, key_dir, host, port)
        return
    daemon_name = name or f"oracle-{os.getpid()}"
    try:
        with attached_services(settings) as services:
            daemon = OracleDaemon(services, report_dispatcher(services), name=daemon_name)
            members = len(parse_members(settings.oracle_members))
            console.print(
                f"oracle daemon {daemon_name} running (poll {settings.oracle_poll}s, {members} committee member "
                f"endpoint(s), {settings.oracle_scheme}); Ctrl-C stops it"
            )
            try:
                daemon.run(threading.Event(), settings.oracle_poll)
            except KeyboardInterrupt:
                pass
    except ProvenanceError as exc:
        fail(exc)


def _serve_member(settings: Settings, member: str | None, key_dir: Path | None, host: str, port: int) -> None:
    """Serves one member's `POST /sign` until Ctrl-C, reading the chain through its own RPC URL."""
    folder = member_folder(settings, member, key_dir)
    try:
        keys = MemberFile.load(folder)
        rpc_url = running_chain_url(settings)
        signer = Member(keys, rpc_url, compile_contracts(settings.build_dir, settings.solc))
        server = MemberServer(signer, host, port)
    except (ProvenanceError, OSError) as exc:
        fail(exc)
    # the first line on stdout says where the endpoint is (port 0 picks one)
    print(json.dumps({"member": keys.keys.address, "url": server.url}), flush=True)
    console.print(f"committee member {keys.keys.address} signing at {server.url}/sign; Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


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
