"""Proofs over several readings at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ledger_service.api.deps import ServicesDep

router = APIRouter(prefix="/v1/proofs", tags=["proofs"])


class MultiProofIn(BaseModel):
    """Readings of one batch to prove together."""

    model_config = ConfigDict(extra="forbid")

    reading_ids: Annotated[
        list[Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]], Field(min_length=1, max_length=1000)
    ]


@router.post("/multi")
def multi_proof(body: MultiProofIn, services: ServicesDep) -> dict[str, Any]:
    """One OpenZeppelin multiproof for readings of the same batch (verify with `DataNotary.verifyMulti`)."""
    return services.proofs.multi(list(dict.fromkeys(i.lower() for i in body.reading_ids)))
