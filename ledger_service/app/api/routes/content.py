"""Batch payloads by CID, as the content store keeps them: a verifier audits a batch from its
payload (`provenance verify --completeness --payloads`), and checks the bytes against the CID
itself, so the answer needs no trust in the service."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.problems import write_errors
from ledger_service.core.errors import NotFound
from ledger_service.services.content import ContentError

router = APIRouter(prefix="/v1/content", tags=["batches"])
CidPath = Path(pattern=r"^bafkrei[a-z2-7]{52}$", description="A batch payload's CIDv1 (raw, sha2-256, base32)")


@router.get("/{cid}", responses=write_errors({404: "No content with that CID here (not-found)"}))
def content(services: ServicesDep, cid: str = CidPath) -> Response:
    """The bytes stored under `cid` (a batch payload, canonical JSON)."""
    try:
        data = services.content_store().get(cid)
    except ContentError as exc:
        raise NotFound(f"no content {cid} here") from exc
    return Response(data, media_type="application/json")
