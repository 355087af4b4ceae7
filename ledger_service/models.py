"""Database tables (SQLModel). API schemas live apart, in `ledger_service.api.schemas`."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


class BatchStatus(StrEnum):
    """Where a batch is on its way to the chain."""

    SEALED = "sealed"
    ANCHORED = "anchored"


class Batch(SQLModel, table=True):
    """A sealed set of readings whose Merkle root is (or will be) anchored."""

    id: int | None = Field(default=None, primary_key=True)
    root: str = Field(unique=True, max_length=66)
    status: BatchStatus = Field(default=BatchStatus.SEALED, index=True)
    reading_count: int
    first_timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    content_id: str = ""
    sealed_at: float
    anchored_at: float | None = None
    chain_batch_id: int | None = None
    transaction_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = Field(default=None, sa_column=Column(BigInteger))
    attempts: int = 0
    last_error: str | None = None


class StoredReading(SQLModel, table=True):
    """A verified, signed reading. Its id is its Merkle leaf hash."""

    __tablename__ = "reading"
    __table_args__ = (UniqueConstraint("device_id", "sequence", name="uq_reading_device_sequence"),)

    id: str = Field(primary_key=True, max_length=66)
    device_id: str = Field(index=True, max_length=66)
    sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    metric: str = Field(max_length=64)
    value: str = Field(max_length=80, description="int256 as a decimal string")
    scale: int
    unit: str = Field(max_length=32)
    payload_hash: str = Field(max_length=66)
    digest: str = Field(max_length=66)
    signature: str = Field(max_length=200)
    signer: str = Field(max_length=42)
    received_at: float = Field(index=True)
    batch_id: int | None = Field(default=None, foreign_key="batch.id", index=True)
