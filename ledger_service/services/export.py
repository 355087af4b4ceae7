"""Exports for warehouses: readings (with their proof columns), batches, custody periods and the
SQL mirror's tables, as CSV or Parquet, streamed in constant memory.

Rows are read through a server-side cursor (`stream_results`) `CHUNK_ROWS` at a time and written
as they come: CSV line by line, Parquet one row group per chunk. Hashes, addresses and other
binary values are written as 0x-hex, as the API writes them; numbers too large for 64 bits
(uint256 amounts, reading values) stay decimal strings. Only the datasets named here are
exportable: the service's own tables of secrets (API keys, parties) never are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Integer,
    Select,
    Table,
    func,
    select,
)
from sqlalchemy.engine import Engine

from ledger_service.core.errors import NotFound
from ledger_service.core.mirror_models import BLOCK_TABLES, DERIVED_TABLES, table_of
from ledger_service.core.models import Batch, StoredReading
from ledger_service.services.reading_query import ReadingFilter

CHUNK_ROWS = 10_000
SCAN_CACHE_KIB = 4096
FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class Dataset:
    """What one export holds: its name, its columns in order and the query that reads them."""

    name: str
    columns: list[tuple[str, pa.DataType]]
    query: Select[Any]


def _arrow_type(column: Any) -> pa.DataType:
    kind = column.type
    if isinstance(kind, Boolean):
        return pa.bool_()
    if isinstance(kind, Integer | BigInteger) and not isinstance(kind, Boolean):
        return pa.int64()
    if isinstance(kind, Float):
        return pa.float64()
    return pa.string()  # text, 0x-hex of binary, enums by value, decimals beyond 64 bits


def _table_dataset(name: str, table: Table) -> Dataset:
    order = [table.c[c.name] for c in table.primary_key.columns] or list(table.c)
    return Dataset(name, [(c.name, _arrow_type(c)) for c in table.c], select(*table.c).order_by(*order))


def _readings(wanted: ReadingFilter) -> Dataset:
    reading: Table = StoredReading.__table__  # type: ignore[attr-defined]
    batch: Table = Batch.__table__  # type: ignore[attr-defined]
    shown = [c for c in reading.c if c.name not in ("proof",)]
    extra = [
        batch.c.root.label("batch_root"), batch.c.status.label("batch_status"), batch.c.content_id,
        batch.c.chain_batch_id, batch.c.transaction_hash.label("anchor_transaction"),
        batch.c.block_number.label("anchor_block"), reading.c.proof.label("merkle_proof"),
    ]  # fmt: skip
    query = (
        select(*shown, *extra)
        .select_from(reading.outerjoin(batch, reading.c.batch_id == batch.c.id))
        .where(*wanted.conditions())
        .order_by(reading.c.timestamp, reading.c.id)
    )
    columns = [(c.name, _arrow_type(c)) for c in shown] + [
        ("batch_root", pa.string()), ("batch_status", pa.string()), ("content_id", pa.string()),
        ("chain_batch_id", pa.int64()), ("anchor_transaction", pa.string()), ("anchor_block", pa.int64()),
        ("merkle_proof", pa.string()),
    ]  # fmt: skip
    return Dataset("readings", columns, query)


def _mirror_tables() -> dict[str, Table]:
    return {table_of(model).name: table_of(model) for model in (*BLOCK_TABLES, *DERIVED_TABLES)}


def dataset_names() -> list[str]:
    """Every exportable dataset: readings, batches, custody, and each table of the SQL mirror."""
    return ["readings", "batches", "custody", *sorted(_mirror_tables())]


def dataset(name: str, wanted: ReadingFilter | None = None) -> Dataset:
    """The dataset called `name` (`NotFound` for any other); `wanted` filters the readings."""
    if name == "readings":
        return _readings(wanted or ReadingFilter())
    if name == "batches":
        return _table_dataset("batches", Batch.__table__)  # type: ignore[attr-defined]
    tables = _mirror_tables()
    table = tables.get("custody_period" if name == "custody" else name)
    if table is None:
        raise NotFound(f"no dataset {name!r}: exportable are {', '.join(dataset_names())}")
    return _table_dataset(name, table)


def count(engine: Engine, data: Dataset) -> int:
    """How many rows the dataset holds (for a progress bar)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(data.query.order_by(None).subquery())).scalar_one())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _converter(kind: pa.DataType) -> Callable[[Any], Any]:
    """How a database value becomes a cell of an Arrow (and CSV) column of type `kind`."""
    if kind == pa.string():
        return _text
    if kind == pa.int64():
        return lambda v: None if v is None else int(v)
    if kind == pa.float64():
        return lambda v: None if v is None else float(v)
    return lambda v: None if v is None else bool(v)


def _chunks(engine: Engine, data: Dataset) -> Iterator[list[list[Any]]]:
    """The rows, `CHUNK_ROWS` at a time, as columns of converted cells."""
    converters = [_converter(kind) for _, kind in data.columns]
    with engine.connect() as conn:
        cache = None
        if engine.dialect.name == "sqlite":  # a scan needs no page cache: keep SQLite's small while it runs
            cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SCAN_CACHE_KIB}")
        try:
            result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(data.query)
            for part in result.partitions(CHUNK_ROWS):
                columns = zip(*part, strict=True)
                yield [[convert(v) for v in column] for convert, column in zip(converters, columns, strict=True)]
        finally:
            if cache is not None:
                conn.exec_driver_sql(f"PRAGMA cache_size={int(cache)}")


class _Pipe(io.RawIOBase):
    """A write-only file whose bytes are taken out as they are written (`take`)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


def stream(engine: Engine, data: Dataset, fmt: str, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The export as byte chunks, a chunk of rows at a time; `progress(rows)` after each."""
    if fmt not in FORMATS:
        raise NotFound(f"no export format {fmt!r}: use csv or parquet")
    return _csv(engine, data, progress) if fmt == "csv" else _parquet(engine, data, progress)


def _csv(engine: Engine, data: Dataset, progress: Callable[[int], None] | None) -> Iterator[bytes]:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([name for name, _ in data.columns])
    for columns in _chunks(engine, data):
        rows = list(zip(*columns, strict=True))
        writer.writerows(rows)
        yield text.getvalue().encode()
        text.seek(0)
        text.truncate()
        if progress:
            progress(len(rows))
    yield text.getvalue().encode()


def _parquet(engine: Engine, data: Dataset, progress: Callable[[int], None] | None) -> Iterator[bytes]:
    schema = pa.schema(data.columns)
    pipe = _Pipe()
    with pq.ParquetWriter(pipe, schema, compression="zstd") as writer:
        for columns in _chunks(engine, data):
            arrays = [pa.array(cells, type=kind) for cells, (_, kind) in zip(columns, data.columns, strict=True)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            yield pipe.take()
            if progress:
                progress(len(columns[0]) if columns else 0)
    yield pipe.take()
