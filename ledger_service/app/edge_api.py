"""The gateway's HTTP API, on the local network: the service's ingest endpoints (same bodies, same
answers, so a device or the device library speaks to a gateway as to the service), `/health` with the
EIP-712 domain, and `/v1/edge/status`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, ValidationError

from edge.gateway import Gateway
from ledger_service.app.api.limits import BodySizeLimit
from ledger_service.app.api.problems import install_problem_handlers
from ledger_service.app.api.schemas import ReadingIn
from ledger_service.core.errors import NotFound, PayloadTooLarge
from ledger_service.services.ingest import ItemResult
from oracles.local_rules import LocalAlarms


class BatchIn(BaseModel):
    """Signed readings, at most the gateway's `max_batch`."""

    model_config = ConfigDict(extra="forbid")
    readings: list[dict[str, Any]]


def _item(index: int, result: ItemResult) -> dict[str, Any]:
    error = result.error
    return {"index": index, "status": result.status, "id": result.reading_id,
            "code": error.code if error else None, "detail": error.detail if error else None}  # fmt: skip


def _parse(readings: list[dict[str, Any]]) -> tuple[list[dict[str, Any] | None], list[tuple[int, ReadingIn]]]:
    """The batch's readings parsed (with their places); a result already for each that is not a reading."""
    results: list[dict[str, Any] | None] = [None] * len(readings)
    parsed: list[tuple[int, ReadingIn]] = []
    for index, item in enumerate(readings):
        try:
            parsed.append((index, ReadingIn.model_validate(item)))
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            results[index] = {"index": index, "status": "refused", "id": None, "code": "validation-error",
                              "detail": detail}  # fmt: skip
    return results, parsed


def _add_views(app: FastAPI, gateway: Gateway, alarms: LocalAlarms | None) -> None:
    """The gateway's read endpoints: health, status, devices, alarms and proofs."""

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "role": "edge", "chain_id": gateway.domain.chain_id,
                "contracts": {"DeviceRegistry": gateway.domain.verifying_contract}, **gateway.status()}  # fmt: skip

    @app.get("/v1/edge/status")
    def edge_status() -> dict[str, Any]:
        return gateway.status()

    @app.get("/v1/edge/devices")
    def edge_devices(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        """Per device and key: readings held, sequence range, gaps (sequences never received here,
        reported while they may still arrive, then as given up), and the clock skew seen."""
        return {"data": gateway.store.devices(limit, max_age=gateway.ingestor.policy.max_reading_age)}

    @app.get("/v1/edge/alarms")
    def edge_alarms(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        """The latest alarms of the sensor rules evaluated here, newest first."""
        return {"data": [] if alarms is None else alarms.recent(limit)}

    @app.get("/v1/readings/{reading_id}/proof")
    async def reading_proof(reading_id: str) -> dict[str, Any]:
        """The chained proof of a reading sealed under one of the gateway's roots (aggregation on)."""
        if gateway.proofs is None:
            raise NotFound("this gateway forwards each reading: ask upstream for its proof")
        return await run_in_threadpool(gateway.proofs.bundle, reading_id)


def create_edge_app(
    gateway: Gateway, max_bad_signatures: int = 64, max_body_bytes: int = 4_000_000, max_batch: int = 5000,
    alarms: LocalAlarms | None = None,
) -> FastAPI:  # fmt: skip
    """The gateway's API over `gateway`, with the service's limits (`PROVENANCE_MAX_BAD_SIGNATURES`,
    `PROVENANCE_MAX_BODY_BYTES`, `PROVENANCE_MAX_BATCH_READINGS`)."""
    app = FastAPI(title="provenance-ledger edge gateway", docs_url=None, redoc_url=None)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    install_problem_handlers(app)

    _add_views(app, gateway, alarms)

    @app.post("/v1/readings", status_code=status.HTTP_201_CREATED)
    async def post_reading(body: ReadingIn, response: Response) -> dict[str, Any]:
        items = [(body.to_reading(), body.signature_bytes())]
        [result] = await run_in_threadpool(gateway.ingestor.ingest_many, items, max_bad_signatures)
        if result.error is not None:
            raise result.error
        if result.status == "duplicate":
            response.status_code = status.HTTP_200_OK
        return {"id": result.reading_id, "duplicate": result.status == "duplicate", "status": "held"}

    @app.post("/v1/readings/batch")
    async def post_batch(body: BatchIn) -> dict[str, Any]:
        if len(body.readings) > max_batch:
            raise PayloadTooLarge(f"{len(body.readings)} readings in one request; at most {max_batch}")
        results, parsed = _parse(body.readings)
        items = [(r.to_reading(), r.signature_bytes()) for _, r in parsed]
        outcomes = await run_in_threadpool(gateway.ingestor.ingest_many, items, max_bad_signatures)
        for (index, _), outcome in zip(parsed, outcomes, strict=True):
            results[index] = _item(index, outcome)
        final = [r for r in results if r is not None]
        counts = {s: sum(1 for r in final if r["status"] == s) for s in ("stored", "duplicate", "refused")}
        return {"stored": counts["stored"], "duplicates": counts["duplicate"], "refused": counts["refused"],
                "results": final}  # fmt: skip

    return app
