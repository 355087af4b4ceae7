"""Readings: ingest, status and proof."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Response, status

from ledger_service.api.deps import ServicesDep
from ledger_service.api.problems import MEDIA_TYPE
from ledger_service.api.schemas import ReadingAccepted, ReadingIn, ReadingStatus
from ledger_service.proofs import stored_to_reading

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


@router.get("/{reading_id}", response_model=ReadingStatus, responses=_ERRORS)
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
    )


@router.get("/{reading_id}/proof", responses=_ERRORS)
def get_proof(services: ServicesDep, reading_id: str = ReadingId) -> dict[str, Any]:
    """The reading's proof bundle: the signed reading, its leaf, the Merkle path and the anchor."""
    return services.proofs.bundle(reading_id)
