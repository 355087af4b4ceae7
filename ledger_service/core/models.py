"""Database tables (SQLModel). API schemas live apart, in `ledger_service.app.api.schemas`."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Numeric, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class BatchStatus(StrEnum):
    """Where a batch is on its way to the chain."""

    SEALED = "sealed"
    ANCHORED = "anchored"
    CONFIRMED = "confirmed"  # deep enough to serve proofs; still watched for a reorg
    FINAL = "final"  # at or below the chain's finalized block (or `final_depth` deep): never re-checked


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
    block_hash: str | None = Field(default=None, max_length=66)
    confirmed_at: float | None = None
    final_at: float | None = None
    attempts: int = 0
    last_error: str | None = None
    device_index: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True), description="core.device_index entries, packed"
    )
    index_proof: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True), description="The index leaf's path to the root"
    )


class StoredReading(SQLModel, table=True):
    """A verified, signed reading. Its id is its Merkle leaf hash. Sequence numbers are unique per
    device and signing key (`key_index`, the key's place in the registry's history)."""

    __tablename__ = "reading"
    __table_args__ = (
        UniqueConstraint("device_id", "key_index", "sequence", name="uq_reading_device_key_sequence"),
        Index("ix_reading_device_time", "device_id", "timestamp", "id"),  # the readings query, per device
        Index("ix_reading_time", "timestamp", "id"),  # the readings query, all devices
    )

    id: str = Field(primary_key=True, max_length=66)
    device_id: str = Field(max_length=66)  # looked up through the (device_id, key_index, sequence) unique index
    key_index: int = Field(default=0, description="Index of the signing key in the device's key history")
    sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    metric: str = Field(max_length=64)
    value: str = Field(max_length=80, description="int256 as a decimal string")
    scale: int
    unit: str = Field(max_length=32)
    payload_hash: str = Field(max_length=66)
    digest: str = Field(max_length=66)
    signature: str = Field(max_length=200)
    signer: str = Field(max_length=80, description="The signing key: an address, or p256:0x<x>")
    received_at: float  # the batcher finds unsealed readings through the batch_id index
    batch_id: int | None = Field(default=None, foreign_key="batch.id", index=True)
    tree_index: int | None = Field(default=None, description="Position in the batch tree's node array, once sealed")
    proof: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True), description="Sibling hashes up to the root"
    )


class DeviceCursor(SQLModel, table=True):
    """The last reading stored per device and signing key: the next must have a higher sequence
    and a timestamp not before this one. A key rotation starts a fresh cursor."""

    __tablename__ = "device_cursor"

    device_id: str = Field(primary_key=True, max_length=66)
    key_index: int = Field(default=0, primary_key=True)
    last_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_timestamp: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class ApiKey(SQLModel, table=True):
    """An API key for the write endpoints. Only a hash of the secret is kept."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    key_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16, description="The first characters of the key, to recognise it")
    roles: str = Field(description="Comma-separated roles")
    party: str | None = Field(
        default=None, max_length=64, description="On-chain account the service acts as for this key (else operator)"
    )
    created_at: float
    revoked_at: float | None = None


class ReportStatus(StrEnum):
    """Where an oracle report is on its way to the chain."""

    PENDING = "pending"  # breach seen; waiting for its readings to be anchored
    QUEUED = "queued"  # built and handed to the submit task
    FIRED = "fired"  # the rule fired on this report
    SUPERSEDED = "superseded"  # the rule had fired already (another report or daemon)
    FAILED = "failed"  # the chain refused it for good (the reason is kept)


class OracleReport(SQLModel, table=True):
    """A report an oracle daemon found due: one per rule and breach, whoever found it first."""

    __tablename__ = "oracle_report"

    report_id: str = Field(primary_key=True, max_length=66)
    rule_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    item_id: str = Field(max_length=66, index=True)
    device_id: str = Field(max_length=66)
    path: str = Field(max_length=16, description="evidence, ecdsa or bls")
    status: str = Field(default=ReportStatus.PENDING.value, max_length=16, index=True)
    reading_ids: str = Field(default="", description="Comma-separated reading ids (evidence path)")
    payload: str = Field(default="", description="The committee report as JSON (committee paths)")
    found_by: str = Field(max_length=100, description="The daemon that found the breach")
    found_at: float
    breach_reading_at: float | None = Field(default=None, description="When the first breaching reading was stored")
    submitted_at: float | None = None
    transaction_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = Field(default=None, sa_column=Column(BigInteger))
    attempts: int = 0
    last_error: str | None = None


class LoopHealthRow(SQLModel, table=True):
    """The health of one long-running loop (`ledger_service.core.loops`), written by the process that
    runs it and read by `/metrics` and `/readyz`."""

    __tablename__ = "loop_health"

    component: str = Field(primary_key=True, max_length=64)
    pid: int = 0
    failures_total: int = 0
    consecutive_failures: int = 0
    #: The loop was ended by a fatal error: reported until the component runs again.
    fatal: bool = False
    last_error: str | None = None
    last_failure_at: float | None = None
    last_ok_at: float | None = None
    updated_at: float = 0.0


class OutboxTx(SQLModel, table=True):
    """One operator transaction (one nonce of one sender), from before it is first sent until it is
    mined: the transaction manager (`ledger_service.core.chain.outbox`) writes it before sending, so
    a restart watches what was sent instead of sending it again."""

    __tablename__ = "outbox_tx"

    id: int | None = Field(default=None, primary_key=True)
    chain_id: int = Field(sa_type=BigInteger)
    sender: str = Field(max_length=42, index=True)
    nonce: int = Field(sa_type=BigInteger)
    purpose: str = Field(max_length=64, description="The contract function called")
    status: str = Field(default="pending", max_length=16, index=True, description="pending, mined, reverted, dropped")
    tx_hash: str = Field(max_length=66, description="The hash of the latest version sent")
    hashes: str = Field(default="[]", sa_type=Text, description="JSON: every version's hash, oldest first")
    raw: str = Field(sa_type=Text, description="The latest signed transaction (public once sent)")
    request: str = Field(sa_type=Text, description="JSON: the transaction's fields but fees and signature")
    gas_limit: int = Field(sa_type=BigInteger)
    max_fee_per_gas: int | None = Field(default=None, sa_type=Numeric(78, 0))
    max_priority_fee_per_gas: int | None = Field(default=None, sa_type=Numeric(78, 0))
    gas_price: int | None = Field(default=None, sa_type=Numeric(78, 0), description="Legacy pricing only")
    replacements: int = 0
    created_at: float
    sent_at: float
    mined_at: float | None = None
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    gas_used: int | None = Field(default=None, sa_type=BigInteger)
    fee_wei: int | None = Field(default=None, sa_type=Numeric(78, 0), description="gas used x effective price")


class Subscription(SQLModel, table=True):
    """A webhook subscription: where the feed's events go, for whom, and how far delivery got.
    Its signing secret is not stored: it is derived from the service's webhook key and the id."""

    __tablename__ = "subscription"
    __table_args__ = {"sqlite_autoincrement": True}  # an id is never given out twice

    id: int | None = Field(default=None, primary_key=True)
    salt: str = Field(max_length=32, description="Random, not secret: the secret's second input beside the id")
    url: str = Field(sa_type=Text)
    types: str = Field(default="", sa_type=Text, description="Comma-separated event types; empty: all")
    party: str | None = Field(default=None, max_length=64, description="The key's party; null: the operator's")
    account: str | None = Field(default=None, max_length=42, description="The party's address (what it may see)")
    api_key_id: int = Field(index=True, description="The API key that made it")
    cursor: str = Field(default="-1-0-0", max_length=40, description="The last event delivered (or skipped)")
    active: bool = True
    failures: int = Field(default=0, description="Failed attempts since the last success")
    next_attempt_at: float = 0.0
    created_at: float


class WebhookDelivery(SQLModel, table=True):
    """One attempt to deliver one event to one subscription, with its outcome."""

    __tablename__ = "webhook_delivery"

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(index=True)
    event_id: str = Field(max_length=40)
    event_type: str = Field(max_length=40)
    attempt: int
    outcome: str = Field(max_length=16, description="delivered or failed")
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=200)
    duration_ms: float
    at: float = Field(index=True)


class EpcisEvent(SQLModel, table=True):
    """An EPCIS event captured here: the event as sent, what it names, who sent it, and the reading
    that notarizes it."""

    __tablename__ = "epcis_event"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=66, index=True, description="SHA-256 of the event's canonical JSON")
    event_id: str = Field(sa_type=Text, description="The eventID sent, else the CBV 2.0 hash")
    event_hash: str = Field(max_length=100, index=True, description="The CBV 2.0 event hash: once per party")
    type: str = Field(max_length=32)
    event_time: float = Field(index=True)
    biz_step: str | None = Field(default=None, max_length=200)
    action: str | None = Field(default=None, max_length=16)
    item_ids: str = Field(default="", sa_type=Text, description="Comma-separated item ids the event names")
    party: str | None = Field(default=None, max_length=64, description="The capturing key's party; null: operator")
    reading_id: str = Field(max_length=66, description="The reading that notarizes the event")
    document: str = Field(sa_type=Text, description="The event as captured (JSON)")
    captured_at: float


class EpcisItem(SQLModel, table=True):
    """Which captured events name which item (for queries by item)."""

    __tablename__ = "epcis_item"

    item_id: str = Field(primary_key=True, max_length=66)
    event: int = Field(primary_key=True, description="The captured event's row")
    event_time: float


class EpcisCapture(SQLModel, table=True):
    """An EPCIS capture job: one document sent to `POST /epcis/capture`, and what became of it."""

    __tablename__ = "epcis_capture"

    id: str = Field(primary_key=True, max_length=40, description="The captureID")
    party: str | None = Field(default=None, max_length=64)
    api_key_id: int = Field(index=True)
    created_at: float
    finished_at: float
    success: bool
    result: str = Field(sa_type=Text, description="JSON: each event's outcome, and the errors")


class LogCheckpoint(SQLModel, table=True):
    """A signed checkpoint of the transparency log, kept for every size it was served at."""

    __tablename__ = "log_checkpoint"

    size: int = Field(primary_key=True, sa_type=BigInteger)
    root: str = Field(max_length=66)
    note: str = Field(sa_type=Text, description="The checkpoint as a signed note")
    created_at: float
