"""The mirror's chain tables (blocks, transactions, raw logs), its checkpoint, and what every typed
event table starts with."""

from __future__ import annotations

from sqlalchemy import BigInteger, LargeBinary, Table, Text
from sqlmodel import Field, SQLModel

HASH = 66
ADDRESS = 42


class IndexState(SQLModel, table=True):
    """The checkpoint of one indexer: which chain and deployment it mirrors, and how far."""

    __tablename__ = "index_state"

    id: str = Field(primary_key=True, max_length=32)
    chain_id: int = Field(sa_type=BigInteger)
    genesis_hash: str = Field(max_length=HASH)
    contracts: str = Field(sa_type=Text, description="JSON: contract name -> address")
    start_block: int = Field(sa_type=BigInteger)
    transactions: str = Field(default="all", max_length=16, description="all, or project (only those with events)")
    head_number: int | None = Field(default=None, sa_type=BigInteger)
    head_hash: str | None = Field(default=None, max_length=HASH)
    chain_head: int | None = Field(default=None, sa_type=BigInteger, description="Chain head last seen")
    confirmed_through: int = Field(default=-1, sa_type=BigInteger, description="Deepest block deemed confirmed")
    events_per_second: float = 0.0
    blocks_per_second: float = 0.0
    reorgs: int = 0
    updated_at: float = 0.0


class ChainBlock(SQLModel, table=True):
    """A block of the indexed range."""

    __tablename__ = "chain_block"

    number: int = Field(primary_key=True, sa_type=BigInteger)
    hash: str = Field(max_length=HASH, unique=True)
    parent_hash: str = Field(max_length=HASH)
    timestamp: int = Field(sa_type=BigInteger)
    miner: str = Field(max_length=ADDRESS)
    gas_used: int = Field(sa_type=BigInteger)
    gas_limit: int = Field(sa_type=BigInteger)
    base_fee_per_gas: str | None = Field(default=None, max_length=80)
    transaction_count: int


class ChainTransaction(SQLModel, table=True):
    """A transaction of an indexed block, with what its receipt says."""

    __tablename__ = "chain_transaction"

    hash: str = Field(primary_key=True, max_length=HASH)
    block_number: int = Field(sa_type=BigInteger, index=True)
    transaction_index: int
    from_address: str = Field(max_length=ADDRESS, index=True)
    to_address: str | None = Field(default=None, max_length=ADDRESS, index=True)
    contract_address: str | None = Field(default=None, max_length=ADDRESS)
    value: str = Field(max_length=80, description="wei, decimal")
    nonce: int = Field(sa_type=BigInteger)
    gas: int = Field(sa_type=BigInteger)
    gas_price: str = Field(max_length=80, description="effective gas price, wei, decimal")
    gas_used: int = Field(sa_type=BigInteger)
    status: int
    input: bytes = Field(sa_type=LargeBinary)
    revert_data: bytes | None = Field(
        default=None, sa_type=LargeBinary, description="A failed transaction's revert data, from its replay"
    )


#: Tables keyed by (block_number, log_index) are clustered on that key in SQLite: one B-tree per
#: table instead of a rowid table plus a key index, which halves the work of bulk inserts.
CLUSTERED = {"sqlite_with_rowid": False}


class EventLog(SQLModel, table=True):
    """A log of a project contract, as the chain gave it."""

    __tablename__ = "event_log"
    __table_args__ = CLUSTERED

    block_number: int = Field(primary_key=True, sa_type=BigInteger)
    log_index: int = Field(primary_key=True)
    transaction_hash: str = Field(max_length=HASH)
    transaction_index: int  # a transaction's logs are found through (block_number, transaction_index)
    address: str = Field(max_length=ADDRESS)
    event: str | None = Field(default=None, max_length=100, description="Decoded event name; null if unknown")
    topic0: str | None = Field(default=None, max_length=HASH)
    topic1: str | None = Field(default=None, max_length=HASH)
    topic2: str | None = Field(default=None, max_length=HASH)
    topic3: str | None = Field(default=None, max_length=HASH)
    data: bytes = Field(sa_type=LargeBinary)


class EventRow(SQLModel):
    """Columns every typed event table starts with."""

    block_number: int = Field(primary_key=True, sa_type=BigInteger)
    log_index: int = Field(primary_key=True)
    transaction_hash: str = Field(max_length=HASH)
    address: str = Field(max_length=ADDRESS)


def table_of(model: type[SQLModel]) -> Table:
    """The SQLAlchemy table of a table model."""
    found: Table = model.__table__  # type: ignore[attr-defined]
    return found
