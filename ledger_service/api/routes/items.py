"""Items of the supply chain, read from the SQL mirror: state, list, and the history timeline."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from indexer import queries
from ledger_service.api.deps import ServicesDep
from ledger_service.api.problems import MEDIA_TYPE
from ledger_service.errors import NotFound

router = APIRouter(prefix="/v1/items", tags=["items"])

Hex32 = Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="The item id: 32 bytes, 0x-hex")
Address = Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such item in the mirror", "content": {MEDIA_TYPE: {}}},
    422: {"description": "Malformed id or filter", "content": {MEDIA_TYPE: {}}},
}


@router.get("", responses=_ERRORS)
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


@router.get("/{item_id}", responses=_ERRORS)
def get_item(services: ServicesDep, item_id: str = Hex32) -> dict[str, Any]:
    """The item now: manufacturer, custodian, status, condition, hold, attached devices, pending
    handover, custody chain and token."""
    with services.engine.connect() as conn:
        item = queries.item_view(conn, item_id.lower())
        block = queries.indexed_block(conn)
    if item is None:
        raise NotFound(f"no item {item_id} in the mirror (at block {block})", item_id=item_id)
    return {**item, "indexed_block": block}


@router.get("/{item_id}/history", responses=_ERRORS)
def item_history(services: ServicesDep, item_id: str = Hex32) -> dict[str, Any]:
    """One timeline of everything that happened to the item, in chain order: registration,
    devices, handovers, checkpoints (with links to their evidence's proof bundles), condition
    changes, holds, recall, delivery, token mints and transfers, and the anchored batches of its
    sensors' readings; each entry with its transaction hash and block time."""
    with services.engine.connect() as conn:
        if queries.item_view(conn, item_id.lower()) is None:
            raise NotFound(f"no item {item_id} in the mirror", item_id=item_id)
        entries = queries.item_history(conn, item_id.lower())
        block = queries.indexed_block(conn)
    return {"item_id": item_id.lower(), "entries": entries, "indexed_block": block}
