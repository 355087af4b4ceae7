"""Supply-chain actions shared by the API and the CLI: who an account is, item registration with
its description in the content store, and evidence taken from a stored reading's proof."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from eth_utils import keccak
from sqlmodel import Session
from web3.types import TxReceipt

from ledger_service.core.errors import NotFound
from ledger_service.core.models import StoredReading
from ledger_service.core.supply_chain import Evidence
from ledger_service.services.container import Services
from ledger_service.services.proofs import stored_to_reading


def resolve_account(services: Services, who: str) -> str:
    """An address for `who`: an address as it is, or `party:NAME` (made on first use)."""
    return services.parties.address(who[6:]) if who.startswith("party:") else who


@dataclass(frozen=True)
class Registered:
    """An item just registered."""

    item_id: str
    receipt: TxReceipt
    content_hash: str
    metadata_cid: str


def register_item(
    services: Services,
    party: str | None,
    item_id: str | None,
    custodian: str | None,
    description: dict[str, object],
    devices: list[str],
) -> Registered:
    """Stores the description (canonical JSON) in the content store and registers the item with
    its keccak-256 as content hash, acting as `party` (None: the operator)."""
    chosen = item_id.lower() if item_id else "0x" + os.urandom(32).hex()
    data = json.dumps(description, sort_keys=True, separators=(",", ":")).encode()
    cid = services.content_store().put(data)
    contract = services.supply_chain(party)
    holder = resolve_account(services, custodian) if custodian else contract.client.operator.address
    receipt = contract.register_item(
        bytes.fromhex(chosen[2:]), holder, keccak(data), cid, [bytes.fromhex(d[2:]) for d in devices]
    )
    return Registered(chosen, receipt, "0x" + keccak(data).hex(), cid)


def evidence_of(services: Services, reading_id: str) -> Evidence:
    """The evidence a stored, anchored reading gives: the signed reading, its batch root and
    Merkle proof (raises `NotFound` or `NotYetAnchored` otherwise)."""
    bundle = services.proofs.bundle(reading_id.lower())
    with Session(services.engine) as session:
        row = session.get(StoredReading, reading_id.lower())
    if row is None:
        raise NotFound(f"no reading {reading_id}", reading_id=reading_id)
    return Evidence(
        stored_to_reading(row),
        bytes.fromhex(row.signature[2:]),
        bytes.fromhex(bundle["merkle"]["root"][2:]),
        [bytes.fromhex(p[2:]) for p in bundle["merkle"]["proof"]],
    )
