"""Derived state from decoded events: devices and their key history, and role members.

A projection applies events in chain order to the current rows of the entities they touch, then
writes those rows back. The same code rebuilds an entity from its stored typed events after a
rollback, so forward indexing and rebuilding cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, text

from indexer.fetch import DecodedEvent
from ledger_service.core.mirror_models import (
    Device,
    DeviceKey,
    EvDeviceKeyRotated,
    EvDeviceMetadataUpdated,
    EvDeviceOwnershipTransferred,
    EvDeviceRegistered,
    EvDeviceStatusChanged,
    EvRoleGranted,
    EvRoleRevoked,
    RoleMember,
    table_of,
)

STATUS_NAMES = {0: "none", 1: "active", 2: "suspended", 3: "revoked"}
DEVICE_EVENTS = {
    "DeviceRegistered": EvDeviceRegistered,
    "DeviceKeyRotated": EvDeviceKeyRotated,
    "DeviceStatusChanged": EvDeviceStatusChanged,
    "DeviceOwnershipTransferred": EvDeviceOwnershipTransferred,
    "DeviceMetadataUpdated": EvDeviceMetadataUpdated,
}
ROLE_EVENTS = {"RoleGranted": EvRoleGranted, "RoleRevoked": EvRoleRevoked}
_IN_CHUNK = 500


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    """`values` in slices small enough for an SQL IN list."""
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def _rows(conn: Connection, table: Any, column: Any, keys: Sequence[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for part in chunks(keys):
        found.extend(dict(r._mapping) for r in conn.execute(select(table).where(column.in_(part))))
    return found


class DeviceProjection:
    """`device` and `device_key` from the DeviceRegistry events."""

    events = DEVICE_EVENTS
    key_column = "device_id"

    def apply(self, conn: Connection, events: Sequence[DecodedEvent], block_times: dict[int, int]) -> None:
        """Applies `events` (chain order) to the devices they name."""
        mine = [e for e in events if e.name in DEVICE_EVENTS]
        if not mine:
            return
        ids = sorted({e.values["device_id"] for e in mine})
        devices = {r["device_id"]: r for r in _rows(conn, table_of(Device), table_of(Device).c.device_id, ids)}
        keys = {
            (r["device_id"], r["key_index"]): r
            for r in _rows(conn, table_of(DeviceKey), table_of(DeviceKey).c.device_id, ids)
        }
        for event in mine:
            self._apply_one(event, block_times[event.block_number], devices, keys)
        self._write(conn, ids, devices, keys)

    @staticmethod
    def _apply_one(
        event: DecodedEvent,
        time: int,
        devices: dict[str, dict[str, Any]],
        keys: dict[tuple[str, int], dict[str, Any]],
    ) -> None:
        v = event.values
        device_id = v["device_id"]
        block = event.block_number

        def close_current() -> None:
            device = devices[device_id]
            current = keys[(device_id, device["key_index"])]
            current["valid_until_block"], current["valid_until"] = block, time

        def open_key(index: int) -> None:
            keys[(device_id, index)] = {
                "device_id": device_id, "key_index": index, "key_type": v["key_type"], "signer": v["signer"],
                "x": v["x"], "y": v["y"], "valid_from_block": block, "valid_from": time,
                "valid_until_block": None, "valid_until": None,
            }  # fmt: skip

        if event.name == "DeviceRegistered":
            devices[device_id] = {
                "device_id": device_id, "owner": v["owner"], "registrar": v["registrar"], "status": "active",
                "key_index": 0, "key_type": v["key_type"], "signer": v["signer"], "x": v["x"], "y": v["y"],
                "model": v["model"], "firmware_hash": v["firmware_hash"], "metadata_cid": v["metadata_cid"],
                "registered_block": block, "registered_at": time, "updated_block": block,
            }  # fmt: skip
            open_key(0)
            return
        device = devices.get(device_id)
        if device is None:  # an event for a device registered before the indexed range
            return
        device["updated_block"] = block
        if event.name == "DeviceKeyRotated":
            close_current()
            open_key(int(v["key_index"]))
            device.update(key_index=int(v["key_index"]), key_type=v["key_type"], signer=v["signer"], x=v["x"], y=v["y"])
        elif event.name == "DeviceStatusChanged":
            device["status"] = STATUS_NAMES.get(v["new_status"], str(v["new_status"]))
            if v["new_status"] == 3:
                close_current()
        elif event.name == "DeviceOwnershipTransferred":
            device["owner"] = v["new_owner"]
        elif event.name == "DeviceMetadataUpdated":
            device.update(model=v["model"], firmware_hash=v["firmware_hash"], metadata_cid=v["metadata_cid"])

    @staticmethod
    def _write(
        conn: Connection,
        ids: Sequence[str],
        devices: dict[str, dict[str, Any]],
        keys: dict[tuple[str, int], dict[str, Any]],
    ) -> None:
        device_table, key_table = table_of(Device), table_of(DeviceKey)
        for part in chunks(ids):
            conn.execute(delete(device_table).where(device_table.c.device_id.in_(part)))
            conn.execute(delete(key_table).where(key_table.c.device_id.in_(part)))
        if devices:
            conn.execute(insert(device_table), list(devices.values()))
        if keys:
            conn.execute(insert(key_table), list(keys.values()))

    def rebuild(self, conn: Connection, ids: Sequence[str]) -> None:
        """Rebuilds devices `ids` from their stored typed events (after a rollback removed some)."""
        device_table, key_table = table_of(Device), table_of(DeviceKey)
        for part in chunks(list(ids)):
            conn.execute(delete(device_table).where(device_table.c.device_id.in_(part)))
            conn.execute(delete(key_table).where(key_table.c.device_id.in_(part)))
        events, times = stored_events(conn, DEVICE_EVENTS, "device_id", ids)
        self.apply(conn, events, times)


class RoleProjection:
    """`role_member` from AccessControl's RoleGranted and RoleRevoked."""

    def apply(self, conn: Connection, events: Sequence[DecodedEvent], block_times: dict[int, int]) -> None:
        """Applies grants and revocations in order."""
        del block_times
        table = table_of(RoleMember)
        for event in events:
            if event.name not in ROLE_EVENTS:
                continue
            key = {"contract": event.address, "role": event.values["role"], "account": event.values["account"]}
            conn.execute(
                delete(table).where(
                    table.c.contract == key["contract"], table.c.role == key["role"], table.c.account == key["account"]
                )
            )
            if event.name == "RoleGranted":
                conn.execute(
                    insert(table), [{**key, "granted_block": event.block_number, "granted_by": event.values["sender"]}]
                )

    def rebuild_all(self, conn: Connection) -> None:
        """Rebuilds every role member from the stored events."""
        conn.execute(delete(table_of(RoleMember)))
        events, times = stored_events(conn, ROLE_EVENTS, None, None)
        self.apply(conn, events, times)


def stored_events(
    conn: Connection, tables: dict[str, Any], key_column: str | None, keys: Sequence[str] | None
) -> tuple[list[DecodedEvent], dict[int, int]]:
    """Typed events of `tables` (optionally only those whose `key_column` is in `keys`), in chain
    order, with the times of their blocks."""
    events: list[DecodedEvent] = []
    for name, model in tables.items():
        table = table_of(model)
        query = select(table)
        parts: list[Sequence[str] | None] = list(chunks(list(keys))) if keys is not None else [None]
        for part in parts:
            q = query.where(table.c[key_column].in_(part)) if part is not None and key_column else query
            for row in conn.execute(q):
                m = dict(row._mapping)
                base = (m.pop("block_number"), m.pop("log_index"), m.pop("transaction_hash"), m.pop("address"))
                events.append(DecodedEvent(name, base[0], base[1], base[2], base[3], m))
    events.sort(key=lambda e: (e.block_number, e.log_index))
    blocks = sorted({e.block_number for e in events})
    times: dict[int, int] = {}
    for part in chunks(blocks):
        for number, timestamp in conn.execute(
            text("SELECT number, timestamp FROM chain_block WHERE number IN :numbers").bindparams(
                bindparam("numbers", expanding=True)
            ),
            {"numbers": list(part)},
        ):
            times[int(number)] = int(timestamp)
    return events, times
