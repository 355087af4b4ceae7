"""Prometheus metrics: the notarization pipeline and the indexer, read from the database (the
indexer, which may run as another process, records its progress there)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from indexer.store import Store
from ledger_service.app.api.deps import ServicesDep
from ledger_service.core.chain.outbox import Outbox
from ledger_service.core.loops import SUPERVISED, recent_health
from ledger_service.services.container import Services

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text exposition format", "content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request, services: ServicesDep) -> Response:
    """Pending readings, batches by status, the indexer's head, lag, rates and reorgs, each running
    loop's failures, and HTTP requests by route and status with their latency."""
    registry = CollectorRegistry()
    counts = services.proofs.counts()
    Gauge("provenance_pending_readings", "Readings stored but not yet in a batch", registry=registry).set(
        counts["pending_readings"]
    )
    batches = Gauge("provenance_batches", "Batches by status", ["status"], registry=registry)
    for status in ("sealed", "anchored", "confirmed", "final"):
        batches.labels(status=status).set(counts[f"{status}_batches"])
    info = Store(services.engine).progress()
    if info is not None:
        gauges = {
            "provenance_index_head_block": ("Last block written to the SQL mirror", info["head_number"]),
            "provenance_index_chain_head_block": ("Chain head the indexer last saw", info["chain_head"]),
            "provenance_index_lag_blocks": ("Blocks the mirror trails the chain head", info["lag"]),
            "provenance_index_events_per_second": ("Events written per second (last run)", info["events_per_second"]),
            "provenance_index_blocks_per_second": ("Blocks written per second (last run)", info["blocks_per_second"]),
            "provenance_index_reorgs": ("Reorgs rolled back since the mirror was created", info["reorgs"]),
            "provenance_index_update_age_seconds": (
                "Seconds since the indexer last wrote",
                time.time() - info["updated_at"] if info["updated_at"] else None,
            ),
        }
        for name, (help_text, value) in gauges.items():
            if value is not None:
                Gauge(name, help_text, registry=registry).set(float(value))
    _loops(registry, services)
    _transactions(registry, services)
    http: CollectorRegistry | None = getattr(request.app.state, "http_metrics", None)
    body = generate_latest(registry) + (generate_latest(http) if http is not None else b"")
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _loops(registry: CollectorRegistry, services: Services) -> None:
    """Each running loop's failures and last good step, and each supervised child's restarts."""
    loops = {
        "failures": Gauge(
            "provenance_loop_failures", "Failed steps of a loop since it started", ["component"], registry=registry
        ),
        "consecutive": Gauge(
            "provenance_loop_consecutive_failures",
            "Failed steps of a loop since its last good one",
            ["component"],
            registry=registry,
        ),
        "ok_age": Gauge(
            "provenance_loop_last_ok_age_seconds",
            "Seconds since a loop's last good step",
            ["component"],
            registry=registry,
        ),
    }
    restarts = Gauge(
        "provenance_component_restarts",
        "Times `provenance up` started a child process again after it exited",
        ["component"],
        registry=registry,
    )
    for row in recent_health(services.engine):
        if row.component.startswith(SUPERVISED):
            restarts.labels(component=row.component.removeprefix(SUPERVISED)).set(row.failures_total)
        loops["failures"].labels(component=row.component).set(row.failures_total)
        loops["consecutive"].labels(component=row.component).set(row.consecutive_failures)
        if row.last_ok_at is not None:
            loops["ok_age"].labels(component=row.component).set(max(0.0, time.time() - row.last_ok_at))


def _transactions(registry: CollectorRegistry, services: Services) -> None:
    """The outbox: operator transactions by status, replacements, fees of the last hour and what
    is left of the hour's gas budget."""
    summary = Outbox(services.engine).summary()
    by_status = Gauge("provenance_transactions", "Operator transactions by status", ["status"], registry=registry)
    for status in ("pending", "mined", "reverted", "dropped", "cancelled"):
        by_status.labels(status=status).set(summary["by_status"].get(status, 0))
    Gauge("provenance_transaction_replacements", "Transactions sent again with higher fees", registry=registry).set(
        summary["replacements"]
    )
    Gauge("provenance_fees_last_hour_wei", "Fees paid by transactions mined in the last hour", registry=registry).set(
        summary["fees_last_hour"]
    )
    budget = services.ledger.client.sender.policy.budget_wei_per_hour
    if budget is not None:
        Gauge(
            "provenance_gas_budget_left_wei",
            "The hour's gas budget not yet spent (0: sending paused)",
            registry=registry,
        ).set(max(0, budget - summary["fees_last_hour"]))
