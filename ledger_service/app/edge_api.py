"""The gateway's HTTP API, on the local network: the service's ingest endpoints (same bodies, same
answers, so a device or the device library speaks to a gateway as to the service), `/health` with the
EIP-712 domain, and `/v1/edge/status`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, ValidationError

from edge.gateway import Gateway, RegistryStale
from ledger_service.app.api.access import RequestRateLimit, client_address
from ledger_service.app.api.limits import BodySizeLimit
from ledger_service.app.api.problems import install_problem_handlers
from ledger_service.app.api.schemas import ReadingIn
from ledger_service.core.errors import (
    BadSignatureBudgetSpent,
    InvalidSignature,
    KeyRotated,
    NotFound,
    PayloadTooLarge,
    TooManyBadSignatures,
)
from ledger_service.core.ratelimit import RateLimiter
from ledger_service.core.readings import Reading
from ledger_service.core.settings import Settings
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


@dataclass(frozen=True)
class EdgeLimits:
    """The service's request limits, applied at the gateway too (0: no limit): the local network is
    not trusted to be polite."""

    max_bad_signatures: int = 64
    max_body_bytes: int = 4_000_000
    max_batch: int = 5000
    client_rate: float = 0.0
    ingest_client_rate: float = 0.0
    bad_signature_rate: float = 0.0
    bad_signature_burst: float = 128.0

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeLimits:
        return cls(settings.max_bad_signatures, settings.max_body_bytes, settings.max_batch_readings,
                   settings.api_client_rate, settings.ingest_client_rate, settings.client_bad_signature_rate,
                   settings.client_bad_signature_burst)  # fmt: skip


class _Budget:
    """Bad signatures per client address (`PROVENANCE_CLIENT_BAD_SIGNATURE_RATE`), as the service counts them."""

    def __init__(self, limits: EdgeLimits) -> None:
        self.limits = limits
        self.limiter = RateLimiter(limits.bad_signature_rate, limits.bad_signature_burst)

    def allowed(self, client: str) -> int:
        left = self.limiter.available(client)
        if left < 1:
            wait = (1 - left) / self.limiter.rate
            raise BadSignatureBudgetSpent(f"this client address sent more bad signatures than allowed; its "
                                          f"readings are checked again in {math.ceil(wait)}s",
                                          retry_after=round(wait, 1))  # fmt: skip
        return self.limits.max_bad_signatures if math.isinf(left) else min(self.limits.max_bad_signatures, int(left))

    async def ingest(self, gateway: Gateway, client: str, items: list[tuple[Reading, bytes]]) -> list[ItemResult]:
        allowed = self.allowed(client)
        try:
            results = await run_in_threadpool(gateway.ingestor.ingest_many, items, allowed)
        except TooManyBadSignatures:
            self.limiter.spend(client, allowed + 1)
            raise
        bad = (InvalidSignature, KeyRotated, RegistryStale)  # a stale copy's refusal still cost a check
        self.limiter.spend(client, sum(1 for r in results if isinstance(r.error, bad)))
        return results


def create_edge_app(gateway: Gateway, limits: EdgeLimits | None = None, alarms: LocalAlarms | None = None) -> FastAPI:
    """The gateway's API over `gateway`, with the service's limits (`EdgeLimits`: body size, batch
    size, bad signatures per request and per client address, requests per client address)."""
    limits = limits or EdgeLimits()
    app = FastAPI(title="provenance-ledger edge gateway", docs_url=None, redoc_url=None)
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    app.add_middleware(RequestRateLimit, per_key=0.0, per_client=limits.client_rate,
                       per_ingest_client=limits.ingest_client_rate, keys=False)  # fmt: skip
    install_problem_handlers(app)
    budget, max_batch = _Budget(limits), limits.max_batch

    _add_views(app, gateway, alarms)

    @app.post("/v1/readings", status_code=status.HTTP_201_CREATED)
    async def post_reading(body: ReadingIn, request: Request, response: Response) -> dict[str, Any]:
        items = [(body.to_reading(), body.signature_bytes())]
        [result] = await budget.ingest(gateway, client_address(request.scope), items)
        if result.error is not None:
            raise result.error
        if result.status == "duplicate":
            response.status_code = status.HTTP_200_OK
        return {"id": result.reading_id, "duplicate": result.status == "duplicate", "status": "held"}

    @app.post("/v1/readings/batch")
    async def post_batch(body: BatchIn, request: Request) -> dict[str, Any]:
        if len(body.readings) > max_batch:
            raise PayloadTooLarge(f"{len(body.readings)} readings in one request; at most {max_batch}")
        results, parsed = _parse(body.readings)
        items = [(r.to_reading(), r.signature_bytes()) for _, r in parsed]
        outcomes = await budget.ingest(gateway, client_address(request.scope), items)
        for (index, _), outcome in zip(parsed, outcomes, strict=True):
            results[index] = _item(index, outcome)
        final = [r for r in results if r is not None]
        counts = {s: sum(1 for r in final if r["status"] == s) for s in ("stored", "duplicate", "refused")}
        return {"stored": counts["stored"], "duplicates": counts["duplicate"], "refused": counts["refused"],
                "results": final}  # fmt: skip

    return app
