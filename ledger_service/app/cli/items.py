"""`provenance item ...` and `provenance token ...`: the supply chain and asset tokens from the shell.

Every command acts as the operator, or as a party (`--as NAME`, an account whose key the service
keeps in the data directory). `show` reads the chain; `history` reads the SQL mirror.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from hexbytes import HexBytes
from rich.table import Table

from indexer import history as timeline
from indexer import queries
from ledger_service.app.cli.common import console, fail, load_settings
from ledger_service.app.runtime import attached_services
from ledger_service.core.errors import ProvenanceError
from ledger_service.core.supply_chain import Evidence, Location
from ledger_service.services import items as actions
from ledger_service.services.container import Services
from tokenization.assets import AssetTokens

app = typer.Typer(help="Supply-chain items: register, show, handover, accept, checkpoint, recall, history.")
token_app = typer.Typer(help="Asset tokens: mint, show, transfer.")

ItemId = Annotated[str, typer.Argument(help="The item id: 32 bytes, 0x-hex.")]
AsParty = Annotated[str | None, typer.Option("--as", help="Act as this party instead of the operator.")]
Latitude = Annotated[float, typer.Option("--lat", min=-90, max=90, help="Latitude, degrees.")]
Longitude = Annotated[float, typer.Option("--lon", min=-180, max=180, help="Longitude, degrees.")]
Site = Annotated[str, typer.Option("--site", help="Site code (a GS1 GLN), up to 32 characters.")]


@contextmanager
def _services() -> Iterator[Services]:
    settings = load_settings()
    try:
        with attached_services(settings) as services:
            yield services
    except ProvenanceError as exc:
        fail(exc)


def _item(value: str) -> bytes:
    raw = value[2:] if value.startswith("0x") else value
    if len(raw) != 64:
        fail(ValueError(f"an item id is 32 bytes of hex, not {value!r}"))
    try:
        return bytes.fromhex(raw)
    except ValueError:
        fail(ValueError(f"an item id is 32 bytes of hex, not {value!r}"))


def _done(what: str, receipt: Any) -> None:
    console.print(
        f"{what}: transaction {HexBytes(receipt['transactionHash']).to_0x_hex()} in block {receipt['blockNumber']}"
    )


def _act(what: str, action: Callable[[], Any]) -> None:
    try:
        receipt = action()
    except ProvenanceError as exc:
        fail(exc)
    _done(what, receipt)


@app.command("register")
def register(
    item_id: Annotated[str | None, typer.Option("--id", help="Item id (default: random).")] = None,
    custodian: Annotated[str | None, typer.Option(help="Address or party:NAME (default: you).")] = None,
    description: Annotated[str, typer.Option(help="JSON object describing the item.")] = "{}",
    device: Annotated[list[str] | None, typer.Option("--device", help="Attached sensor device id; repeat.")] = None,
    party: AsParty = None,
) -> None:
    """Register an item (needs MANUFACTURER_ROLE on chain)."""
    try:
        parsed = json.loads(description)
    except ValueError as exc:
        fail(ValueError(f"--description is not JSON: {exc}"))
    if not isinstance(parsed, dict):
        fail(ValueError("--description must be a JSON object"))
    if item_id is not None:
        _item(item_id)
    with _services() as services:
        try:
            done = actions.register_item(services, party, item_id, custodian, parsed, list(device or []))
        except ProvenanceError as exc:
            fail(exc)
    _done(f"registered item {done.item_id} (content {done.content_hash}, metadata {done.metadata_cid})", done.receipt)
    print(done.item_id)


@app.command("show")
def show(item_id: ItemId) -> None:
    """Show an item as the contract holds it now, with its pending handover and devices."""
    raw = _item(item_id)
    with _services() as services:
        contract = services.supply_chain()
        try:
            item = contract.get_item(raw)
        except ProvenanceError as exc:
            fail(exc)
        except Exception as exc:  # noqa: BLE001 - an unknown id reverts the view call
            fail(ValueError(f"no item {item_id}: {exc}"))
        pending = contract.pending_transfer(raw)
        devices = contract.devices_of(raw)
    table = Table("field", "value", show_header=False)
    for name, value in (
        ("item", "0x" + raw.hex()), ("status", item.status.name.lower()),
        ("condition", item.condition.name.lower()), ("held", str(item.held)), ("custodian", item.custodian),
        ("manufacturer", item.manufacturer), ("content hash", "0x" + item.content_hash.hex()),
        ("handovers", str(item.transfer_count)),
        ("pending", f"to {pending[0]} (#{pending[1]}, expires {time.ctime(pending[2])})" if pending else "none"),
        ("devices", ", ".join("0x" + d.hex() for d in devices) or "none"),
    ):  # fmt: skip
        table.add_row(name, value)
    console.print(table)


@app.command("handover")
def handover(
    item_id: ItemId,
    to: Annotated[str, typer.Option("--to", help="Receiver: address or party:NAME.")],
    lat: Latitude = 0.0,
    lon: Longitude = 0.0,
    site: Site = "",
    expires_in: Annotated[int, typer.Option(min=60, help="Seconds the receiver has to accept.")] = 86_400,
    party: AsParty = None,
) -> None:
    """Propose to hand the item over (you must be its custodian)."""
    raw = _item(item_id)
    with _services() as services:
        receiver = actions.resolve_account(services, to)
        expires = int(time.time()) + expires_in
        _act(
            f"proposed handover of {item_id} to {receiver}",
            lambda: services.supply_chain(party).propose_transfer(raw, receiver, Location.of(lat, lon, site), expires),
        )


@app.command("accept")
def accept(item_id: ItemId, lat: Latitude = 0.0, lon: Longitude = 0.0, site: Site = "", party: AsParty = None) -> None:
    """Accept the pending handover (you must be its receiver)."""
    raw = _item(item_id)
    with _services() as services:
        _act(
            f"accepted {item_id}",
            lambda: services.supply_chain(party).accept_transfer(raw, Location.of(lat, lon, site)),
        )


@app.command("cancel")
def cancel(item_id: ItemId, party: AsParty = None) -> None:
    """Withdraw (custodian) or refuse (receiver) the pending handover."""
    raw = _item(item_id)
    with _services() as services:
        _act(f"cancelled the handover of {item_id}", lambda: services.supply_chain(party).cancel_transfer(raw))


@app.command("checkpoint")
def checkpoint(
    item_id: ItemId,
    lat: Latitude = 0.0,
    lon: Longitude = 0.0,
    site: Site = "",
    status: Annotated[int, typer.Option(min=0, max=65_535, help="Business status code.")] = 200,
    evidence: Annotated[str | None, typer.Option(help="A stored, anchored reading id proving it.")] = None,
    party: AsParty = None,
) -> None:
    """Record a checkpoint; with --evidence, the reading's proof is checked on chain."""
    raw = _item(item_id)
    with _services() as services:
        try:
            proof = actions.evidence_of(services, evidence) if evidence else Evidence()
        except ProvenanceError as exc:
            fail(exc)
        _act(
            f"checkpoint {status} for {item_id}" + (f" with evidence {evidence}" if evidence else ""),
            lambda: services.supply_chain(party).record_checkpoint(raw, Location.of(lat, lon, site), status, proof),
        )


@app.command("recall")
def recall(item_id: ItemId, reason: Annotated[str, typer.Option(help="Why.")], party: AsParty = None) -> None:
    """Recall the item (you must be its manufacturer); final."""
    raw = _item(item_id)
    with _services() as services:
        _act(f"recalled {item_id}", lambda: services.supply_chain(party).recall(raw, reason))


@app.command("deliver")
def deliver(item_id: ItemId, lat: Latitude = 0.0, lon: Longitude = 0.0, site: Site = "", party: AsParty = None) -> None:
    """Take final delivery of the item (you must be its custodian); final."""
    raw = _item(item_id)
    with _services() as services:
        _act(
            f"delivered {item_id}",
            lambda: services.supply_chain(party).confirm_delivery(raw, Location.of(lat, lon, site)),
        )


@app.command("history")
def history(item_id: ItemId) -> None:
    """Print the item's timeline from the SQL mirror (run `provenance index` or `up` to fill it)."""
    raw = _item(item_id)
    with _services() as services, services.engine.connect() as conn:
        if queries.item_view(conn, "0x" + raw.hex()) is None:
            fail(ValueError(f"item {item_id} is not in the mirror (at block {queries.indexed_block(conn)})"))
        entries = timeline.item_history(conn, "0x" + raw.hex())
    table = Table("block", "time (UTC)", "what", "details")
    for entry in entries:
        details = ", ".join(f"{k}={v}" for k, v in entry["details"].items() if k != "location")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["time"]))
        table.add_row(str(entry["block_number"]), when, entry["type"], details)
    console.print(table)


def _tokens(services: Services, party: str | None = None) -> AssetTokens:
    client = services.parties.client(party)
    return AssetTokens(client, services.ledger.deployment, services.artifacts, services.content_store())


@token_app.command("mint")
def mint(item_id: ItemId, to: Annotated[str, typer.Option("--to", help="Owner: address or party:NAME.")] = "") -> None:
    """Mint the item's asset token, its metadata written to the content store."""
    raw = _item(item_id)
    with _services() as services:
        tokens = AssetTokens(
            services.parties.client(None), services.ledger.deployment, services.artifacts, services.content_store()
        )
        owner = actions.resolve_account(services, to) if to else tokens.client.operator.address
        try:
            token_id, uri = tokens.mint(raw, owner)
        except ProvenanceError as exc:
            fail(exc)
    console.print(f"minted token {token_id} to {owner}, metadata {uri}")
    print(token_id)


@token_app.command("show")
def show_token(token_id: Annotated[int, typer.Argument(min=0)]) -> None:
    """Show a token (owner, URI, frozen, transferable) and its owners, from the chain."""
    with _services() as services:
        tokens = AssetTokens(
            services.parties.client(None), services.ledger.deployment, services.artifacts, services.content_store()
        )
        try:
            token = tokens.token(token_id)
        except Exception as exc:  # noqa: BLE001 - an unknown token reverts the view call
            fail(ValueError(f"no token {token_id}: {exc}"))
        transfers = tokens.history(token_id)
    console.print(f"token {token_id} for item 0x{token.item_id.hex()}")
    console.print(f"owner {token.owner}  frozen {token.frozen}  transferable {token.transferable}  uri {token.uri}")
    for transfer in transfers:
        console.print(f"  block {transfer.block_number}: {transfer.from_address} -> {transfer.to_address}")


@token_app.command("transfer")
def transfer(
    token_id: Annotated[int, typer.Argument(min=0)],
    to: Annotated[str, typer.Option("--to", help="New owner: address or party:NAME.")],
    party: AsParty = None,
) -> None:
    """Transfer a token you own (refused while its item is out of compliance or recalled)."""
    with _services() as services:
        tokens = AssetTokens(
            services.parties.client(party), services.ledger.deployment, services.artifacts, services.content_store()
        )
        receiver = actions.resolve_account(services, to)
        try:
            tokens.transfer(token_id, receiver)
        except ProvenanceError as exc:
            fail(exc)
    console.print(f"transferred token {token_id} to {receiver}")
