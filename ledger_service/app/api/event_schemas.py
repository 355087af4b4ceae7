"""Bodies of the event feed, the live stream and the webhook subscriptions."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ledger_service.core.models import Subscription, WebhookDelivery
from ledger_service.services.events import EVENT_TYPES

EventId = Annotated[
    StrictStr,
    Field(pattern=r"^(-1|\d{1,18})-\d{1,9}-\d{1,9}$", description="An event id, BLOCK-LOG-SUB", examples=["42-0-3"]),
]
EventType = Annotated[StrictStr, Field(description=f"One of: {', '.join(EVENT_TYPES)}")]


class FeedEventOut(BaseModel):
    """One event: its id (its place in the feed), type, where on chain, and what happened."""

    id: str
    type: str
    block_number: int
    block_time: int
    transaction_hash: str
    data: dict[str, Any]


class FeedPageOut(BaseModel):
    """Events after a position; `next` is where the next read starts."""

    data: list[FeedEventOut]
    next: str
    confirmed_through: int


class SubscriptionIn(BaseModel):
    """A webhook to deliver the feed to."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[StrictStr, Field(max_length=2000, examples=["https://example.com/hooks/provenance"])]
    types: list[EventType] | None = Field(None, max_length=len(EVENT_TYPES), description="Event types; null: all")
    after: EventId | None = Field(None, description="Deliver the events after this one; null: only new events")


class ReplayIn(BaseModel):
    """Where to deliver again from."""

    model_config = ConfigDict(extra="forbid")

    after: EventId


class SubscriptionOut(BaseModel):
    """A subscription; `secret` only in the answer that made it (it is never shown again)."""

    id: int
    url: str
    types: list[str]
    party: str | None
    cursor: str
    active: bool
    failures: int
    next_attempt_at: float
    created_at: float
    secret: str | None = None

    @classmethod
    def of(cls, record: Subscription, secret: str | None = None) -> SubscriptionOut:
        return cls(
            id=record.id or 0, url=record.url, types=record.types.split(",") if record.types else [],
            party=record.party, cursor=record.cursor, active=record.active, failures=record.failures,
            next_attempt_at=record.next_attempt_at, created_at=record.created_at, secret=secret,
        )  # fmt: skip


class SubscriptionList(BaseModel):
    data: list[SubscriptionOut]


class DeliveryOut(BaseModel):
    """One delivery attempt and its outcome."""

    event_id: str
    event_type: str
    attempt: int
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: float
    at: float

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryOut:
        return cls(
            event_id=row.event_id, event_type=row.event_type, attempt=row.attempt, outcome=row.outcome,
            status_code=row.status_code, error=row.error, duration_ms=row.duration_ms, at=row.at,
        )  # fmt: skip


class DeliveryList(BaseModel):
    data: list[DeliveryOut]
