"""Device state folded from `DeviceRegistry` events: the one fold the registry cache and the indexer
both apply, so the API and the explorer read the same devices whichever mirror they use.

`RegistryState.apply` takes one decoded event (name, arguments, block number, block time) and keeps
each device's owner, status, metadata, key history (validity in time and blocks) and suspension
periods exactly as the contract does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger_service.core.enums import DeviceStatus
from ledger_service.core.keys import PublicKey

#: The events the fold applies, in the order the contract declares them.
DEVICE_EVENTS = (
    "DeviceRegistered",
    "DeviceKeyRotated",
    "DeviceStatusChanged",
    "DeviceOwnershipTransferred",
    "DeviceMetadataUpdated",
)


@dataclass(frozen=True)
class Metadata:
    """Descriptive data of a device."""

    model: str = ""
    firmware_hash: bytes = bytes(32)
    metadata_cid: str = ""

    def as_tuple(self) -> tuple[str, bytes, str]:
        """The metadata as the `DeviceRegistry.Metadata` struct tuple."""
        return (self.model, self.firmware_hash, self.metadata_cid)

    @classmethod
    def from_tuple(cls, value: Any) -> Metadata:
        """The metadata from its struct: a tuple (calls) or a mapping (events)."""
        if isinstance(value, Mapping):
            value = (value["model"], value["firmwareHash"], value["metadataCid"])
        model, firmware_hash, cid = value
        return cls(model=str(model), firmware_hash=bytes(firmware_hash), metadata_cid=str(cid))


@dataclass
class KeyRecord:
    """A key in a device's history with the time and block range it was valid in."""

    key: PublicKey
    valid_from: int
    valid_from_block: int
    valid_until: int | None = None
    valid_until_block: int | None = None

    def valid_at(self, timestamp: int) -> bool:
        """True when the key was valid at `timestamp`."""
        return self.valid_from <= timestamp and (self.valid_until is None or timestamp < self.valid_until)


@dataclass
class SuspensionPeriod:
    """A time the device was suspended: from `start` until `end` (None: still suspended)."""

    start: int
    end: int | None = None

    def covers(self, timestamp: int) -> bool:
        """True when `timestamp` falls inside the period (start included, end excluded)."""
        return self.start <= timestamp and (self.end is None or timestamp < self.end)


@dataclass
class DeviceRecord:
    """A registered device and its key history (oldest key first)."""

    device_id: bytes
    owner: str
    status: DeviceStatus
    registered_at: int
    registered_block: int
    registrar: str
    metadata: Metadata
    keys: list[KeyRecord] = field(default_factory=list)
    suspensions: list[SuspensionPeriod] = field(default_factory=list)
    #: The block of the last event applied to the device.
    updated_block: int = 0

    @property
    def current_key(self) -> KeyRecord:
        """The newest key (closed when the device is revoked)."""
        return self.keys[-1]

    def suspension_at(self, timestamp: int) -> SuspensionPeriod | None:
        """The suspension period `timestamp` falls in, as `DeviceRegistry.isSuspendedAt` finds it."""
        for period in reversed(self.suspensions):
            if period.start > timestamp:
                continue
            return period if period.covers(timestamp) else None
        return None


class RegistryState:
    """Devices by id, in registration order, built by applying decoded events.

    The events' arguments are in the ABI's shape (camelCase names, `key` and `metadata` as structs):
    web3's decoded logs as they come, or rows rebuilt into that shape (the indexer's typed tables).
    An event of a device registered before the events given (an index started late) is skipped.
    """

    def __init__(self) -> None:
        self.devices: dict[bytes, DeviceRecord] = {}

    def apply(self, name: str, args: dict[str, Any], block_number: int, timestamp: int) -> None:
        """Applies one decoded `DeviceRegistry` event."""
        device_id = bytes(args["deviceId"])
        if name == "DeviceRegistered":
            self.devices[device_id] = DeviceRecord(
                device_id=device_id,
                owner=str(args["owner"]),
                status=DeviceStatus.ACTIVE,
                registered_at=timestamp,
                registered_block=block_number,
                registrar=str(args["registrar"]),
                metadata=Metadata.from_tuple(args["metadata"]),
                keys=[KeyRecord(PublicKey.from_tuple(args["key"]), timestamp, block_number)],
                updated_block=block_number,
            )
            return
        device = self.devices.get(device_id)
        if device is None:
            return
        device.updated_block = block_number
        if name == "DeviceKeyRotated":
            device.current_key.valid_until, device.current_key.valid_until_block = timestamp, block_number
            device.keys.append(KeyRecord(PublicKey.from_tuple(args["key"]), timestamp, block_number))
        elif name == "DeviceStatusChanged":
            previous = device.status
            device.status = DeviceStatus(int(args["newStatus"]))
            if device.status is DeviceStatus.SUSPENDED:
                device.suspensions.append(SuspensionPeriod(timestamp))
            elif previous is DeviceStatus.SUSPENDED and device.status is DeviceStatus.ACTIVE:
                device.suspensions[-1].end = timestamp
            if device.status is DeviceStatus.REVOKED:
                device.current_key.valid_until, device.current_key.valid_until_block = timestamp, block_number
        elif name == "DeviceOwnershipTransferred":
            device.owner = str(args["newOwner"])
        elif name == "DeviceMetadataUpdated":
            device.metadata = Metadata.from_tuple(args["metadata"])
