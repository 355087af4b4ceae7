"""Derived state of SupplyChain and AssetToken: items, their devices, custody periods and tokens.

Like the device projection: events applied in chain order to the rows of the entities they name,
which are then written back; the same code rebuilds an entity from its stored typed events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from indexer.chunks import DecodedEvent
from indexer.projections import chunks, stored_events
from ledger_service.core.mirror_models import (
    EVENT_TABLES,
    AssetTokenRow,
    CustodyPeriod,
    Item,
    ItemDevice,
    table_of,
)

ITEM_EVENTS: dict[str, Any] = {
    name: EVENT_TABLES[name]
    for name in (
        "ItemRegistered", "DeviceAttached", "DeviceDetached", "TransferProposed", "TransferAccepted",
        "TransferCancelled", "CheckpointRecorded", "ConditionChanged", "ItemHeld", "ItemReleased", "ItemRecalled",
        "ItemDelivered",
    )
}  # fmt: skip
TOKEN_EVENTS: dict[str, Any] = {name: EVENT_TABLES[name] for name in ("AssetMinted", "Transfer")}
CONDITIONS = {0: "compliant", 1: "out_of_compliance"}
_ZERO = "0x" + "00" * 20


def _load(conn: Connection, model: Any, column: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    table = table_of(model)
    rows: list[dict[str, Any]] = []
    for part in chunks(list(keys)):
        rows.extend(dict(r._mapping) for r in conn.execute(select(table).where(table.c[column].in_(part))))
    return rows


def _replace(conn: Connection, model: Any, column: str, keys: Sequence[str], rows: list[dict[str, Any]]) -> None:
    table = table_of(model)
    for part in chunks(list(keys)):
        conn.execute(delete(table).where(table.c[column].in_(part)))
    if rows:
        conn.execute(insert(table), rows)


_NO_PENDING_TRANSFER = {"pending_transfer_id": None, "pending_receiver": None, "pending_expires_at": None}


def _new_item(v: dict[str, Any], block: int, time: int) -> dict[str, Any]:
    """The `item` row an `ItemRegistered` event makes."""
    return {
        "item_id": v["item_id"], "manufacturer": v["manufacturer"], "custodian": v["custodian"],
        "status": "active", "condition": "compliant", "held": False, "content_hash": v["content_hash"],
        "metadata_cid": v["metadata_cid"], "transfer_count": 0, **_NO_PENDING_TRANSFER,
        "registered_block": block, "registered_at": time, "updated_block": block,
    }  # fmt: skip


def _item_changes(name: str, v: dict[str, Any]) -> dict[str, Any]:
    """The `item` columns an event sets (its devices and custody periods aside)."""
    if name == "TransferProposed":
        return {
            "transfer_count": v["transfer_id"], "pending_transfer_id": v["transfer_id"],
            "pending_receiver": v["receiver"], "pending_expires_at": v["expires_at"],
        }  # fmt: skip
    if name == "TransferAccepted":
        return {"custodian": v["new_custodian"], **_NO_PENDING_TRANSFER}
    if name == "TransferCancelled":
        return dict(_NO_PENDING_TRANSFER)
    if name == "ConditionChanged":
        return {"condition": CONDITIONS.get(v["new_condition"], str(v["new_condition"]))}
    if name in ("ItemHeld", "ItemReleased"):
        return {"held": name == "ItemHeld"}
    if name == "ItemRecalled":
        return {"status": "recalled"}
    if name == "ItemDelivered":
        return {"status": "delivered"}
    return {}


class ItemProjection:
    """`item`, `item_device` and `custody_period` from the SupplyChain events."""

    events = ITEM_EVENTS
    key_column = "item_id"

    def apply(self, conn: Connection, events: Sequence[DecodedEvent], block_times: dict[int, int]) -> None:
        """Applies `events` (chain order) to the items they name."""
        mine = [e for e in events if e.name in ITEM_EVENTS]
        if not mine:
            return
        ids = sorted({e.values["item_id"] for e in mine})
        items = {r["item_id"]: r for r in _load(conn, Item, "item_id", ids)}
        devices = {(r["item_id"], r["device_id"]): r for r in _load(conn, ItemDevice, "item_id", ids)}
        periods = {(r["item_id"], r["sequence"]): r for r in _load(conn, CustodyPeriod, "item_id", ids)}
        for event in mine:
            self._apply_one(event, block_times[event.block_number], items, devices, periods)
        _replace(conn, Item, "item_id", ids, list(items.values()))
        _replace(conn, ItemDevice, "item_id", ids, list(devices.values()))
        _replace(conn, CustodyPeriod, "item_id", ids, list(periods.values()))

    @staticmethod
    def _apply_one(
        event: DecodedEvent,
        time: int,
        items: dict[str, dict[str, Any]],
        devices: dict[tuple[str, str], dict[str, Any]],
        periods: dict[tuple[str, int], dict[str, Any]],
    ) -> None:
        v, block, item_id = event.values, event.block_number, event.values["item_id"]

        def open_period(custodian: str) -> None:
            sequence = sum(1 for key in periods if key[0] == item_id)
            periods[(item_id, sequence)] = {
                "item_id": item_id, "sequence": sequence, "custodian": custodian, "from_block": block,
                "from_time": time, "until_block": None, "until_time": None,
            }  # fmt: skip

        def close_period() -> None:
            for key, period in periods.items():
                if key[0] == item_id and period["until_block"] is None:
                    period["until_block"], period["until_time"] = block, time

        if event.name == "ItemRegistered":
            items[item_id] = _new_item(v, block, time)
            open_period(v["custodian"])
            return
        item = items.get(item_id)
        if item is None:  # an event for an item registered before the indexed range
            return
        item["updated_block"] = block
        name = event.name
        if name == "DeviceAttached":
            attached = {"item_id": item_id, "device_id": v["device_id"], "attached_block": block}
            devices[(item_id, v["device_id"])] = attached
        elif name == "DeviceDetached":
            devices.pop((item_id, v["device_id"]), None)
        if name in ("TransferAccepted", "ItemDelivered"):
            close_period()
        if name == "TransferAccepted":
            open_period(v["new_custodian"])
        item.update(_item_changes(name, v))

    def rebuild(self, conn: Connection, ids: Sequence[str]) -> None:
        """Rebuilds items `ids` from their stored typed events."""
        for model in (Item, ItemDevice, CustodyPeriod):
            _replace(conn, model, "item_id", ids, [])
        events, times = stored_events(conn, ITEM_EVENTS, "item_id", ids)
        self.apply(conn, events, times)


class TokenProjection:
    """`asset_token` from AssetToken's AssetMinted and Transfer events."""

    events = TOKEN_EVENTS
    key_column = "token_id"

    def apply(self, conn: Connection, events: Sequence[DecodedEvent], block_times: dict[int, int]) -> None:
        """Applies mints and transfers in order."""
        del block_times
        mine = [e for e in events if e.name in TOKEN_EVENTS]
        if not mine:
            return
        ids = sorted({e.values["token_id"] for e in mine})
        tokens = {r["token_id"]: r for r in _load(conn, AssetTokenRow, "token_id", ids)}
        for event in mine:
            v = event.values
            token = tokens.get(v["token_id"])
            if token is None:  # the mint's Transfer comes first, AssetMinted after it
                token = tokens[v["token_id"]] = {
                    "token_id": v["token_id"], "item_id": "0x" + int(v["token_id"]).to_bytes(32, "big").hex(),
                    "owner": _ZERO, "uri": "", "minted_block": event.block_number, "transfers": 0,
                }  # fmt: skip
            if event.name == "AssetMinted":
                token.update(item_id=v["item_id"], uri=v["uri"])
            else:  # ownership follows Transfer events only, the mint's included
                token["owner"] = v["to_address"]
                if v["from_address"] != _ZERO:
                    token["transfers"] += 1
        _replace(conn, AssetTokenRow, "token_id", ids, list(tokens.values()))

    def rebuild(self, conn: Connection, ids: Sequence[str]) -> None:
        """Rebuilds tokens `ids` from their stored typed events."""
        _replace(conn, AssetTokenRow, "token_id", ids, [])
        events, times = stored_events(conn, TOKEN_EVENTS, "token_id", ids)
        self.apply(conn, events, times)
