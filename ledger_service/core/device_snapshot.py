"""A `RegistryState` as JSON and back: what an edge gateway keeps on disk to check readings offline
against the registry as it last saw it. Plain data only (no pickle): a snapshot file someone else
wrote can at worst be refused, never run."""

from __future__ import annotations

from typing import Any

from ledger_service.core.device_state import DeviceRecord, KeyRecord, Metadata, RegistryState, SuspensionPeriod
from ledger_service.core.enums import DeviceStatus
from ledger_service.core.keys import PublicKey


def state_to_json(state: RegistryState) -> list[dict[str, Any]]:
    """Every device of `state`, in registration order."""
    return [
        {
            "device_id": device.device_id.hex(),
            "owner": device.owner,
            "status": int(device.status),
            "registered_at": device.registered_at,
            "registered_block": device.registered_block,
            "registrar": device.registrar,
            "updated_block": device.updated_block,
            "metadata": [device.metadata.model, device.metadata.firmware_hash.hex(), device.metadata.metadata_cid],
            "keys": [
                [k.key.to_json(), k.valid_from, k.valid_from_block, k.valid_until, k.valid_until_block]
                for k in device.keys
            ],
            "suspensions": [[p.start, p.end] for p in device.suspensions],
        }  # fmt: skip
        for device in state.devices.values()
    ]


def state_from_json(devices: list[dict[str, Any]]) -> RegistryState:
    """The state `state_to_json` wrote; `ValueError` (or `KeyError`, `TypeError`) for anything else."""
    state = RegistryState()
    for data in devices:
        model, firmware, cid = data["metadata"]
        record = DeviceRecord(
            device_id=bytes.fromhex(data["device_id"]), owner=str(data["owner"]),
            status=DeviceStatus(int(data["status"])), registered_at=int(data["registered_at"]),
            registered_block=int(data["registered_block"]), registrar=str(data["registrar"]),
            metadata=Metadata(str(model), bytes.fromhex(firmware), str(cid)),
            keys=[KeyRecord(PublicKey.from_json(k), int(f), int(fb), _int(u), _int(ub))
                  for k, f, fb, u, ub in data["keys"]],
            suspensions=[SuspensionPeriod(int(start), _int(end)) for start, end in data["suspensions"]],
            updated_block=int(data["updated_block"]),
        )  # fmt: skip
        state.devices[record.device_id] = record
    return state


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
