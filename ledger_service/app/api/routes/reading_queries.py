"""The readings query: `GET /v1/readings` with filters, the same per device and per batch, and
aggregates per interval. Pages in (timestamp, id) order behind opaque cursors; with `proofs=true`
each anchored reading carries its proof bundle, so one request proves a whole page.

A query parameter that is not a filter of the endpoint, a reversed time range, a page size over
the limit and a cursor this service did not hand out are refused with 422 problem+json."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from ledger_service.app.api.deps import ServicesDep, json_answer, mirror_block, only_params
from ledger_service.app.api.problems import write_errors
from ledger_service.app.api.query_schemas import AggregateList, ReadingList
from ledger_service.core.errors import NotFound
from ledger_service.services.container import Services
from ledger_service.services.proofs import ANCHORED
from ledger_service.services.reading_query import MAX_LIMIT, STATUSES, ReadingFilter, ReadingPage

router = APIRouter(prefix="/v1", tags=["readings"])

_HEX32 = r"^0x[0-9a-fA-F]{64}$"
_ERRORS = write_errors({404: "No such device or batch", 422: "Unknown filter, reversed range, bad page size or cursor"})
DeviceFilter = Annotated[str | None, Query(pattern=_HEX32, description="Only this device's readings")]
MetricFilter = Annotated[str | None, Query(min_length=1, max_length=64, description="Only this metric")]
From = Annotated[int | None, Query(alias="from", ge=0, description="Readings taken at or after (unix s)")]
To = Annotated[int | None, Query(alias="to", ge=0, description="Readings taken at or before (unix s)")]
BatchFilter = Annotated[int | None, Query(ge=1, description="Only the readings sealed into this batch")]
StatusFilter = Annotated[str | None, Query(pattern=f"^({'|'.join(STATUSES)})$", description="Where on the way")]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Readings per page, at most {MAX_LIMIT}")]
Proofs = Annotated[bool, Query(description="Add each anchored reading's proof bundle")]
PAGE_PARAMS = {"metric", "from", "to", "status", "cursor", "limit", "proofs"}


def _batch_ref(batch: Any) -> dict[str, Any] | None:
    if batch is None:
        return None
    return {
        "id": batch.id, "root": batch.root, "status": batch.status.value, "chain_batch_id": batch.chain_batch_id,
        "transaction_hash": batch.transaction_hash, "block_number": batch.block_number,
    }  # fmt: skip


def _row(reading: Any, batch: Any, proof: dict[str, Any] | None) -> dict[str, Any]:
    """A reading row (and its batch's columns) as the query answers it."""
    return {
        "id": reading.id, "device_id": reading.device_id, "key_index": reading.key_index,
        "sequence": reading.sequence, "timestamp": reading.timestamp, "metric": reading.metric,
        "value": reading.value, "scale": reading.scale, "unit": reading.unit, "payload_hash": reading.payload_hash,
        "signature": reading.signature, "signer": reading.signer, "received_at": reading.received_at,
        "status": batch.status.value if batch is not None else "pending", "batch": _batch_ref(batch),
        "proof": proof,
        "links": {"self": f"/v1/readings/{reading.id}", "proof": f"/v1/readings/{reading.id}/proof"},
    }  # fmt: skip


def _answer(services: Services, page: ReadingPage, proofs: bool) -> dict[str, Any]:
    bundles: dict[str, dict[str, Any]] = {}
    if proofs:
        anchored = [(r, b) for r, b in page.rows if b is not None and b.status in ANCHORED]
        bundles = {r.id: bundle for (r, _), bundle in zip(anchored, services.proofs.bundles(anchored), strict=True)}
    return {
        "data": [_row(reading, batch, bundles.get(reading.id)) for reading, batch in page.rows],
        "next_cursor": page.next_cursor,
        "indexed_block": page.indexed_block,
    }


@router.get("/readings", response_model=ReadingList, responses=_ERRORS)
def list_readings(
    request: Request,
    services: ServicesDep,
    device: DeviceFilter = None,
    metric: MetricFilter = None,
    start: From = None,
    end: To = None,
    batch: BatchFilter = None,
    status: StatusFilter = None,
    cursor: Cursor = None,
    limit: Limit = 100,
    proofs: Proofs = False,
) -> Response:
    """Readings by device, metric, time range, batch and status, in (timestamp, id) order."""
    only_params(request, PAGE_PARAMS | {"device", "batch"})
    wanted = ReadingFilter(device, metric, start, end, batch, status)
    return json_answer(_answer(services, services.queries.page(wanted, cursor, limit), proofs))


@router.get("/readings/aggregate", response_model=AggregateList, responses=_ERRORS)
def aggregate_readings(
    request: Request,
    services: ServicesDep,
    interval: Annotated[int, Query(ge=1, le=366 * 86_400, description="Seconds per interval")],
    start: Annotated[int, Query(alias="from", ge=0, description="The first interval starts here (unix s)")],
    end: Annotated[int, Query(alias="to", ge=0, description="Readings taken at or before (unix s)")],
    device: DeviceFilter = None,
    metric: MetricFilter = None,
    batch: BatchFilter = None,
    status: StatusFilter = None,
) -> Response:
    """Count, min, max and mean per interval, device and metric (and unit and scale, never mixed)."""
    only_params(request, {"interval", "from", "to", "device", "metric", "batch", "status"})
    wanted = ReadingFilter(device, metric, start, end, batch, status)
    return json_answer({"data": services.queries.aggregate(wanted, interval), "indexed_block": mirror_block(services)})


@router.get("/devices/{device_id}/readings", response_model=ReadingList, responses=_ERRORS)
def device_readings(
    request: Request,
    services: ServicesDep,
    device_id: Annotated[str, Path(pattern=_HEX32, description="The device's 32-byte id")],
    metric: MetricFilter = None,
    start: From = None,
    end: To = None,
    status: StatusFilter = None,
    cursor: Cursor = None,
    limit: Limit = 100,
    proofs: Proofs = False,
) -> Response:
    """A device's readings, in (timestamp, id) order; 404 for a device the registry does not know."""
    only_params(request, PAGE_PARAMS)
    if services.registry.get(bytes.fromhex(device_id[2:]), wait=False) is None:
        raise NotFound(f"no device {device_id}")
    wanted = ReadingFilter(device_id, metric, start, end, None, status)
    return json_answer(_answer(services, services.queries.page(wanted, cursor, limit), proofs))


@router.get("/batches/{batch_id}/readings", response_model=ReadingList, responses=_ERRORS)
def batch_readings(
    request: Request,
    services: ServicesDep,
    batch_id: Annotated[int, Path(ge=1)],
    device: DeviceFilter = None,
    metric: MetricFilter = None,
    start: From = None,
    end: To = None,
    cursor: Cursor = None,
    limit: Limit = 100,
    proofs: Proofs = False,
) -> Response:
    """The readings sealed into a batch, in (timestamp, id) order; 404 for no such batch."""
    only_params(request, PAGE_PARAMS - {"status"} | {"device"})
    if services.queries.batch(batch_id) is None:
        raise NotFound(f"no batch {batch_id}")
    wanted = ReadingFilter(device, metric, start, end, batch_id, None)
    return json_answer(_answer(services, services.queries.page(wanted, cursor, limit), proofs))
