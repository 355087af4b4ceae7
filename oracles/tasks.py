"""The Celery task that submits an oracle report, on the service's Celery app.

Like anchoring, it runs on `provenance worker` processes when a broker is configured, or eagerly in
the daemon's process without one. It is idempotent by report id (a settled report is not sent
again; a rule fires once on chain), sends from the reporter account (its only job; the contract lets
anyone submit, so it holds no role), holds that account's lock while it sends (fresh nonce, one
sender at a time), and retries with backoff on RPC failures and on refusals that may pass later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Task

from ledger_service.services.container import Services
from ledger_service.services.tasks import app, configure, worker_services
from oracles.contract import SensorOracleContract
from oracles.coordinator import Coordinator, parse_members
from oracles.reports import ReportSubmitter

log = logging.getLogger(__name__)


def submitter_for(services: Services) -> ReportSubmitter:
    """A submitter from the reporter account, gathering committee signatures from the member
    endpoints the settings name."""
    settings = services.settings
    reporter = services.ledger.client.for_role("reporter")
    oracle = SensorOracleContract(reporter, services.ledger.deployment, services.artifacts)
    start = services.ledger.deployment.contracts["SensorOracle"].block_number
    coordinator = Coordinator(parse_members(settings.oracle_members), settings.member_timeout, from_block=start)
    return ReportSubmitter(services, oracle, coordinator)


@app.task(bind=True, name="provenance.submit_report", max_retries=None)  # type: ignore[untyped-decorator]
def submit_report(self: Task, report_id: str) -> str:
    """Submits oracle report `report_id` (idempotent); retries with backoff when run by a worker."""
    try:
        return submitter_for(worker_services()).submit(report_id)
    except Exception as exc:
        if self.request.is_eager:
            raise
        delay = min(30, 2 ** min(self.request.retries, 5))
        log.warning("oracle report not submitted, retrying", extra={"report_id": report_id, "error": str(exc)})
        raise self.retry(exc=exc, countdown=delay) from exc


def report_dispatcher(services: Services) -> Callable[[str], None]:
    """How the daemon hands a report over: to the broker, or run here and now (eager)."""
    from ledger_service.services.tasks import bind

    configure(services.settings)
    if services.settings.broker_url is None:
        bind(services)
        return lambda report_id: submit_report.apply(args=[report_id]).get()
    return lambda report_id: submit_report.delay(report_id)
