"""Request and response bodies of the device endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ledger_service.core.device_state import DeviceRecord, KeyRecord, Metadata
from ledger_service.core.errors import InvalidKey
from ledger_service.core.keys import KeyError_, PublicKey

Bytes32 = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{64}$", examples=["0x" + "ab" * 32])]
Address = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{40}$", examples=["0x" + "12" * 20])]


class KeyIn(BaseModel):
    """A public key: {"type": "secp256k1", "address"} or {"type": "p256", "x", "y"} (0x + 64 hex digits)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["secp256k1", "p256"]
    address: Address | None = None
    x: Bytes32 | None = None
    y: Bytes32 | None = None

    def to_public_key(self) -> PublicKey:
        """The key, checked: a non-zero address, or a point on the P-256 curve."""
        try:
            return PublicKey.from_json(self.model_dump(exclude_none=True))
        except KeyError_ as exc:
            raise InvalidKey(str(exc)) from exc


class MetadataIn(BaseModel):
    """Descriptive data of a device."""

    model_config = ConfigDict(extra="forbid")

    model: Annotated[StrictStr, Field(max_length=64)] = ""
    firmware_hash: Bytes32 = "0x" + "00" * 32
    metadata_cid: Annotated[StrictStr, Field(max_length=128)] = ""

    def to_metadata(self) -> Metadata:
        """The metadata as the contract takes it."""
        return Metadata(self.model, bytes.fromhex(self.firmware_hash[2:]), self.metadata_cid)


class DeviceCreate(BaseModel):
    """A device to register. Without `device_id`, the id is derived from the key (see docs)."""

    model_config = ConfigDict(extra="forbid")

    device_id: Bytes32 | None = None
    owner: Address | None = Field(None, description="Default: the service's operator account")
    key: KeyIn
    metadata: MetadataIn = MetadataIn()


class RotateKeyIn(BaseModel):
    """The device's new key."""

    model_config = ConfigDict(extra="forbid")

    key: KeyIn


class TransferIn(BaseModel):
    """The device's new owner."""

    model_config = ConfigDict(extra="forbid")

    new_owner: Address


class KeyPublic(BaseModel):
    """A key in a device's history."""

    index: int
    key: dict[str, str]
    valid_from: int
    valid_from_block: int
    valid_until: int | None
    valid_until_block: int | None

    @classmethod
    def of(cls, index: int, record: KeyRecord) -> KeyPublic:
        return cls(
            index=index,
            key=record.key.to_json(),
            valid_from=record.valid_from,
            valid_from_block=record.valid_from_block,
            valid_until=record.valid_until,
            valid_until_block=record.valid_until_block,
        )


class DevicePublic(BaseModel):
    """A device as the registry holds it, with its key history."""

    device_id: str
    owner: str
    status: str
    registrar: str
    registered_at: int
    registered_block: int
    metadata: dict[str, str]
    current_key: KeyPublic
    keys: list[KeyPublic]
    indexed_block: int | None = Field(None, description="The last block of the registry's chain log read")

    @classmethod
    def of(cls, device: DeviceRecord) -> DevicePublic:
        keys = [KeyPublic.of(i, k) for i, k in enumerate(device.keys)]
        return cls(
            device_id="0x" + device.device_id.hex(),
            owner=device.owner,
            status=device.status.label,
            registrar=device.registrar,
            registered_at=device.registered_at,
            registered_block=device.registered_block,
            metadata={
                "model": device.metadata.model,
                "firmware_hash": "0x" + device.metadata.firmware_hash.hex(),
                "metadata_cid": device.metadata.metadata_cid,
            },
            current_key=keys[-1],
            keys=keys,
        )


class DeviceList(BaseModel):
    """A page of devices."""

    data: list[DevicePublic]
    count: int = Field(description="How many devices match, across all pages")
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last")
    indexed_block: int | None = Field(None, description="The last block of the registry's chain log read")
