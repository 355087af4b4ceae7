"""Bodies of the item write endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ledger_service.core.supply_chain import Location

Bytes32 = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
Party = Annotated[
    StrictStr,
    Field(
        pattern=r"^(0x[0-9a-fA-F]{40}|party:[a-z0-9][a-z0-9-]{0,62})$",
        description="An address, or `party:NAME` for an account the service holds",
        examples=["party:carrier"],
    ),
]


class LocationIn(BaseModel):
    """A place: WGS 84 degrees and an optional site code (a GS1 GLN)."""

    model_config = ConfigDict(extra="forbid")

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    site: Annotated[StrictStr, Field(max_length=32, pattern=r"^[ -~]*$")] = ""

    def to_location(self) -> Location:
        """The contract's location struct."""
        return Location.of(self.latitude, self.longitude, self.site)


class ItemCreate(BaseModel):
    """An item to register: its description (hashed and stored), custodian and sensors."""

    model_config = ConfigDict(extra="forbid")

    item_id: Bytes32 | None = Field(None, description="Default: a random id")
    custodian: Party | None = Field(None, description="Default: the manufacturer (the key's account)")
    description: dict[str, Any] = Field(
        default_factory=dict, description="Stored in the content store; its keccak-256 is the content hash"
    )
    devices: list[Bytes32] = Field(default_factory=list, max_length=32)


class HandoverIn(BaseModel):
    """A custody transfer to propose."""

    model_config = ConfigDict(extra="forbid")

    to: Party
    location: LocationIn
    expires_in: int = Field(86_400, ge=60, le=90 * 86_400, description="Seconds the receiver has to accept")


class AcceptIn(BaseModel):
    """Where the receiver took the item over."""

    model_config = ConfigDict(extra="forbid")

    location: LocationIn


class CheckpointIn(BaseModel):
    """A checkpoint, optionally proven by a stored, anchored reading."""

    model_config = ConfigDict(extra="forbid")

    location: LocationIn
    status_code: int = Field(200, ge=0, le=65_535)
    evidence_reading_id: Bytes32 | None = Field(None, description="A reading whose proof is checked on chain")


class RecallIn(BaseModel):
    """Why the item is recalled."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[StrictStr, Field(min_length=1, max_length=500)]


class DeliveryIn(BaseModel):
    """Where the final custodian took delivery."""

    model_config = ConfigDict(extra="forbid")

    location: LocationIn


class DeviceIn(BaseModel):
    """A sensor device to attach to the item."""

    model_config = ConfigDict(extra="forbid")

    device_id: Bytes32


class ApprovalIn(BaseModel):
    """The device owner's consent to attaching its device to the item (false: withdrawn)."""

    model_config = ConfigDict(extra="forbid")

    approved: bool = True
