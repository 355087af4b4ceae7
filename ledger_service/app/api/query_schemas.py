"""Schemas of the readings query and its aggregates, for the OpenAPI document and for checking what
the routes return."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_HEIGHT = Field(None, description="The last block of the SQL mirror when answered")


class BatchRef(BaseModel):
    """The batch a reading was sealed into, and its anchor once it has one."""

    model_config = ConfigDict(extra="allow")

    id: int
    root: str
    status: str
    chain_batch_id: int | None
    transaction_hash: str | None
    block_number: int | None


class ReadingRow(BaseModel):
    """A stored reading, as the readings query lists it."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="The reading's id: its Merkle leaf hash")
    device_id: str
    key_index: int
    sequence: int
    timestamp: int
    metric: str
    value: str = Field(description="The fixed-point value as a decimal string: the quantity is value / 10**scale")
    scale: int
    unit: str
    payload_hash: str
    signature: str
    signer: str
    received_at: float
    status: str = Field(description="pending, sealed, anchored, confirmed or final")
    batch: BatchRef | None
    proof: dict[str, Any] | None = Field(
        None, description="With `proofs=true`: the reading's proof bundle once its batch is anchored (proof@3)"
    )
    links: dict[str, str]


class ReadingList(BaseModel):
    """One page of the readings query."""

    data: list[ReadingRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")
    indexed_block: int | None = _HEIGHT


class Bucket(BaseModel):
    """The readings of one device and metric (in one unit and scale) in one interval."""

    device_id: str
    metric: str
    unit: str
    scale: int
    start: int = Field(description="The interval's first second (unix)")
    interval: int
    count: int
    min: str = Field(description="The smallest fixed-point value, as a decimal string")
    max: str = Field(description="The largest fixed-point value, as a decimal string")
    mean: float = Field(description="The mean fixed-point value (divide by 10**scale for the quantity)")


class AggregateList(BaseModel):
    """Aggregates per interval, device and metric."""

    data: list[Bucket]
    indexed_block: int | None = _HEIGHT
