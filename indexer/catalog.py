"""Which events the indexer knows: topic 0 -> decoder and typed table, built once from the ABIs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from indexer.abi import EventDecoder

#: Columns every typed event table starts with (`ledger_service.core.mirror_models.EventRow`).
BASE_COLUMNS = ("block_number", "log_index", "transaction_hash", "address")
_INT64_MAX = (1 << 63) - 1


class CatalogError(Exception):
    """A project event has no typed table, or its table's columns do not match the event."""


def _overflow(value: int, column: str) -> int:
    raise OverflowError(f"{value} does not fit the 64-bit column {column}")


def _to_text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def _row_function(
    decode: Callable[[list[str], bytes], list[Any]], kinds: list[str | None], columns: list[str]
) -> Callable[[tuple[Any, ...], list[str], bytes], tuple[Any, ...]]:
    """A generated `row(base, topics, data)`: the decoded values converted for their columns."""
    parts = []
    for index, (kind, column) in enumerate(zip(kinds, columns, strict=True)):
        value = f"v[{index}]"
        if kind == "int64":
            parts.append(
                f"({value} if -{_INT64_MAX + 1} <= {value} <= {_INT64_MAX} else _overflow({value}, {column!r}))"
            )
        elif kind == "text":
            parts.append(f"_to_text({value})")
        else:
            parts.append(value)
    source = "def row(base, topics, data):\n    v = decode(topics, data)\n"
    source += f"    return (*base, {''.join(p + ', ' for p in parts)})\n"
    namespace: dict[str, Any] = {"decode": decode, "_overflow": _overflow, "_to_text": _to_text}
    exec(source, namespace)  # noqa: S102 - source built from the table's column types only
    function: Callable[[tuple[Any, ...], list[str], bytes], tuple[Any, ...]] = namespace["row"]
    return function


@dataclass
class EventSpec:
    """One event: how to decode its logs and where its rows go."""

    name: str
    table: str
    columns: tuple[str, ...]  # BASE_COLUMNS + the decoded fields
    decoder: EventDecoder
    row: Callable[[tuple[Any, ...], list[str], bytes], tuple[Any, ...]]
    """The typed row of a log whose base columns are `base`: `row(base, topics, data)`."""


@dataclass(frozen=True)
class TableLayout:
    """Where an event's rows go: its typed table, the columns, and each field's conversion."""

    table: str
    columns: tuple[str, ...]
    kinds: tuple[str | None, ...]  # per decoded field: None (as decoded), "int64" (checked) or "text"


def table_layouts(abis: Iterable[list[dict[str, Any]]]) -> dict[str, TableLayout]:
    """The typed table of every event in `abis`, checked against the event: event name -> layout."""
    from sqlalchemy import BigInteger, Boolean, Integer, SmallInteger

    from ledger_service.core.mirror_models import EVENT_TABLES, table_of

    layouts: dict[str, TableLayout] = {}
    for decoder in _decoders(abis):
        model = EVENT_TABLES.get(decoder.name)
        if model is None:
            raise CatalogError(
                f"event {decoder.name} has no typed table: add one to ledger_service.core.mirror_models.EVENT_TABLES"
            )
        table = table_of(model)
        columns = tuple(c.name for c in table.columns)
        expected = BASE_COLUMNS + tuple(f.name for f in decoder.fields)
        if columns != expected:
            raise CatalogError(f"table {table.name} has columns {columns}, event {decoder.name} needs {expected}")
        kinds: list[str | None] = []
        for field in decoder.fields:
            column_type = table.columns[field.name].type
            numeric_abi = field.abi_type.startswith(("uint", "int"))
            if isinstance(column_type, Boolean):
                kinds.append(None)
            elif isinstance(column_type, BigInteger | Integer | SmallInteger):
                kinds.append(None if field.abi_type in _SMALL_INTS else "int64")
            elif numeric_abi or field.abi_type.endswith("]"):
                kinds.append("text")
            else:
                kinds.append(None)
        layouts[decoder.name] = TableLayout(str(table.name), columns, tuple(kinds))
    return layouts


def _decoders(abis: Iterable[list[dict[str, Any]]]) -> list[EventDecoder]:
    seen: dict[str, EventDecoder] = {}
    for abi in abis:
        for entry in abi:
            if entry.get("type") != "event" or entry.get("anonymous"):
                continue
            decoder = EventDecoder(entry)
            seen.setdefault(decoder.topic0, decoder)
    return list(seen.values())


class EventCatalog:
    """The events of the project contracts, by topic 0.

    Built from the ABIs and the table layouts (`table_layouts`, computed from the models when not
    given; a fetch process gets them ready-made and so never imports the models).
    """

    def __init__(self, abis: Iterable[list[dict[str, Any]]], layouts: dict[str, TableLayout] | None = None) -> None:
        abis = list(abis)
        layouts = layouts if layouts is not None else table_layouts(abis)
        self.layouts = layouts
        self.by_topic: dict[str, EventSpec] = {}
        for decoder in _decoders(abis):
            layout = layouts[decoder.name]
            self.by_topic[decoder.topic0] = EventSpec(
                name=decoder.name,
                table=layout.table,
                columns=layout.columns,
                decoder=decoder,
                row=_row_function(decoder.decode, list(layout.kinds), [f.name for f in decoder.fields]),
            )


_SMALL_INTS = frozenset(
    [f"uint{bits}" for bits in range(8, 64, 8)] + [f"int{bits}" for bits in range(8, 72, 8)] + ["bool"]
)
