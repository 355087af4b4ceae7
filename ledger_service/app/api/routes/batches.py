"""Batches: where readings are on their way to the chain, and the lag."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import func
from sqlmodel import Session, col, select

from ledger_service.app.api.deps import ServicesDep, mirror_block
from ledger_service.app.api.problems import write_errors
from ledger_service.app.api.read_schemas import BatchLag, BatchPage, BatchView
from ledger_service.core.errors import NotFound
from ledger_service.core.models import Batch, BatchStatus, StoredReading
from ledger_service.services.container import Services

router = APIRouter(prefix="/v1/batches", tags=["batches"])


def batch_view(batch: Batch) -> dict[str, Any]:
    """A batch as the API shows it."""
    return {
        "id": batch.id,
        "status": batch.status.value,
        "root": batch.root,
        "content_id": batch.content_id,
        "reading_count": batch.reading_count,
        "first_timestamp": batch.first_timestamp,
        "last_timestamp": batch.last_timestamp,
        "sealed_at": batch.sealed_at,
        "anchored_at": batch.anchored_at,
        "confirmed_at": batch.confirmed_at,
        "final_at": batch.final_at,
        "chain_batch_id": batch.chain_batch_id,
        "transaction_hash": batch.transaction_hash,
        "block_number": batch.block_number,
        "block_hash": batch.block_hash,
        "attempts": batch.attempts,
        "last_error": batch.last_error,
    }


def open_batch(services: Services) -> dict[str, Any]:
    """The readings not yet sealed into a batch, as a pseudo-batch with status `open`."""
    with Session(services.engine) as session:
        count, oldest = session.exec(
            select(func.count(), func.min(StoredReading.received_at)).where(col(StoredReading.batch_id).is_(None))
        ).one()
    return {
        "id": None,
        "status": "open",
        "reading_count": int(count),
        "oldest_received_at": oldest,
        "age_seconds": round(time.time() - float(oldest), 3) if oldest is not None else None,
    }


def lag_report(services: Services) -> dict[str, Any]:
    """Pending work, the last anchored batch and how far behind anchoring is."""
    with Session(services.engine) as session:
        last = session.exec(
            select(Batch)
            .where(col(Batch.status).in_([BatchStatus.ANCHORED, BatchStatus.CONFIRMED, BatchStatus.FINAL]))
            .order_by(col(Batch.id).desc())
            .limit(1)
        ).first()
        sealed = session.exec(select(func.count()).select_from(Batch).where(Batch.status == BatchStatus.SEALED)).one()
    pending = open_batch(services)
    return {
        "open": pending,
        "sealed_batches": int(sealed),
        "last_anchored": batch_view(last) if last else None,
        "lag_seconds": pending["age_seconds"],
        "counts": services.proofs.counts(),
    }


@router.get("", responses=write_errors({422: "Malformed filter or paging"}), response_model=BatchPage)
def list_batches(
    services: ServicesDep,
    status: Annotated[str | None, Query(pattern="^(open|sealed|anchored|confirmed|final)$")] = None,
    order: Literal["desc", "asc"] = "desc",
    cursor: Annotated[int | None, Query(ge=0, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, deprecated=True, description="Use `cursor`")] = 0,
) -> dict[str, Any]:
    """Batches by id (newest first unless `order=asc`), filtered by status; cursor pagination.
    `status=open` gives the readings not yet sealed."""
    if status == "open":
        block = mirror_block(services)
        return {"data": [open_batch(services)], "count": 1, "next_cursor": None, "indexed_block": block}
    with Session(services.engine) as session:
        query = select(Batch)
        counter = select(func.count()).select_from(Batch)
        if status:
            query = query.where(Batch.status == BatchStatus(status))
            counter = counter.where(Batch.status == BatchStatus(status))
        if cursor is not None:
            query = query.where(col(Batch.id) < cursor if order == "desc" else col(Batch.id) > cursor)
        ordering = col(Batch.id).desc() if order == "desc" else col(Batch.id).asc()
        rows = session.exec(query.order_by(ordering).offset(offset).limit(limit + 1)).all()
        total = session.exec(counter).one()
    page = rows[:limit]
    next_cursor = page[-1].id if len(rows) > limit else None
    return {
        "data": [batch_view(b) for b in page],
        "count": int(total),
        "next_cursor": next_cursor,
        "indexed_block": mirror_block(services),
    }


@router.get("/lag", responses=write_errors({422: "Malformed request"}), response_model=BatchLag)
def lag(services: ServicesDep) -> dict[str, Any]:
    """Pending work, the last anchored batch and the age of the oldest unsealed reading."""
    return {**lag_report(services), "indexed_block": mirror_block(services)}


@router.get(
    "/{batch_id}", responses=write_errors({404: "No such batch", 422: "Malformed batch id"}), response_model=BatchView
)
def get_batch(services: ServicesDep, batch_id: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
    """One batch with its anchor."""
    with Session(services.engine) as session:
        batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id}")
    return {**batch_view(batch), "indexed_block": mirror_block(services)}
