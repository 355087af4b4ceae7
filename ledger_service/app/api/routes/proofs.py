"""Proofs over several readings at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.problems import write_errors

router = APIRouter(prefix="/v1/proofs", tags=["proofs"])


class MultiProofIn(BaseModel):
    """Readings of one batch to prove together."""

    model_config = ConfigDict(extra="forbid")

    reading_ids: Annotated[
        list[Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]], Field(min_length=1, max_length=1000)
    ]


@router.post(
    "/multi",
    responses=write_errors(
        {
            404: "A reading is unknown",
            409: "A reading is not anchored yet, or the readings are of different batches",
            422: "Malformed ids",
        }
    ),
)
def multi_proof(body: MultiProofIn, services: ServicesDep) -> dict[str, Any]:
    """One OpenZeppelin multiproof for readings of the same batch (verify with `DataNotary.verifyMulti`)."""
    return services.proofs.multi(list(dict.fromkeys(i.lower() for i in body.reading_ids)))
