"""Request and response bodies of the HTTP API (kept apart from the database tables)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ledger_service.core.readings import ZERO_HASH, Reading

Bytes32 = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{64}$", examples=["0x" + "ab" * 32])]
Signature = Annotated[
    StrictStr,
    Field(
        pattern=r"^0x([0-9a-fA-F]{2}){1,100}$",
        description="secp256k1: 65 bytes r, s, v (v 27 or 28); P-256: 64 bytes r, s. Low s in both.",
    ),
]
Uint63 = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
Int256 = Annotated[StrictInt, Field(ge=-(2**255), le=2**255 - 1)]
Int8 = Annotated[StrictInt, Field(ge=-128, le=127)]


class ReadingIn(BaseModel):
    """A signed reading as a device posts it. Fields are the EIP-712 `Reading` in snake case."""

    model_config = ConfigDict(extra="forbid")

    device_id: Bytes32
    sequence: Uint63
    timestamp: Uint63 = Field(description="Unix seconds when the device took the reading")
    metric: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    value: Int256 = Field(description="Fixed-point value: the quantity is value / 10**scale")
    scale: Int8 = 0
    unit: Annotated[StrictStr, Field(max_length=32)] = ""
    payload_hash: Bytes32 = "0x" + ZERO_HASH.hex()
    signature: Signature

    def to_reading(self) -> Reading:
        """The typed reading the signature covers."""
        return Reading(
            device_id=bytes.fromhex(self.device_id[2:]),
            sequence=self.sequence,
            timestamp=self.timestamp,
            metric=self.metric,
            value=self.value,
            scale=self.scale,
            unit=self.unit,
            payload_hash=bytes.fromhex(self.payload_hash[2:]),
        )

    def signature_bytes(self) -> bytes:
        """The signature as bytes."""
        return bytes.fromhex(self.signature[2:])


def reading_body(reading: Reading, signature: bytes) -> dict[str, Any]:
    """A signed reading as the JSON body that `POST /v1/readings` (and MQTT) take."""
    return {
        "device_id": "0x" + reading.device_id.hex(),
        "sequence": reading.sequence,
        "timestamp": reading.timestamp,
        "metric": reading.metric,
        "value": reading.value,
        "scale": reading.scale,
        "unit": reading.unit,
        "payload_hash": "0x" + reading.payload_hash.hex(),
        "signature": "0x" + signature.hex(),
    }


class ReadingAccepted(BaseModel):
    """The answer to an accepted reading."""

    id: str = Field(description="The reading's id: its Merkle leaf hash")
    digest: str
    duplicate: bool = Field(description="True when this reading was already stored")
    status: str
    links: dict[str, str]


class ReadingStatus(BaseModel):
    """A stored reading and where it is on its way to the chain."""

    id: str
    status: str = Field(description="pending, sealed or anchored")
    reading: dict[str, Any]
    signer: str
    received_at: float
    batch: dict[str, Any] | None
    links: dict[str, str]
    indexed_block: int | None = Field(None, description="The last block of the SQL mirror when answered")


class Health(BaseModel):
    """Service health."""

    status: str
    chain_id: int
    block_number: int | None
    contracts: dict[str, str]
    counts: dict[str, int]


class BatchItem(BaseModel):
    """The outcome of one reading of a batch request, in request order."""

    index: int
    status: str = Field(description="stored, duplicate or refused")
    id: str | None = None
    code: str | None = None
    detail: str | None = None


class BatchAccepted(BaseModel):
    """The answer to a batch request: counts, then one result per reading."""

    stored: int
    duplicates: int
    refused: int
    results: list[BatchItem]


class PartyIn(BaseModel):
    """A party to create: an account the service holds a key for."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", examples=["carrier"])]


class PartyPublic(BaseModel):
    """A party and its on-chain address."""

    name: str
    address: str


class PartyList(BaseModel):
    """Every party the service holds a key for."""

    data: list[PartyPublic]
