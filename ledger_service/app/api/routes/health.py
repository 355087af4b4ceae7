"""Service health."""

from __future__ import annotations

import os

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from indexer.store import Store
from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.problems import MEDIA_TYPE
from ledger_service.app.api.schemas import Health
from ledger_service.core.loops import recent_health

router = APIRouter(tags=["health"])

#: A loop failing this many times in a row makes the service not ready.
LOOP_FAILURES_NOT_READY = 3


@router.get("/health", response_model=Health)
def health(services: ServicesDep) -> Health:
    """Whether the service is up, which chain it anchors to, and how much work is queued."""
    deployment = services.ledger.deployment
    try:
        block: int | None = int(services.ledger.client.w3.eth.block_number)
    except Exception:  # noqa: BLE001 - health reports an unreachable chain instead of failing
        block = None
    return Health(
        status="ok" if block is not None else "degraded",
        chain_id=deployment.chain_id,
        block_number=block,
        contracts={name: c.address for name, c in deployment.contracts.items()},
        counts=services.proofs.counts(),
    )


_PID = os.getpid()


@router.get("/healthz")
def healthz() -> dict[str, str | int]:
    """Liveness: the process answers (`pid`: which of the API processes did). It asks nothing of
    the database or the chain."""
    return {"status": "ok", "pid": _PID}


@router.get(
    "/readyz",
    responses={503: {"description": "A dependency is down or the mirror lags", "content": {MEDIA_TYPE: {}}}},
)
def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: the database answers, the chain answers, the SQL mirror is at most
    `PROVENANCE_READY_MAX_LAG` blocks behind the head it last saw (when the indexer runs), and no
    running loop (batcher, indexer, oracle daemons, registry follower) has failed three times in a row.
    A 503 answer is problem+json whose `status` is the number 503; `checks` names each component."""
    checks: dict[str, dict[str, object]] = {}
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - readiness reports, it does not fail
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        tracker = services.proofs.head
        head = tracker.get() if tracker is not None else int(services.ledger.client.w3.eth.block_number)
        checks["chain"] = {"ok": True, "block_number": head}
    except Exception as exc:  # noqa: BLE001
        head = None
        checks["chain"] = {"ok": False, "error": type(exc).__name__}
    if services.settings.index:
        progress = Store(services.engine).progress() if checks["database"]["ok"] else None
        if progress is None or progress["head_number"] is None:
            checks["indexer"] = {"ok": False, "error": "the mirror is empty: is `provenance index` running?"}
        else:
            lag = (head if head is not None else progress["chain_head"] or 0) - progress["head_number"]
            limit = services.settings.ready_max_lag
            checks["indexer"] = {
                "ok": lag <= limit,
                "indexed_block": progress["head_number"],
                "lag_blocks": max(0, lag),
            }
    if checks["database"]["ok"]:
        for row in recent_health(services.engine):
            checks[f"loop:{row.component}"] = {  # the error's type only: /readyz is public
                "ok": not row.fatal and row.consecutive_failures < LOOP_FAILURES_NOT_READY,
                "consecutive_failures": row.consecutive_failures,
                "stopped": row.fatal,
                "error": (row.last_error or "").split(":", 1)[0] or None,
            }
    ready = all(bool(check["ok"]) for check in checks.values())
    if ready:
        return JSONResponse({"status": "ready", "checks": checks})
    problem = {
        "type": "urn:provenance-ledger:problem:not-ready", "title": "Not ready", "status": 503,
        "detail": ", ".join(name for name, check in checks.items() if not check["ok"]) + " not ready",
        "code": "not-ready", "checks": checks,
    }  # fmt: skip
    return JSONResponse(problem, status_code=503, media_type=MEDIA_TYPE)
