"""Derived state from decoded events: devices and their key history, and role members.

A projection applies events in chain order to the current rows of the entities they touch, then
writes those rows back. The same code rebuilds an entity from its stored typed events after a
rollback, so forward indexing and rebuilding cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, text

from indexer.chunks import DecodedEvent
from ledger_service.core.device_state import DeviceRecord, RegistryState
from ledger_service.core.keys import PublicKey
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

ZERO_ADDRESS = "0x" + "00" * 20
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
    """`device` and `device_key`: the devices each touched id's `DeviceRegistry` events fold into,
    by the same fold the service's registry cache applies (`core.device_state`).

    The folded devices are kept in memory, so a chunk costs only its own events: a device seen
    before is advanced by them; one not in memory is folded from its stored events once (a device
    registered in this chunk needs none: its registration is its first event). The memory holds
    what the mirror's committed rows say: the store calls `forget` when a write fails, on a
    rollback or reset, and when another writer moved the checkpoint.
    """

    events = DEVICE_EVENTS
    key_column = "device_id"
    max_cached = 200_000

    def __init__(self) -> None:
        self._state = RegistryState()

    def forget(self) -> None:
        """Drops the folded devices kept in memory."""
        self._state = RegistryState()

    def apply(self, conn: Connection, events: Sequence[DecodedEvent], block_times: dict[int, int]) -> None:
        """Advances the devices `events` name and writes their rows (their typed events are stored by now)."""
        mine = [e for e in events if e.name in DEVICE_EVENTS]
        if not mine:
            return
        if len(self._state.devices) > self.max_cached:
            self.forget()
        ids = sorted({e.values["device_id"] for e in mine})
        unknown = {i for i in ids if _bytes(i) not in self._state.devices}
        registered_here = {e.values["device_id"] for e in mine if e.name == "DeviceRegistered"}
        from_store = sorted(unknown - registered_here)
        if from_store:
            self._fold_stored(conn, from_store)  # includes this chunk's events for them
        for event in mine:
            if event.values["device_id"] not in from_store:
                self._fold(event, block_times[event.block_number])
        self._write(conn, ids)

    def rebuild(self, conn: Connection, ids: Sequence[str]) -> None:
        """Rebuilds devices `ids` from their stored typed events."""
        for device_id in ids:
            self._state.devices.pop(_bytes(device_id), None)
        self._fold_stored(conn, ids)
        self._write(conn, ids)

    def _fold(self, event: DecodedEvent, timestamp: int) -> None:
        self._state.apply(event.name, abi_args(event.name, event.values), event.block_number, timestamp)

    def _fold_stored(self, conn: Connection, ids: Sequence[str]) -> None:
        events, times = stored_events(conn, DEVICE_EVENTS, "device_id", ids)
        for event in events:
            self._fold(event, times[event.block_number])

    def _write(self, conn: Connection, ids: Sequence[str]) -> None:
        device_table, key_table = table_of(Device), table_of(DeviceKey)
        for part in chunks(list(ids)):
            conn.execute(delete(device_table).where(device_table.c.device_id.in_(part)))
            conn.execute(delete(key_table).where(key_table.c.device_id.in_(part)))
        records = [r for r in (self._state.devices.get(_bytes(i)) for i in ids) if r is not None]
        devices = [device_row(record) for record in records]
        keys = [row for record in records for row in key_rows(record)]
        if devices:
            conn.execute(insert(device_table), devices)
        if keys:
            conn.execute(insert(key_table), keys)


def _bytes(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _hex(value: bytes | int | None, size: int = 32) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return "0x" + (value or 0).to_bytes(size, "big").hex()


def abi_args(name: str, row: dict[str, Any]) -> dict[str, Any]:
    """A typed-table row of a `DeviceRegistry` event in the ABI's shape, as the fold takes it."""
    args: dict[str, Any] = {"deviceId": _bytes(row["device_id"])}
    if name in ("DeviceRegistered", "DeviceKeyRotated"):
        key = {"keyType": row["key_type"], "signer": row["signer"], "x": _bytes(row["x"]), "y": _bytes(row["y"])}
        args["key"] = key
    if name in ("DeviceRegistered", "DeviceMetadataUpdated"):
        args["metadata"] = {
            "model": row["model"], "firmwareHash": _bytes(row["firmware_hash"]), "metadataCid": row["metadata_cid"]
        }  # fmt: skip
    if name == "DeviceRegistered":
        args.update(owner=row["owner"], registrar=row["registrar"])
    elif name == "DeviceStatusChanged":
        args["newStatus"] = row["new_status"]
    elif name == "DeviceOwnershipTransferred":
        args["newOwner"] = row["new_owner"]
    return args


def _key_columns(key: PublicKey) -> dict[str, Any]:
    return {
        "key_type": int(key.key_type), "signer": (key.signer or ZERO_ADDRESS).lower(),
        "x": _hex(key.x), "y": _hex(key.y),
    }  # fmt: skip


def device_row(record: DeviceRecord) -> dict[str, Any]:
    """The `device` row of a folded device (addresses and hashes as the mirror writes them)."""
    return {
        "device_id": _hex(record.device_id), "owner": record.owner.lower(), "registrar": record.registrar.lower(),
        "status": record.status.label, "key_index": len(record.keys) - 1, **_key_columns(record.current_key.key),
        "model": record.metadata.model, "firmware_hash": _hex(record.metadata.firmware_hash),
        "metadata_cid": record.metadata.metadata_cid, "registered_block": record.registered_block,
        "registered_at": record.registered_at, "updated_block": record.updated_block,
    }  # fmt: skip


def key_rows(record: DeviceRecord) -> list[dict[str, Any]]:
    """The `device_key` rows of a folded device, oldest key first."""
    return [
        {
            "device_id": _hex(record.device_id),
            "key_index": index,
            **_key_columns(key.key),
            "valid_from_block": key.valid_from_block,
            "valid_from": key.valid_from,
            "valid_until_block": key.valid_until_block,
            "valid_until": key.valid_until,
        }  # fmt: skip
        for index, key in enumerate(record.keys)
    ]


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
