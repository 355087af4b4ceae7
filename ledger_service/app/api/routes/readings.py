"""Readings: ingest, status and proof.

Ingest is open to anyone (a reading is signed by its device), so it is built to survive floods:
no request thread sleeps (waiting for the registry's next sync slot happens on the event loop),
each client address has a budget of bad signatures (`PROVENANCE_CLIENT_BAD_SIGNATURE_RATE`,
past it: 429 `bad-signature-budget-spent` before any check), and a batch stops being checked
once more than `PROVENANCE_MAX_BAD_SIGNATURES` of its signatures fail (422
`too-many-bad-signatures`, nothing stored)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi import APIRouter, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from ledger_service.app.api.access import client_address, read_access
from ledger_service.app.api.deps import ServicesDep, json_answer, mirror_block
from ledger_service.app.api.problems import MEDIA_TYPE
from ledger_service.app.api.schemas import BatchAccepted, ReadingAccepted, ReadingIn, ReadingStatus
from ledger_service.core.errors import (
    BadSignatureBudgetSpent,
    InvalidSignature,
    KeyRotated,
    PayloadTooLarge,
    TooManyBadSignatures,
)
from ledger_service.core.ratelimit import RateLimiter
from ledger_service.services.container import Services
from ledger_service.services.proofs import stored_to_reading

router = APIRouter(prefix="/v1/readings", tags=["readings"])

ReadingId = Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="The reading's id (its leaf hash)")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {MEDIA_TYPE: {}}}
    for code, text in {
        404: "No such reading",
        409: "Conflict (sequence already used, or not anchored yet)",
        422: "Invalid reading, signature or device; too many bad signatures in a batch",
        429: "This device, or this client address, sends too fast or too many bad signatures",
    }.items()
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReadingAccepted,
    responses={200: {"description": "Already stored: nothing new was stored"}, **_ERRORS},
)
async def post_reading(body: ReadingIn, request: Request, services: ServicesDep, response: Response) -> ReadingAccepted:
    """Verifies a signed reading against the device registry and stores it durably.

    The answer comes only after the reading is committed. Posting the same reading again answers
    200 with the same id and stores nothing.
    """
    budget, client = _bad_signatures(request), client_address(request.scope)
    _check_budget(budget, client, services)
    reading = body.to_reading()
    await _registry_covers(services, [reading.device_id])
    try:
        result = await run_in_threadpool(services.ingestor.ingest, reading, body.signature_bytes())
    except (InvalidSignature, KeyRotated):
        budget.spend(client, 1)
        raise
    if not result.created:
        response.status_code = status.HTTP_200_OK
    reading_id = result.reading.id
    response.headers["Location"] = f"/v1/readings/{reading_id}"
    return ReadingAccepted(
        id=reading_id,
        digest=result.reading.digest,
        duplicate=not result.created,
        status="pending" if result.reading.batch_id is None else "batched",
        links={"self": f"/v1/readings/{reading_id}", "proof": f"/v1/readings/{reading_id}/proof"},
    )


_READINGS = TypeAdapter(list[ReadingIn])
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["readings"],
                    "properties": {"readings": {"type": "array", "items": ReadingIn.model_json_schema()}},
                }
            }
        },
    }
}


@router.post(
    "/batch",
    response_model=None,
    openapi_extra=_BATCH_BODY,
    responses={
        200: {"model": BatchAccepted, "description": "One result per reading, in request order"},
        413: {"description": "Too many readings or too large a body", "content": {MEDIA_TYPE: {}}},
        **_ERRORS,
    },
)
async def post_batch(request: Request, services: ServicesDep) -> Response:
    """Verifies and stores up to `PROVENANCE_MAX_BATCH_READINGS` signed readings at once.

    Each reading gets its own result (stored, duplicate, or refused with the same codes as a single
    POST); the stored ones are committed together before the answer.
    """
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"invalid JSON: {exc}", "type": "json_invalid"}]
        ) from exc
    if not isinstance(body, dict) or not isinstance(body.get("readings"), list):
        raise RequestValidationError(
            [{"loc": ("body", "readings"), "msg": "expected an object with a readings array", "type": "type_error"}]
        )
    items = body["readings"]
    limit = services.settings.max_batch_readings
    if len(items) > limit:
        raise PayloadTooLarge(f"{len(items)} readings in one request; at most {limit}", max_readings=limit)
    budget, client = _bad_signatures(request), client_address(request.scope)
    allowed = min(services.settings.max_bad_signatures, _check_budget(budget, client, services))
    device_ids = [
        bytes.fromhex(i["device_id"][2:]) for i in items if isinstance(i, dict) and _is_id(i.get("device_id"))
    ]
    await _registry_covers(services, device_ids)
    try:
        answer, bad = await run_in_threadpool(_ingest_batch, services, items, allowed)
    except TooManyBadSignatures:
        budget.spend(client, allowed + 1)
        raise
    budget.spend(client, bad)
    return answer


def _is_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 66 and value.startswith("0x")


def _bad_signatures(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.bad_signatures
    return limiter


def _check_budget(budget: RateLimiter, client: str, services: Services) -> int:
    """The bad signatures `client` may still send; refuses it (429) when it has none left."""
    left = budget.available(client)
    if left < 1:
        wait = (1 - left) / budget.rate
        raise BadSignatureBudgetSpent(
            f"this client address sent more bad signatures than allowed; its readings are checked again "
            f"in {math.ceil(wait)}s",
            retry_after=round(wait, 1),
        )
    return services.settings.max_bad_signatures if math.isinf(left) else int(left)


async def _registry_covers(services: Services, device_ids: Iterable[bytes]) -> None:
    """Makes the registry cache cover devices registered before this request. Syncs run at most
    once per `min_refresh_interval`; waiting for the next slot happens here, on the event loop,
    so that no request thread sleeps."""
    registry, wanted = services.registry, set(device_ids)
    if registry.knows(wanted) or await run_in_threadpool(registry.refresh, False, False):
        return
    await asyncio.sleep(registry.min_refresh_interval)
    if not registry.knows(wanted):  # a sync since then covers this request; else take the free slot
        await run_in_threadpool(registry.refresh, False, False)


def _item(index: int, status: str, reading_id: str | None, code: str | None, detail: str | None) -> dict[str, Any]:
    return {"index": index, "status": status, "id": reading_id, "code": code, "detail": detail}


def _ingest_batch(services: Services, items: list[Any], max_bad: int) -> tuple[Response, int]:
    """Validates, verifies and stores; the answer is built as plain JSON (documented by
    `BatchAccepted`), since thousands of results need no second validation on the way out.
    Returns it with the number of bad signatures."""
    parsed: list[tuple[int, ReadingIn]] = []
    results: list[dict[str, Any] | None] = [None] * len(items)
    try:  # the whole list at once when it is valid (the usual case), else reading by reading
        parsed = list(enumerate(_READINGS.validate_python(items)))
    except ValidationError:
        for index, item in enumerate(items):
            try:
                parsed.append((index, ReadingIn.model_validate(item)))
            except ValidationError as exc:
                detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
                results[index] = _item(index, "refused", None, "validation-error", detail)
    outcomes = services.ingestor.ingest_many([(r.to_reading(), r.signature_bytes()) for _, r in parsed], max_bad)
    bad = sum(1 for outcome in outcomes if isinstance(outcome.error, InvalidSignature | KeyRotated))
    for (index, _), outcome in zip(parsed, outcomes, strict=True):
        error = outcome.error
        results[index] = _item(
            index, outcome.status, outcome.reading_id, error.code if error else None, error.detail if error else None
        )
    final = [r for r in results if r is not None]
    counts = {"stored": 0, "duplicate": 0, "refused": 0}
    for r in final:
        counts[r["status"]] += 1
    answer = {
        "stored": counts["stored"],
        "duplicates": counts["duplicate"],
        "refused": counts["refused"],
        "results": final,
    }
    return Response(orjson.dumps(answer), media_type="application/json"), bad


@router.get("/{reading_id}", response_model=ReadingStatus, responses=_ERRORS, dependencies=[read_access])
def get_reading(services: ServicesDep, reading_id: str = ReadingId) -> ReadingStatus:
    """A stored reading and the state of its batch."""
    row, batch = services.proofs.status(reading_id)
    batch_info = None
    state = "pending"
    if batch is not None:
        state = batch.status.value
        batch_info = {
            "id": batch.id,
            "root": batch.root,
            "status": batch.status.value,
            "reading_count": batch.reading_count,
            "chain_batch_id": batch.chain_batch_id,
            "transaction_hash": batch.transaction_hash,
            "block_number": batch.block_number,
        }
    return ReadingStatus(
        id=row.id,
        status=state,
        reading={**stored_to_reading(row).message(), "signature": row.signature},
        signer=row.signer,
        received_at=row.received_at,
        batch=batch_info,
        links={"self": f"/v1/readings/{row.id}", "proof": f"/v1/readings/{row.id}/proof"},
        indexed_block=mirror_block(services),
    )


@router.get("/{reading_id}/proof", responses=_ERRORS, dependencies=[read_access])
def get_proof(services: ServicesDep, reading_id: str = ReadingId) -> Response:
    """The reading's proof bundle: the signed reading, its leaf, the Merkle path and the anchor."""
    return json_answer(services.proofs.bundle(reading_id))
