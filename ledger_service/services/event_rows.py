"""What the event feed reads from the mirror and the operator's store: each source row's event
data, block times, a batch's readings in leaf order, and who may see an event (device owners, an
item's manufacturer and custodians)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ledger_service.core.enums import Condition, DeviceStatus, Path
from ledger_service.core.mirror_models import ChainBlock, CustodyPeriod, Device, Item, table_of
from ledger_service.core.models import Batch, StoredReading


def event_data(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    if kind == "batch.confirmed":
        return {"chain_batch_id": row["batch_id"], "root": row["root"], "reading_count": row["reading_count"],
                "first_timestamp": row["first_timestamp"], "last_timestamp": row["last_timestamp"],
                "content_id": row["content_id"]}  # fmt: skip
    if kind == "rule.fired":
        return {"rule_id": int(row["rule_id"]), "item_id": row["item_id"], "device_id": row["device_id"],
                "report_id": row["report_id"], "path": Path(row["path"]).name.lower(), "value": row["value"],
                "observed_at": row["observed_at"], "actions": row["actions"]}  # fmt: skip
    if kind == "custody.changed":
        return {"item_id": row["item_id"], "transfer_id": row["transfer_id"],
                "previous_custodian": row["previous_custodian"], "new_custodian": row["new_custodian"]}  # fmt: skip
    if kind == "condition.changed":
        return {"item_id": row["item_id"], "previous": Condition(row["previous_condition"]).name.lower(),
                "condition": Condition(row["new_condition"]).name.lower(), "reporter": row["reporter"],
                "evidence_root": row["evidence_root"]}  # fmt: skip
    return {"device_id": row["device_id"], "previous": status_name(row["previous_status"]),
            "status": status_name(row["new_status"])}  # fmt: skip


def status_name(value: int) -> str:
    try:
        return DeviceStatus(value).name.lower()
    except ValueError:
        return str(value)


def block_times(conn: Connection, numbers: set[int]) -> dict[int, int]:
    if not numbers:
        return {}
    blocks = table_of(ChainBlock)
    query = select(blocks.c.number, blocks.c.timestamp).where(blocks.c.number.in_(sorted(numbers)))
    return {int(n): int(t) for n, t in conn.execute(query)}


def batch_readings(conn: Connection, root: str, first_sub: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """The readings of the operator's batch with `root`, in leaf order, numbered from 1, from
    number `first_sub`; none when this service did not seal that batch."""
    if limit <= 0:
        return []
    readings, batches = table_of(StoredReading), table_of(Batch)
    batch_id = conn.execute(select(batches.c.id).where(batches.c.root == root)).scalar_one_or_none()
    if batch_id is None:
        return []
    query = (
        select(readings.c.id, readings.c.device_id, readings.c.sequence, readings.c.timestamp)
        .where(readings.c.batch_id == batch_id)
        .order_by(readings.c.tree_index, readings.c.id)
        .offset(first_sub - 1)
        .limit(limit)
    )
    return [(first_sub + n, dict(row._mapping)) for n, row in enumerate(conn.execute(query))]


def device_owners(conn: Connection, devices: set[str]) -> dict[str, str]:
    if not devices:
        return {}
    table = table_of(Device)
    query = select(table.c.device_id, table.c.owner).where(table.c.device_id.in_(sorted(devices)))
    return {d: o.lower() for d, o in conn.execute(query)}


def item_parties(conn: Connection, items: set[str]) -> dict[str, set[str]]:
    if not items:
        return {}
    found: dict[str, set[str]] = {item: set() for item in items}
    item_table, custody = table_of(Item), table_of(CustodyPeriod)
    for item_id, manufacturer in conn.execute(
        select(item_table.c.item_id, item_table.c.manufacturer).where(item_table.c.item_id.in_(sorted(items)))
    ):
        found[item_id].add(manufacturer.lower())
    for item_id, custodian in conn.execute(
        select(custody.c.item_id, custody.c.custodian).where(custody.c.item_id.in_(sorted(items)))
    ):
        found[item_id].add(custodian.lower())
    return found
