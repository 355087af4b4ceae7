"""A device's completeness proof (`ledger_service.services.completeness`): its readings in every
batch of the log from a time on, with proof that the batches are the log's and that the device is
present in, or absent from, each; checked by `provenance verify --completeness`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ledger_service.app.api.deps import ServicesDep, json_answer
from ledger_service.app.api.problems import write_errors
from ledger_service.app.api.routes.devices import DeviceIdPath
from ledger_service.services.completeness import MAX_BATCHES, CompletenessProofs

router = APIRouter(prefix="/v1/devices", tags=["devices"])
_ERRORS = write_errors({422: f"More than {MAX_BATCHES} batches, or batches without a device index (invalid-filter)"})


@router.get("/{device_id}/completeness", responses=_ERRORS)
def completeness(
    services: ServicesDep,
    device_id: str = DeviceIdPath,
    since: Annotated[int, Query(alias="from", ge=0, le=2**62, description="Unix seconds")] = 0,
    leaf: Annotated[int | None, Query(ge=0, le=2**62, description="Start at this log leaf instead")] = None,
) -> Response:
    """The device's readings in every log batch from the first whose last reading is at or after
    `from` (or from log leaf `leaf`) to the latest signed checkpoint, each batch proven to hold the
    device (its entries and readings) or not (its neighbours in the batch's sorted device index)."""
    proofs = CompletenessProofs(services.engine, services.transparency_log)
    return json_answer(proofs.prove(device_id.lower(), since, leaf))
