"""The readings query: which readings a device sent between two times, in which batch, how far on
their way to the chain; pages in (timestamp, id) order behind opaque cursors; and aggregates per
interval for charts and analytics.

Every filter is checked before anything is read: a time range that ends before it starts, or an
aggregate of more buckets than `MAX_BUCKETS`, is an `InvalidFilter`; a cursor this service did not
hand out is an `InvalidCursor`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import operator
import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Numeric, Row, Select, Table, and_, bindparam, cast, func, or_, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from ledger_service.core.errors import InvalidCursor, InvalidFilter
from ledger_service.core.models import Batch, BatchStatus, StoredReading

STATUSES = ("pending", "sealed", "anchored", "confirmed", "final")
MAX_LIMIT = 1000
MAX_BUCKETS = 10_000
_CURSOR = re.compile(r"^(\d{1,20}):(0x[0-9a-f]{64})$")


@dataclass(frozen=True)
class ReadingFilter:
    """What a query asks for; every part optional. `start` and `end` bound the readings'
    timestamps (unix seconds, both inclusive)."""

    device: str | None = None
    metric: str | None = None
    start: int | None = None
    end: int | None = None
    batch: int | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise InvalidFilter(f"the time range ends ({self.end}) before it starts ({self.start})")
        if self.status is not None and self.status not in STATUSES:
            raise InvalidFilter(f"unknown status {self.status!r}: use one of {', '.join(STATUSES)}")

    def conditions(self) -> list[Any]:
        """The WHERE conditions of this filter (on `reading`, and on `batch` for a status), with
        the values inlined as bound literals."""
        return _conditions(self.shape(), self.values())

    def shape(self) -> tuple[str, ...]:
        """Which filters are set: the statements of one shape differ only in their parameters."""
        names = [name for name in ("device", "metric", "start", "end", "batch") if getattr(self, name) is not None]
        if self.status is not None:
            names.append("pending" if self.status == "pending" else "status")
        return tuple(names)

    def values(self) -> dict[str, Any]:
        """The bound parameters of this filter's conditions."""
        return {
            "device": None if self.device is None else self.device.lower(), "metric": self.metric,
            "start": self.start, "end": self.end, "batch": self.batch,
            "status": None if self.status in (None, "pending") else BatchStatus(str(self.status)),
        }  # fmt: skip


def _conditions(shape: tuple[str, ...], values: dict[str, Any] | None = None) -> list[Any]:
    """The WHERE conditions of a filter shape, over bound parameters named as in `values()`:
    given `values`, the parameters carry them; without, they are filled at execution."""

    def param(name: str) -> Any:
        return bindparam(name) if values is None else bindparam(name, values[name])

    compare = {
        "device": (col(StoredReading.device_id), operator.eq), "metric": (col(StoredReading.metric), operator.eq),
        "start": (col(StoredReading.timestamp), operator.ge), "end": (col(StoredReading.timestamp), operator.le),
        "batch": (col(StoredReading.batch_id), operator.eq), "status": (col(Batch.status), operator.eq),
    }  # fmt: skip
    found: list[Any] = []
    for name in shape:
        if name == "pending":
            found.append(col(StoredReading.batch_id).is_(None))
        else:
            target, op = compare[name]
            found.append(op(target, param(name)))
    return found


def encode_cursor(timestamp: int, reading_id: str) -> str:
    """The cursor of the page that follows the reading (`timestamp`, `reading_id`)."""
    return base64.urlsafe_b64encode(f"{timestamp}:{reading_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The (timestamp, id) a cursor continues after; `InvalidCursor` for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("the cursor is not one this service handed out") from exc
    match = _CURSOR.match(text)
    if match is None:
        raise InvalidCursor("the cursor is not one this service handed out")
    return int(match.group(1)), match.group(2)


@dataclass(frozen=True)
class ReadingPage:
    """One page: each reading (a row of `reading`) with its batch (None while pending), and the
    next page's cursor."""

    rows: list[tuple[Row[Any], SimpleNamespace | None]]
    next_cursor: str | None
    indexed_block: int | None = None


_READING: Table = StoredReading.__table__  # type: ignore[attr-defined]
_BATCH: Table = Batch.__table__  # type: ignore[attr-defined]
_PREFIX = "batch__"


def _batch_of(row: Row[Any]) -> SimpleNamespace | None:
    """The batch columns of a page row, as an object with the batch's attribute names."""
    if row.batch_id is None:
        return None
    values = row._mapping
    return SimpleNamespace(**{c.name: values[_PREFIX + c.name] for c in _BATCH.c})


_HEAD = text("SELECT head_number FROM index_state WHERE id = 'main'")


@functools.cache
def _page_statement(shape: tuple[str, ...], after: bool) -> Select[Any]:
    """The page query of a filter shape, built once: building and keying the statement each time
    cost more than running it."""
    reading, batch = _READING, _BATCH
    conditions = _conditions(shape)
    if after:
        timestamp = reading.c.timestamp
        later = or_(timestamp > bindparam("after"), reading.c.id > bindparam("after_id"))
        conditions.append(and_(timestamp >= bindparam("after"), later))
    return (
        select(*reading.c, *(c.label(_PREFIX + c.name) for c in batch.c))
        .select_from(reading.outerjoin(batch, reading.c.batch_id == batch.c.id))
        .where(*conditions)
        .order_by(reading.c.timestamp, reading.c.id)
        .limit(bindparam("limit"))
    )


class ReadingQueries:
    """Reads readings by filter, a page at a time, and aggregates them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(self, wanted: ReadingFilter, cursor: str | None = None, limit: int = 100) -> ReadingPage:
        """Up to `limit` readings in (timestamp, id) order, after `cursor`."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidFilter(f"limit must be between 1 and {MAX_LIMIT}")
        values = {**wanted.values(), "limit": limit + 1}
        if cursor is not None:
            values["after"], values["after_id"] = decode_cursor(cursor)
        query = _page_statement(wanted.shape(), cursor is not None)
        with self.engine.connect() as conn:  # plain rows: an ORM object per reading cost more than the query
            rows = [(row, _batch_of(row)) for row in conn.execute(query, values).all()]
            block = conn.execute(_HEAD).scalar_one_or_none()
        page = rows[:limit]
        more = len(rows) > limit
        return ReadingPage(
            page,
            encode_cursor(page[-1][0].timestamp, page[-1][0].id) if more else None,
            None if block is None else int(block),
        )

    def batch(self, batch_id: int) -> Batch | None:
        """The batch, or None."""
        with Session(self.engine) as session:
            return session.get(Batch, batch_id)

    def aggregate(self, wanted: ReadingFilter, interval: int) -> list[dict[str, Any]]:
        """Count, min, max and mean of the values per `interval` seconds from `wanted.start`, per
        device, metric, unit and scale (values of different units or scales are never mixed).
        Values are the readings' fixed-point integers: the quantity is value / 10**scale."""
        if wanted.start is None or wanted.end is None:
            raise InvalidFilter("an aggregate needs a time range: from and to")
        if interval < 1:
            raise InvalidFilter("the interval is a whole number of seconds, at least 1")
        buckets = (wanted.end - wanted.start) // interval + 1
        if buckets > MAX_BUCKETS:
            raise InvalidFilter(f"{buckets} intervals asked for; at most {MAX_BUCKETS} fit an answer")
        reading = StoredReading.__table__  # type: ignore[attr-defined]
        bucket = ((reading.c.timestamp - wanted.start) // interval).label("bucket")
        value = cast(reading.c.value, Numeric)
        query = (
            select(
                reading.c.device_id,
                reading.c.metric,
                reading.c.unit,
                reading.c.scale,
                bucket,
                func.count().label("n"),
                func.min(value).label("min"),
                func.max(value).label("max"),
                func.avg(value).label("mean"),
            )  # fmt: skip
            .select_from(reading.outerjoin(Batch.__table__, reading.c.batch_id == Batch.__table__.c.id))  # type: ignore[attr-defined]
            .where(*wanted.conditions())
            .group_by(reading.c.device_id, reading.c.metric, reading.c.unit, reading.c.scale, bucket)
            .order_by(reading.c.device_id, reading.c.metric, bucket)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "device_id": row.device_id,
                "metric": row.metric,
                "unit": row.unit,
                "scale": row.scale,
                "start": wanted.start + int(row.bucket) * interval,
                "interval": interval,
                "count": int(row.n),
                "min": _integer(row.min),
                "max": _integer(row.max),
                "mean": float(row.mean),
            }  # fmt: skip
            for row in rows
        ]


def _integer(value: Any) -> str:
    """A fixed-point value as a decimal string of its integer (SQL hands back int, Decimal or float)."""
    return str(int(value))
