"""Webhook subscriptions to the event feed, delivered at least once, in feed order, signed
(`ledger_service.services.webhook_signing`).

Delivery: up to `PROVENANCE_WEBHOOK_IN_FLIGHT` events at a time per subscription, taken in feed
order (with 1, strictly one after another; with more, the events of one window may arrive out of
order, and their ids give the order). The cursor moves past an event only once it and every event
before it were answered 2xx; a failure is logged, and delivery starts again from the first event
not acknowledged after a backoff (doubling, capped), so events after it in the same window may
arrive twice (same `webhook-id`). Every attempt is logged with its outcome; moving the cursor
back (`replay`) delivers again from there.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger_service.core.errors import InvalidWebhookUrl, NotFound
from ledger_service.core.models import ApiKey, Subscription, WebhookDelivery
from ledger_service.core.settings import Settings
from ledger_service.services.events import EventFeed, FeedEvent, Position, check_types
from ledger_service.services.webhook_http import Poster, PostFailed
from ledger_service.services.webhook_signing import check_url, sign, subscription_secret, webhook_key

log = logging.getLogger(__name__)


def create_subscription(
    engine: Engine,
    settings: Settings,
    key: ApiKey,
    account: str | None,
    url: str,
    types: Iterable[str] | None = None,
    after: Position | None = None,
) -> tuple[Subscription, str]:
    """Subscribes `url` for the key's party (`account`, its address; None: the operator's key) to
    the feed from `after` (default: from now on, the events after the last confirmed one); returns
    the record and its secret, shown once."""
    check_url(url, settings.webhook_allow_private)
    start = after if after is not None else EventFeed(engine).head()
    record = Subscription(
        url=url, types=",".join(check_types(types or ())), party=key.party,
        account=account.lower() if account else None, api_key_id=key.id or 0, cursor=str(start),
        created_at=time.time(),
    )  # fmt: skip
    with Session(engine, expire_on_commit=False) as session:
        session.add(record)
        session.commit()
    assert record.id is not None
    return record, subscription_secret(webhook_key(settings), record.id)


def _owned(session: Session, key: ApiKey, subscription_id: int) -> Subscription:
    """The subscription if `key`'s party made it (an admin key without a party: any); else
    `NotFound`, the same answer as for an id that does not exist."""
    record = session.get(Subscription, subscription_id)
    if record is None or (key.party is not None and record.party != key.party):
        raise NotFound(f"no subscription {subscription_id}")
    if key.party is None and record.party is not None and "admin" not in key.roles.split(","):
        raise NotFound(f"no subscription {subscription_id}")
    return record


def list_subscriptions(engine: Engine, key: ApiKey) -> list[Subscription]:
    """The subscriptions of the key's party (for a key without a party: the operator's)."""
    with Session(engine) as session:
        query = select(Subscription).where(Subscription.party == key.party) if key.party else select(Subscription)
        if key.party is None and "admin" not in key.roles.split(","):
            query = select(Subscription).where(col(Subscription.party).is_(None))
        return list(session.exec(query.order_by(col(Subscription.id))).all())


def get_subscription(engine: Engine, key: ApiKey, subscription_id: int) -> Subscription:
    with Session(engine) as session:
        return _owned(session, key, subscription_id)


def delete_subscription(engine: Engine, key: ApiKey, subscription_id: int) -> None:
    """Stops and removes a subscription (its delivery log stays)."""
    with Session(engine) as session:
        session.delete(_owned(session, key, subscription_id))
        session.commit()


def replay(engine: Engine, key: ApiKey, subscription_id: int, after: Position) -> Subscription:
    """Delivers again every event after `after`: moves the cursor there and clears the backoff."""
    with Session(engine, expire_on_commit=False) as session:
        record = _owned(session, key, subscription_id)
        record.cursor, record.failures, record.next_attempt_at, record.active = str(after), 0, 0.0, True
        session.add(record)
        session.commit()
        return record


def deliveries(engine: Engine, key: ApiKey, subscription_id: int, limit: int = 100) -> list[WebhookDelivery]:
    """The subscription's latest delivery attempts, newest first."""
    with Session(engine) as session:
        _owned(session, key, subscription_id)
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == subscription_id)
            .order_by(col(WebhookDelivery.id).desc())
            .limit(limit)
        )
        return list(session.exec(query).all())


class WebhookDeliverer:
    """Delivers the feed to every active subscription; one `step` tries each due subscription once,
    up to `batch` events each, subscriptions side by side on a small thread pool."""

    def __init__(self, engine: Engine, settings: Settings, batch: int = 100, threads: int = 8) -> None:
        self.engine, self.settings, self.batch = engine, settings, batch
        self.feed = EventFeed(engine)
        self.key = webhook_key(settings)
        self.http = Poster(settings.webhook_timeout)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook")
        in_flight = threads * settings.webhook_in_flight
        self.posts = ThreadPoolExecutor(max_workers=min(64, in_flight), thread_name_prefix="webhook-post")

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.posts.shutdown(wait=True)
        self.http.close()

    def step(self) -> int:
        """Delivers what is due; returns the events delivered."""
        now = time.time()
        with Session(self.engine) as session:
            due = session.exec(
                select(Subscription.id).where(Subscription.active, col(Subscription.next_attempt_at) <= now)
            ).all()
        return sum(self.pool.map(self._serve, [sid for sid in due if sid is not None]))

    def _serve(self, subscription_id: int) -> int:
        """Delivers the next page of one subscription's events, in order, stopping at the first
        failure; then records the attempts and moves the cursor in one transaction. A crash before
        that commit delivers the page again: at least once, never skipped."""
        with Session(self.engine, expire_on_commit=False) as session:
            record = session.get(Subscription, subscription_id)
        if record is None or not record.active or record.id is None:
            return 0
        types = record.types.split(",") if record.types else None
        viewer = record.account if record.party is not None else None
        start = Position.parse(record.cursor)
        page = self.feed.read(start, self.batch, viewer, types)
        attempts: list[WebhookDelivery] = []
        cursor, failed = start, False
        try:
            if page.events:
                check_url(record.url, self.settings.webhook_allow_private)  # once a page: DNS may have moved
        except InvalidWebhookUrl as exc:
            attempts.append(self._attempt(record.id, page.events[0], None, exc.detail[:200], 0.0))
            failed = True
        sid, secret = record.id, subscription_secret(self.key, record.id)
        window = self.settings.webhook_in_flight
        pending = [] if failed else page.events
        for begin in range(0, len(pending), window):  # up to `window` posts in flight, cursor in order
            batch = pending[begin : begin + window]
            if len(batch) == 1:
                outcomes = [self._post(sid, record.url, secret, batch[0])]
            else:
                outcomes = list(self.posts.map(lambda e: self._post(sid, record.url, secret, e), batch))
            for event, attempt in zip(batch, outcomes, strict=True):
                attempts.append(attempt)
                if attempt.outcome != "delivered":
                    failed = True
                    break
                cursor = event.position
            if failed:
                break
        if not failed and page.next > cursor:
            cursor = page.next  # past events this subscription does not see
        self._record(record.id, start, cursor, attempts, failed)
        return sum(1 for a in attempts if a.outcome == "delivered")

    def _post(self, subscription_id: int, url: str, secret: str, event: FeedEvent) -> WebhookDelivery:
        delivery_id = f"{subscription_id}.{event.id}"
        body = json.dumps(event.to_json(), separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, delivery_id, timestamp, body),
            "user-agent": "provenance-ledger-webhooks/1",
        }
        started = time.monotonic()
        try:
            status = self.http.post(url, body, headers)
        except PostFailed as exc:
            return self._attempt(subscription_id, event, None, str(exc), time.monotonic() - started)
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return self._attempt(subscription_id, event, status, error, time.monotonic() - started)

    @staticmethod
    def _attempt(
        subscription_id: int, event: FeedEvent, status_code: int | None, error: str | None, seconds: float
    ) -> WebhookDelivery:
        return WebhookDelivery(
            subscription_id=subscription_id, event_id=event.id, event_type=event.type, attempt=1,
            outcome="failed" if error else "delivered", status_code=status_code, error=error,
            duration_ms=round(seconds * 1000, 3), at=time.time(),
        )  # fmt: skip

    def _record(
        self, subscription_id: int, start: Position, cursor: Position, attempts: list[WebhookDelivery], failed: bool
    ) -> None:
        """Writes the attempts and moves the cursor, unless the subscription was deleted or moved
        (a replay) meanwhile; a failure sets the backoff."""
        with Session(self.engine, expire_on_commit=False) as session:
            current = session.get(Subscription, subscription_id)
            if current is None or Position.parse(current.cursor) != start:
                return  # deleted, or replayed from elsewhere while this page went out
            for index, attempt in enumerate(attempts):  # the page starts with the event tried before
                attempt.attempt = current.failures + 1 if index == 0 else 1
                session.add(attempt)
            current.cursor = str(cursor)
            if failed:
                current.failures += 1
                wait = min(self.settings.webhook_max_backoff, 2.0 ** min(current.failures - 1, 20))
                current.next_attempt_at = time.time() + wait
                log.warning(
                    "webhook delivery failed",
                    extra={"subscription": subscription_id, "event": attempts[-1].event_id,
                           "attempt": current.failures, "error": attempts[-1].error, "retry_in": wait},
                )  # fmt: skip
            else:
                current.failures, current.next_attempt_at = 0, 0.0
            session.add(current)
            session.commit()
