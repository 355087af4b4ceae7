"""Webhook subscriptions to the event feed, delivered at least once, in feed order, signed
(`ledger_service.services.webhook_signing`).

Delivery: one event at a time per subscription, in feed order. A 2xx answer moves the
subscription's cursor past the event; anything else is logged, and the same event is tried again
after a backoff (doubling, capped). Every attempt is logged with its outcome; moving the cursor
back (`replay`) delivers again from there.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger_service.core.errors import InvalidWebhookUrl, NotFound
from ledger_service.core.models import ApiKey, Subscription, WebhookDelivery
from ledger_service.core.settings import Settings
from ledger_service.services.events import EventFeed, FeedEvent, Position, check_types
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
        self.http = httpx.Client(timeout=settings.webhook_timeout, follow_redirects=False)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook")
        self._lock = threading.Lock()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
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
        with Session(self.engine, expire_on_commit=False) as session:
            record = session.get(Subscription, subscription_id)
        if record is None or not record.active:
            return 0
        types = record.types.split(",") if record.types else None
        viewer = record.account if record.party is not None else None
        page = self.feed.read(Position.parse(record.cursor), self.batch, viewer, types)
        delivered = 0
        for event in page.events:
            if not self._deliver(record, event):
                return delivered
            delivered += 1
        if page.next > Position.parse(record.cursor):
            self._advance(subscription_id, str(page.next))  # past events this subscription does not see
        return delivered

    def _deliver(self, record: Subscription, event: FeedEvent) -> bool:
        assert record.id is not None
        delivery_id = f"{record.id}.{event.id}"
        body = json.dumps(event.to_json(), separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(subscription_secret(self.key, record.id), delivery_id, timestamp, body),
            "user-agent": "provenance-ledger-webhooks/1",
        }
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            check_url(record.url, self.settings.webhook_allow_private)
            answer = self.http.post(record.url, content=body, headers=headers)
            status_code = answer.status_code
            ok = 200 <= status_code < 300
            if not ok:
                error = f"HTTP {status_code}"
        except InvalidWebhookUrl as exc:
            ok, error = False, exc.detail[:200]
        except httpx.HTTPError as exc:
            ok, error = False, type(exc).__name__
        self._record(record, event, ok, status_code, error, (time.monotonic() - started) * 1000)
        return ok

    def _record(
        self, record: Subscription, event: FeedEvent, ok: bool, status_code: int | None, error: str | None, ms: float
    ) -> None:
        with Session(self.engine) as session:
            current = session.get(Subscription, record.id)
            if current is None:
                return  # deleted meanwhile
            attempt = current.failures + 1
            if ok:
                current.cursor, current.failures, current.next_attempt_at = event.id, 0, 0.0
                record.cursor = event.id
            else:
                current.failures = attempt
                wait = min(self.settings.webhook_max_backoff, 2.0 ** min(attempt - 1, 20))
                current.next_attempt_at = time.time() + wait
                log.warning(
                    "webhook delivery failed",
                    extra={"subscription": record.id, "event": event.id, "attempt": attempt,
                           "error": error, "retry_in": wait},
                )  # fmt: skip
            session.add(current)
            session.add(WebhookDelivery(
                subscription_id=record.id or 0, event_id=event.id, event_type=event.type, attempt=attempt,
                outcome="delivered" if ok else "failed", status_code=status_code, error=error,
                duration_ms=round(ms, 3), at=time.time(),
            ))  # fmt: skip
            session.commit()

    def _advance(self, subscription_id: int, cursor: str) -> None:
        with Session(self.engine) as session:
            current = session.get(Subscription, subscription_id)
            if current is not None and Position.parse(cursor) > Position.parse(current.cursor):
                current.cursor = cursor
                session.add(current)
                session.commit()
