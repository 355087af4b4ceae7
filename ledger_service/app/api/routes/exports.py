"""Exports for warehouses: `GET /v1/exports/{dataset}?format=csv|parquet`, streamed in constant
memory (readings with their proof columns, batches, custody periods, the SQL mirror's tables).
The mirror's height when the export started is in the `X-Indexed-Block` header."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from ledger_service.app.api.deps import ServicesDep, mirror_block, only_params
from ledger_service.app.api.problems import write_errors
from ledger_service.app.api.routes.reading_queries import (
    BatchFilter,
    DeviceFilter,
    From,
    MetricFilter,
    StatusFilter,
    To,
)
from ledger_service.core.errors import InvalidFilter
from ledger_service.services import export
from ledger_service.services.reading_query import ReadingFilter

router = APIRouter(prefix="/v1/exports", tags=["exports"])

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
READING_FILTERS = {"device", "metric", "from", "to", "batch", "status"}


@router.get(
    "/{dataset}",
    responses={
        200: {"description": "The dataset as a file", "content": {t: {} for t in MEDIA_TYPES.values()}},
        **write_errors({404: "No such dataset", 422: "Unknown filter or format, or a filter on a dataset without it"}),
    },
    response_class=StreamingResponse,
)
def export_dataset(
    request: Request,
    services: ServicesDep,
    dataset: Annotated[
        str, Path(pattern=r"^[a-z_]{1,64}$", description="readings, batches, custody or a mirror table")
    ],
    fmt: Annotated[Literal["csv", "parquet"], Query(alias="format")] = "csv",
    device: DeviceFilter = None,
    metric: MetricFilter = None,
    start: From = None,
    end: To = None,
    batch: BatchFilter = None,
    status: StatusFilter = None,
) -> StreamingResponse:
    """The dataset as CSV or Parquet; readings may be filtered as in `GET /v1/readings`."""
    only_params(request, {"format"} | READING_FILTERS)
    wanted = None
    if dataset == "readings":
        wanted = ReadingFilter(device, metric, start, end, batch, status)
    elif READING_FILTERS & set(request.query_params):
        raise InvalidFilter(f"{dataset} takes no filter; only readings do")
    data = export.dataset(dataset, wanted)
    headers = {
        "content-disposition": f'attachment; filename="{dataset}.{fmt}"',
        "x-indexed-block": str(mirror_block(services)),
    }
    return StreamingResponse(export.stream(services.engine, data, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)
