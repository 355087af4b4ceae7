"""Webhook subscriptions (`/v1/subscriptions`): any API key manages those of its own party; the
feed each delivers is what that party may see. An admin key without a party sees them all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.event_schemas import (
    DeliveryList,
    DeliveryOut,
    ReplayIn,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
)
from ledger_service.app.api.problems import write_errors
from ledger_service.app.api.routes.events import AnyKey, viewer_of
from ledger_service.services import webhooks
from ledger_service.services.events import Position

router = APIRouter(prefix="/v1/subscriptions", tags=["webhooks"])
_ERRORS = write_errors({
    401: "No valid API key",
    404: "No such subscription for this key's party (not-found)",
    422: "A URL refused (invalid-webhook-url), an unknown event type (invalid-filter) or a bad event id",
})  # fmt: skip
SubscriptionId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionOut, responses=_ERRORS)
def subscribe(body: SubscriptionIn, services: ServicesDep, key: AnyKey) -> SubscriptionOut:
    """Delivers the feed's events (of `types`; all by default) that the key's party may see to
    `url`, signed. The answer holds the signing secret: it is shown this once."""
    after = Position.parse(body.after) if body.after else None
    record, secret = webhooks.create_subscription(
        services.engine, services.settings, key, viewer_of(services, key), body.url, body.types, after
    )
    return SubscriptionOut.of(record, secret)


@router.get("", response_model=SubscriptionList, responses=_ERRORS)
def subscriptions(services: ServicesDep, key: AnyKey) -> SubscriptionList:
    """The subscriptions of the key's party."""
    return SubscriptionList(data=[SubscriptionOut.of(s) for s in webhooks.list_subscriptions(services.engine, key)])


@router.get("/{subscription_id}", response_model=SubscriptionOut, responses=_ERRORS)
def subscription(subscription_id: SubscriptionId, services: ServicesDep, key: AnyKey) -> SubscriptionOut:
    return SubscriptionOut.of(webhooks.get_subscription(services.engine, key, subscription_id))


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
def unsubscribe(subscription_id: SubscriptionId, services: ServicesDep, key: AnyKey) -> Response:
    """Stops deliveries and removes the subscription (its delivery log stays)."""
    webhooks.delete_subscription(services.engine, key, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{subscription_id}/replay", response_model=SubscriptionOut, responses=_ERRORS)
def replay(subscription_id: SubscriptionId, body: ReplayIn, services: ServicesDep, key: AnyKey) -> SubscriptionOut:
    """Delivers again every event after `after` (same delivery ids: receivers see repeats as such)."""
    record = webhooks.replay(services.engine, key, subscription_id, Position.parse(body.after))
    return SubscriptionOut.of(record)


@router.get("/{subscription_id}/deliveries", response_model=DeliveryList, responses=_ERRORS)
def deliveries(
    subscription_id: SubscriptionId,
    services: ServicesDep,
    key: AnyKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    """The latest delivery attempts, newest first, with their outcomes."""
    rows = webhooks.deliveries(services.engine, key, subscription_id, limit)
    return DeliveryList(data=[DeliveryOut.of(r) for r in rows])
