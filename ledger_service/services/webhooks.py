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
import secrets
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger_service.core.errors import Forbidden, InvalidWebhookUrl, NotFound
from ledger_service.core.models import ApiKey, Subscription, WebhookDelivery
from ledger_service.core.settings import Settings
from ledger_service.services.apikeys import still_valid
from ledger_service.services.events import EventFeed, FeedEvent, Position, check_types
from ledger_service.services.webhook_http import Poster, PostFailed
from ledger_service.services.webhook_signing import Target, check_url, sign, subscription_secret, webhook_key

log = logging.getLogger(__name__)
#: Most subscriptions one party (or the operator's admin keys) may hold.
MAX_SUBSCRIPTIONS = 20


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
    with Session(engine) as session:
        held = session.exec(select(func.count()).select_from(Subscription).where(_mine(key))).one()
    if held >= MAX_SUBSCRIPTIONS:
        raise Forbidden(f"this party holds {held} subscriptions already, the most there may be")
    record = Subscription(
        salt=secrets.token_hex(16), url=url, types=",".join(check_types(types or ())), party=key.party,
        account=account.lower() if account else None, api_key_id=key.id or 0, cursor=str(start),
        created_at=time.time(),
    )  # fmt: skip
    with Session(engine, expire_on_commit=False) as session:
        session.add(record)
        session.commit()
    assert record.id is not None
    return record, subscription_secret(webhook_key(settings), record.id, record.salt)


def _all_seeing(key: ApiKey) -> bool:
    return key.party is None and "admin" in key.roles.split(",")


def check_scope(key: ApiKey) -> None:
    """A key reads the feed of its party; a key without a party acts as the operator and must be
    an admin key to see everything (`Forbidden` otherwise)."""
    if key.party is None and not _all_seeing(key):
        raise Forbidden("a key without a party needs the admin role to read events or manage subscriptions")


def _mine(key: ApiKey) -> Any:
    check_scope(key)
    return Subscription.party == key.party if key.party is not None else col(Subscription.id).is_not(None)


def _owned(session: Session, key: ApiKey, subscription_id: int) -> Subscription:
    """The subscription if `key`'s party made it (an admin key without a party: any); else
    `NotFound`, the same answer as for an id that does not exist."""
    check_scope(key)
    record = session.get(Subscription, subscription_id)
    if record is None or (key.party is not None and record.party != key.party):
        raise NotFound(f"no subscription {subscription_id}")
    return record


def list_subscriptions(engine: Engine, key: ApiKey) -> list[Subscription]:
    """The subscriptions of the key's party (an admin key without a party: all)."""
    with Session(engine) as session:
        return list(session.exec(select(Subscription).where(_mine(key)).order_by(col(Subscription.id))).all())


def get_subscription(engine: Engine, key: ApiKey, subscription_id: int) -> Subscription:
    with Session(engine) as session:
        return _owned(session, key, subscription_id)


def delete_subscription(engine: Engine, key: ApiKey, subscription_id: int) -> None:
    """Stops and removes a subscription, and its delivery log with it."""
    with Session(engine) as session:
        session.delete(_owned(session, key, subscription_id))
        session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == subscription_id))
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
        self._running: dict[int, Future[int]] = {}  # subscription -> its page of deliveries in progress
        in_flight = threads * settings.webhook_in_flight
        self.posts = ThreadPoolExecutor(max_workers=min(64, in_flight), thread_name_prefix="webhook-post")

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.posts.shutdown(wait=True)
        self.http.close()

    def step(self) -> int:
        """Starts a page of deliveries for each due subscription that has none running, and
        collects the pages that finished; returns the events they delivered. A slow receiver
        holds up its own subscription only."""
        delivered = 0
        for subscription_id, running in list(self._running.items()):
            if running.done():
                del self._running[subscription_id]
                delivered += running.result()
        now = time.time()
        with Session(self.engine) as session:
            due = session.exec(
                select(Subscription.id).where(Subscription.active, col(Subscription.next_attempt_at) <= now)
            ).all()
        for found in due:
            if found is not None and found not in self._running:
                self._running[found] = self.pool.submit(self._serve, found)
        return delivered

    def _serve(self, subscription_id: int) -> int:
        """Delivers the next page of one subscription's events, in order, stopping at the first
        failure; then records the attempts and moves the cursor in one transaction. A crash before
        that commit delivers the page again: at least once, never skipped."""
        with Session(self.engine, expire_on_commit=False) as session:
            record = session.get(Subscription, subscription_id)
        if record is None or not record.active or record.id is None:
            return 0
        if not still_valid(self.engine, record.api_key_id):  # the key that made it was revoked
            self._deactivate(record.id)
            return 0
        types = record.types.split(",") if record.types else None
        viewer = record.account if record.party is not None else None
        start = Position.parse(record.cursor)
        page = self.feed.read(start, self.batch, viewer, types)
        attempts: list[WebhookDelivery] = []
        cursor, failed = start, False
        target = None
        try:
            if page.events:
                target = check_url(record.url, self.settings.webhook_allow_private)  # once a page: DNS moves
        except InvalidWebhookUrl as exc:
            attempts.append(self._attempt(record.id, page.events[0], None, exc.detail[:200], 0.0))
            failed = True
        sid, secret = record.id, subscription_secret(self.key, record.id, record.salt)
        window = self.settings.webhook_in_flight
        pending = [] if failed else page.events
        for begin in range(0, len(pending), window):  # up to `window` posts in flight, cursor in order
            batch = pending[begin : begin + window]
            if len(batch) == 1:
                outcomes = [self._post(sid, target, secret, batch[0])]
            else:
                outcomes = list(self.posts.map(lambda e: self._post(sid, target, secret, e), batch))
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

    def _deactivate(self, subscription_id: int) -> None:
        with Session(self.engine) as session:
            current = session.get(Subscription, subscription_id)
            if current is not None:
                current.active = False
                session.add(current)
                session.commit()
        log.warning("webhook subscription stopped: its API key was revoked", extra={"subscription": subscription_id})

    def _post(self, subscription_id: int, target: Target | None, secret: str, event: FeedEvent) -> WebhookDelivery:
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
        assert target is not None  # checked for the page before any post
        try:
            status = self.http.post(target, body, headers)
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
