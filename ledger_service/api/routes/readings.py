"""Readings: ingest, status and proof."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from ledger_service.api.access import read_access
from ledger_service.api.deps import ServicesDep, mirror_block
from ledger_service.api.problems import MEDIA_TYPE
from ledger_service.api.schemas import BatchAccepted, ReadingAccepted, ReadingIn, ReadingStatus
from ledger_service.errors import PayloadTooLarge
from ledger_service.proofs import stored_to_reading
from ledger_service.services import Services

router = APIRouter(prefix="/v1/readings", tags=["readings"])

ReadingId = Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="The reading's id (its leaf hash)")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {MEDIA_TYPE: {}}}
    for code, text in {
        404: "No such reading",
        409: "Conflict (sequence already used, or not anchored yet)",
        422: "Invalid reading, signature or device",
    }.items()
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReadingAccepted,
    responses={200: {"description": "Already stored: nothing new was stored"}, **_ERRORS},
)
def post_reading(body: ReadingIn, services: ServicesDep, response: Response) -> ReadingAccepted:
    """Verifies a signed reading against the device registry and stores it durably.

    The answer comes only after the reading is committed. Posting the same reading again answers
    200 with the same id and stores nothing.
    """
    result = services.ingestor.ingest(body.to_reading(), body.signature_bytes())
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
    return await run_in_threadpool(_ingest_batch, services, items)


def _item(index: int, status: str, reading_id: str | None, code: str | None, detail: str | None) -> dict[str, Any]:
    return {"index": index, "status": status, "id": reading_id, "code": code, "detail": detail}


def _ingest_batch(services: Services, items: list[Any]) -> Response:
    """Validates, verifies and stores; the answer is built as plain JSON (documented by
    `BatchAccepted`), since thousands of results need no second validation on the way out."""
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
    outcomes = services.ingestor.ingest_many([(r.to_reading(), r.signature_bytes()) for _, r in parsed])
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
    return Response(orjson.dumps(answer), media_type="application/json")


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
def get_proof(services: ServicesDep, reading_id: str = ReadingId) -> dict[str, Any]:
    """The reading's proof bundle: the signed reading, its leaf, the Merkle path and the anchor."""
    return services.proofs.bundle(reading_id)
