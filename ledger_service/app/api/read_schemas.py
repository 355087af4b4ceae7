"""Schemas of the read answers (items, tokens, rules, reports, batches), for the OpenAPI document
and for checking what the routes return. They admit fields beyond those named (`extra="allow"`),
so an answer can grow without breaking its clients."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_HEIGHT = Field(None, description="The last block of the SQL mirror when answered")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CustodySpan(_Open):
    """A time an account held the item; open while `until_block` is null."""

    custodian: str
    from_block: int
    from_time: int
    until_block: int | None
    until_time: int | None


class TokenRef(_Open):
    """The item's asset token."""

    token_id: str
    owner: str
    uri: str


class PendingTransfer(_Open):
    """A proposed handover waiting for its receiver."""

    transfer_id: int | None
    receiver: str
    expires_at: int | None


class ItemSummary(_Open):
    """An item in a list."""

    item_id: str
    manufacturer: str
    custodian: str
    status: str = Field(description="active, delivered or recalled")
    condition: str = Field(description="compliant or out_of_compliance")
    held: bool
    transfer_count: int
    registered_at: int


class ItemView(ItemSummary):
    """An item now, with its devices, custody chain, pending handover and token."""

    content_hash: str
    metadata_cid: str
    registered_block: int
    updated_block: int
    pending_transfer: PendingTransfer | None
    devices: list[str]
    custody: list[CustodySpan]
    token: TokenRef | None
    indexed_block: int | None = _HEIGHT


class ItemPage(_Open):
    """A page of items."""

    data: list[ItemSummary]
    next_cursor: str | None
    indexed_block: int | None = _HEIGHT


class TimelineEntry(_Open):
    """Something that happened to an item: its kind, where on chain, and its details."""

    type: str
    block_number: int
    log_index: int
    time: int
    transaction_hash: str | None
    details: dict[str, Any]


class ItemHistory(_Open):
    """An item's timeline, in chain order."""

    item_id: str
    entries: list[TimelineEntry]
    indexed_block: int | None = _HEIGHT


class TokenSummary(_Open):
    """An asset token in a list."""

    token_id: str
    item_id: str
    owner: str
    uri: str
    minted_block: int
    transfers: int


class OwnerChange(_Open):
    """A transfer of a token (the mint comes from the zero address)."""

    from_address: str
    to_address: str
    block_number: int
    time: int | None
    transaction_hash: str


class TokenView(TokenSummary):
    """A token now, with its owners and whether it may move."""

    frozen: bool
    frozen_by_report: str | None
    transferable: bool
    history: list[OwnerChange]
    indexed_block: int | None = _HEIGHT


class TokenPage(_Open):
    """A page of tokens."""

    data: list[TokenSummary]
    next_cursor: str | None
    indexed_block: int | None = _HEIGHT


class RuleView(_Open):
    """A sensor rule as added on chain, and its state."""

    rule_id: int
    item_id: str
    device_id: str
    manager: str
    metric: str
    unit: str = Field(description="The unit readings of the metric must be in (others are refused)")
    kind: str = Field(description="threshold, heartbeat or aggregate")
    comparison: str = Field(description="above, below or outside")
    lower: str
    upper: str
    scale: int
    min_readings: int
    min_duration: int
    actions: list[str]
    state: str = Field(description="armed, fired or disabled")
    report_id: str | None
    added_block: int
    transaction_hash: str
    indexed_block: int | None = _HEIGHT


class RulePage(_Open):
    """A page of rules."""

    data: list[RuleView]
    next_cursor: int | None
    indexed_block: int | None = _HEIGHT


class ReportList(_Open):
    """Oracle reports, fired ones from the mirror and the rest from the daemons' records."""

    data: list[dict[str, Any]]
    indexed_block: int | None = _HEIGHT


class BatchView(_Open):
    """A batch and its anchor."""

    id: int
    status: str
    root: str
    content_id: str
    reading_count: int
    first_timestamp: int
    last_timestamp: int
    sealed_at: float
    anchored_at: float | None
    confirmed_at: float | None
    final_at: float | None = Field(None, description="When the anchor became final (status `final`)")
    chain_batch_id: int | None
    transaction_hash: str | None
    block_number: int | None
    block_hash: str | None
    attempts: int
    last_error: str | None
    indexed_block: int | None = _HEIGHT


class BatchPage(_Open):
    """A page of batches (or, with `status=open`, the readings not yet sealed)."""

    data: list[dict[str, Any]]
    count: int
    next_cursor: int | None
    indexed_block: int | None = _HEIGHT


class BatchLag(_Open):
    """Pending work and how far behind anchoring is."""

    open: dict[str, Any]
    sealed_batches: int
    last_anchored: BatchView | None
    lag_seconds: float | None
    counts: dict[str, int]
    indexed_block: int | None = _HEIGHT
