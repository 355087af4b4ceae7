"""Celery tasks: anchoring a sealed batch.

With `PROVENANCE_BROKER_URL` set (Redis or RabbitMQ), the batcher sends `anchor_batch` to the
broker and `provenance worker` processes run it, acknowledging a task only after it finished
(`acks_late`), so a worker that dies mid-task leaves it to another. Without a broker (the
embedded default) the same task runs in the batcher's process through Celery's eager mode; no
queue is needed because the queue is the database: a sealed batch stays sealed, and is sent
again, until it is anchored.

Either way the task sends from the anchorer account (its only job: it holds
`DataNotary.ANCHORER_ROLE` and nothing else) and holds that account's sender lock
(`ledger_service.core.locks.account_lock`) while it checks the batch, asks the chain whether the batch
is anchored already, and sends with a nonce fresh from the node, as the log's next batch
(`DataNotary.anchorAs`): concurrent workers never share a nonce and a batch is never anchored twice.
Failed RPC calls are retried with exponential backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from celery import Celery, Task

from ledger_service.core.locks import account_lock
from ledger_service.core.settings import Settings
from ledger_service.services.container import Services

log = logging.getLogger(__name__)

app = Celery("provenance_ledger", include=["oracles.tasks"])  # the worker registers the oracle task too
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    task_always_eager=True,
    task_eager_propagates=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


def configure(settings: Settings) -> Celery:
    """Points the Celery app at the settings' broker, or makes it eager when there is none."""
    broker_url = settings.broker_url or "memory://"
    if app.conf.broker_url not in (None, broker_url):
        # Another broker than before (tests switch): drop the connections made for the old one.
        app._pool = None
        app.amqp._producer_pool = None
    app.conf.update(
        broker_url=broker_url,
        task_always_eager=settings.broker_url is None,
        task_default_queue=f"provenance-{settings.chain_id}",
    )
    return app


class _Bound:
    """The services this process's tasks use: those of `provenance up` when it runs them eagerly."""

    services: Services | None = None


def bind(services: Services) -> None:
    """Makes tasks run in this process use `services` (the embedded, eager mode)."""
    _Bound.services = services


@cache
def _own_services() -> Services:
    from ledger_service.core.chain.context import prepare_chain, running_chain_url

    settings = Settings()
    configure(settings)
    chain = prepare_chain(settings, running_chain_url(settings))
    return Services.build(settings, chain.client, chain.deployment, chain.artifacts)


def worker_services() -> Services:
    """The services tasks use: the bound ones, or a worker process's own, built once from its settings."""
    return _Bound.services or _own_services()


def dispatcher(services: Services) -> Callable[[int], None]:
    """How the batcher hands a sealed batch over: to the broker, or run here and now (eager)."""
    configure(services.settings)
    if services.settings.broker_url is None:
        bind(services)
        return lambda batch_id: anchor_batch.apply(args=[batch_id]).get()
    return lambda batch_id: anchor_batch.delay(batch_id)


def anchor_with_lock(services: Services, batch_id: int) -> dict[str, Any] | None:
    """Anchors batch `batch_id` holding the anchorer's lock; returns where it landed, or None."""
    anchorer = services.ledger.client.for_role("anchorer")
    with account_lock(services.engine, services.settings.data_dir, anchorer.operator.address):
        anchorer.reset_nonce()
        record = services.batcher().anchor_batch(batch_id)
    if record is None:
        return None
    return {"batch_id": batch_id, "transaction_hash": record.transaction_hash, "block_number": record.block_number}


@app.task(bind=True, name="provenance.anchor_batch", max_retries=None)  # type: ignore[untyped-decorator]
def anchor_batch(self: Task, batch_id: int) -> dict[str, Any] | None:
    """Anchors a sealed batch (idempotent); on failure retries with backoff when run by a worker."""
    try:
        return anchor_with_lock(worker_services(), batch_id)
    except Exception as exc:
        if self.request.is_eager:
            raise
        delay = min(60, 2 ** min(self.request.retries, 6))
        log.warning("anchoring failed, retrying", extra={"batch_id": batch_id, "error": str(exc), "retry_in": delay})
        raise self.retry(exc=exc, countdown=delay) from exc
