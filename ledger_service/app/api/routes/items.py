"""Items of the supply chain. Reads come from the SQL mirror (state, list, history timeline);
writes are sent to SupplyChain as the API key's party (or the operator) and answer with the
transaction."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from hexbytes import HexBytes
from web3.types import TxReceipt

from indexer import history as timeline
from indexer import queries
from ledger_service.app.api.deps import ServicesDep, json_bytes, mirror_cache
from ledger_service.app.api.item_schemas import (
    AcceptIn,
    ApprovalIn,
    CheckpointIn,
    DeliveryIn,
    DeviceIn,
    HandoverIn,
    ItemCreate,
    RecallIn,
)
from ledger_service.app.api.mirror_cache import mirror_version
from ledger_service.app.api.problems import MEDIA_TYPE, refusal, write_errors
from ledger_service.app.api.read_schemas import ItemHistory, ItemPage, ItemView
from ledger_service.app.api.refusals import SUPPLY_CHAIN_REFUSALS
from ledger_service.app.api.routes.devices import require
from ledger_service.core.errors import ChainRefused, NotFound, TransactionReverted
from ledger_service.core.models import ApiKey
from ledger_service.core.supply_chain import Evidence, SupplyChainContract
from ledger_service.services import items as actions
from ledger_service.services.apikeys import Role
from ledger_service.services.container import Services

router = APIRouter(prefix="/v1/items", tags=["items"])

Hex32 = Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="The item id: 32 bytes, 0x-hex")
DeviceHex32 = Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="The device id: 32 bytes, 0x-hex")
Address = Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such item in the mirror", "content": {MEDIA_TYPE: {}}},
    422: {"description": "Malformed id or filter", "content": {MEDIA_TYPE: {}}},
}
_WRITE_ERRORS = write_errors(
    {
        401: "No valid API key",
        403: "The key lacks the role, or its account may not do this to the item",
        404: "No such item",
        409: "The item's state does not allow it (closed, on hold, transfer pending or expired...)",
        422: "Invalid body, evidence that is not anchored, unknown device",
    }
)
ManufacturerKey = Annotated[ApiKey, require(Role.MANUFACTURER)]
CustodianKey = Annotated[ApiKey, require(Role.CUSTODIAN)]
DeviceManagerKey = Annotated[ApiKey, require(Role.DEVICE_MANAGER)]


def _refused(exc: TransactionReverted) -> ChainRefused:
    return refusal(exc, SUPPLY_CHAIN_REFUSALS, "SupplyChain")


def _send(
    services: Services, key: ApiKey, item_id: str, action: Callable[[SupplyChainContract], TxReceipt]
) -> dict[str, Any]:
    contract = services.supply_chain(key.party)
    try:
        receipt = action(contract)
    except TransactionReverted as exc:
        raise _refused(exc) from exc
    return {
        "item_id": item_id,
        "account": contract.client.operator.address,
        "transaction_hash": HexBytes(receipt["transactionHash"]).to_0x_hex(),
        "block_number": int(receipt["blockNumber"]),
        "links": {"item": f"/v1/items/{item_id}", "history": f"/v1/items/{item_id}/history"},
    }


def _item_bytes(item_id: str) -> bytes:
    return bytes.fromhex(item_id[2:])


def _require(services: Services, key: ApiKey, item_id: str, relation: Literal["custodian", "manufacturer"]) -> None:
    """The key's account must be the item's custodian or manufacturer, whatever roles the account
    holds on chain (the operator's admin and oracle roles are not for API keys to borrow)."""
    contract = services.supply_chain(key.party)
    try:
        item = contract.get_item(_item_bytes(item_id))
    except Exception as exc:  # noqa: BLE001 - an unknown item reverts the view call
        raise NotFound(f"no item {item_id}", item_id=item_id) from exc
    account = contract.client.operator.address
    if getattr(item, relation).lower() != account.lower():
        refused = ChainRefused(f"{account} is not the item's {relation}", contract_error=None)
        refused.status, refused.code = 403, f"not-{relation}"
        raise refused


@router.get("", responses=_ERRORS, response_model=ItemPage)
def list_items(
    services: ServicesDep,
    custodian: Address = None,
    manufacturer: Address = None,
    status: Literal["active", "delivered", "recalled"] | None = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^0x[0-9a-fA-F]{64}$", description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Items in id order, filtered by custodian, manufacturer or status; cursor pagination."""
    with services.engine.connect() as conn:
        data = queries.list_items(
            conn,
            custodian.lower() if custodian else None,
            status,
            manufacturer.lower() if manufacturer else None,
            cursor.lower() if cursor else None,
            limit,
        )
        block = queries.indexed_block(conn)
    return {"data": data, "next_cursor": data[-1]["item_id"] if len(data) == limit else None, "indexed_block": block}


@router.get("/{item_id}", responses=_ERRORS, response_model=ItemView)
def get_item(services: ServicesDep, item_id: str = Hex32) -> dict[str, Any]:
    """The item now: manufacturer, custodian, status, condition, hold, attached devices, pending
    handover, custody chain and token."""
    with services.engine.connect() as conn:
        item = queries.item_view(conn, item_id.lower())
        block = queries.indexed_block(conn)
    if item is None:
        raise NotFound(f"no item {item_id} in the mirror (at block {block})", item_id=item_id)
    return {**item, "indexed_block": block}


@router.get("/{item_id}/history", responses=_ERRORS, response_model=ItemHistory)
def item_history(request: Request, services: ServicesDep, item_id: str = Hex32) -> Response:
    """One timeline of everything that happened to the item, in chain order: registration,
    devices, handovers, checkpoints (with links to their evidence's proof bundles), condition
    changes, holds, recall, delivery, token mints and transfers, and the anchored batches of its
    sensors' readings; each entry with its transaction hash and block time."""
    key = item_id.lower()
    with services.engine.connect() as conn:  # the checkpoint; when the mirror has moved, the timeline

        def answer() -> bytes | None:
            entries = timeline.item_history(conn, key)
            if not any(entry["type"] == "registered" for entry in entries):
                return None  # every item in the mirror has its registration there
            return json_bytes({"item_id": key, "entries": entries, "indexed_block": version[0]})

        version = mirror_version(conn)
        found = mirror_cache(request).get(("item-history", key), version, answer)
    if found is None:
        raise NotFound(f"no item {item_id} in the mirror", item_id=item_id)
    return Response(found, media_type="application/json")


@router.post("", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
def register_item(body: ItemCreate, services: ServicesDep, key: ManufacturerKey) -> dict[str, Any]:
    """Registers an item on chain (`manufacturer` role): its description goes to the content
    store, its keccak-256 becomes the content hash; sensors must be registered devices owned by
    the key's account (403 `no-owner-consent` otherwise: another owner's device is attached after
    registration, with its approval)."""
    done: list[actions.Registered] = []

    def register(_: SupplyChainContract) -> TxReceipt:
        done.append(
            actions.register_item(services, key.party, body.item_id, body.custodian, body.description, body.devices)
        )
        return done[0].receipt

    item_id = (body.item_id or "").lower()
    answer = _send(services, key, item_id, register)
    registered = done[0]
    return {
        **answer, "item_id": registered.item_id, "content_hash": registered.content_hash,
        "metadata_cid": registered.metadata_cid,
        "links": {"item": f"/v1/items/{registered.item_id}", "history": f"/v1/items/{registered.item_id}/history"},
    }  # fmt: skip


@router.post("/{item_id}/devices", responses=_WRITE_ERRORS)
def attach_device(body: DeviceIn, services: ServicesDep, key: ManufacturerKey, item_id: str = Hex32) -> dict[str, Any]:
    """Attaches a sensor device from now on (`manufacturer` role; the key's account must be the
    item's manufacturer, and own the device or hold its owner's approval: 403 `no-owner-consent`)."""
    _require(services, key, item_id.lower(), "manufacturer")
    device = bytes.fromhex(body.device_id[2:])
    return _send(services, key, item_id.lower(), lambda c: c.attach_device(_item_bytes(item_id), device))


@router.delete("/{item_id}/devices/{device_id}", responses=_WRITE_ERRORS)
def detach_device(
    services: ServicesDep, key: ManufacturerKey, item_id: str = Hex32, device_id: str = DeviceHex32
) -> dict[str, Any]:
    """Detaches a sensor device: its attachment period ends now (409 `device-locked` while an open
    escrow relies on it)."""
    _require(services, key, item_id.lower(), "manufacturer")
    device = bytes.fromhex(device_id[2:])
    return _send(services, key, item_id.lower(), lambda c: c.detach_device(_item_bytes(item_id), device))


@router.put("/{item_id}/devices/{device_id}/approval", responses=_WRITE_ERRORS)
def approve_attachment(
    body: ApprovalIn,
    services: ServicesDep,
    key: DeviceManagerKey,
    item_id: str = Hex32,
    device_id: str = DeviceHex32,
) -> dict[str, Any]:
    """As the device's owner (`device-manager` role; the key's account must own the device on
    chain: 403 `not-device-owner`), consents to attaching it to the item, or withdraws consent."""
    device = bytes.fromhex(device_id[2:])
    return _send(
        services, key, item_id.lower(),
        lambda c: c.approve_attachment(_item_bytes(item_id), device, body.approved),
    )  # fmt: skip


@router.post("/{item_id}/handover", responses=_WRITE_ERRORS)
def propose_handover(
    body: HandoverIn, services: ServicesDep, key: CustodianKey, item_id: str = Hex32
) -> dict[str, Any]:
    """Proposes to hand the item to `to` (the key's account must be the custodian); the receiver
    accepts with `POST /v1/items/{id}/accept` before `expires_in` seconds pass."""
    to = actions.resolve_account(services, body.to)
    expires_at = int(time.time()) + body.expires_in
    location = body.location.to_location()
    return _send(
        services, key, item_id.lower(),
        lambda c: c.propose_transfer(_item_bytes(item_id), to, location, expires_at),
    )  # fmt: skip


@router.post("/{item_id}/accept", responses=_WRITE_ERRORS)
def accept_handover(body: AcceptIn, services: ServicesDep, key: CustodianKey, item_id: str = Hex32) -> dict[str, Any]:
    """Accepts the pending handover (the key's account must be the named receiver)."""
    location = body.location.to_location()
    return _send(services, key, item_id.lower(), lambda c: c.accept_transfer(_item_bytes(item_id), location))


@router.post("/{item_id}/cancel", responses=_WRITE_ERRORS)
def cancel_handover(services: ServicesDep, key: CustodianKey, item_id: str = Hex32) -> dict[str, Any]:
    """Withdraws (custodian) or refuses (receiver) the pending handover."""
    return _send(services, key, item_id.lower(), lambda c: c.cancel_transfer(_item_bytes(item_id)))


@router.post("/{item_id}/checkpoints", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
def record_checkpoint(
    body: CheckpointIn, services: ServicesDep, key: CustodianKey, item_id: str = Hex32
) -> dict[str, Any]:
    """Records a checkpoint; with `evidence_reading_id`, the signed reading is checked on chain: its
    device was attached to the item when it was taken (422 `evidence-not-attached`), its signature
    is by the device's key valid then, and its Merkle proof holds against its anchored batch (409
    `not-yet-anchored` while its batch is not anchored)."""
    _require(services, key, item_id.lower(), "custodian")
    evidence = actions.evidence_of(services, body.evidence_reading_id) if body.evidence_reading_id else Evidence()
    location = body.location.to_location()
    answer = _send(
        services, key, item_id.lower(),
        lambda c: c.record_checkpoint(_item_bytes(item_id), location, body.status_code, evidence),
    )  # fmt: skip
    if body.evidence_reading_id:
        answer["evidence_proof"] = f"/v1/readings/{body.evidence_reading_id.lower()}/proof"
    return answer


@router.post("/{item_id}/recall", responses=_WRITE_ERRORS)
def recall_item(body: RecallIn, services: ServicesDep, key: ManufacturerKey, item_id: str = Hex32) -> dict[str, Any]:
    """Recalls the item (`manufacturer` role; the key's account must be its manufacturer); final."""
    _require(services, key, item_id.lower(), "manufacturer")
    return _send(services, key, item_id.lower(), lambda c: c.recall(_item_bytes(item_id), body.reason))


@router.post("/{item_id}/deliver", responses=_WRITE_ERRORS)
def confirm_delivery(
    body: DeliveryIn, services: ServicesDep, key: CustodianKey, item_id: str = Hex32
) -> dict[str, Any]:
    """The custodian takes final delivery; final."""
    location = body.location.to_location()
    return _send(services, key, item_id.lower(), lambda c: c.confirm_delivery(_item_bytes(item_id), location))
