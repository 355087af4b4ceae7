"""Writing the mirror: each chunk in one transaction with its checkpoint; rollbacks likewise.

Bulk rows go through the driver directly (`executemany` on SQLite, `COPY` on PostgreSQL); the
derived tables through SQLAlchemy. Readers never see half a chunk: it commits whole or not at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, bindparam, delete, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from indexer.catalog import EventCatalog
from indexer.chunks import BLOCK_COLUMNS, LOG_COLUMNS, TRANSACTION_COLUMNS, Chunk, DecodedEvent
from indexer.projections import ROLE_EVENTS, DeviceProjection, RoleProjection
from indexer.supply_projections import ItemProjection, TokenProjection
from ledger_service.core.db import bulk_insert
from ledger_service.core.mirror_models import (
    BLOCK_TABLES,
    DERIVED_TABLES,
    EVENT_TABLES,
    ChainBlock,
    EventLog,
    IndexState,
    table_of,
)

#: Projections of entities (devices, items, tokens): each names its events and key column.
ENTITY_PROJECTIONS = (DeviceProjection, ItemProjection, TokenProjection)
#: Events the derived tables consume; the fetcher hands them over decoded.
PROJECTED = frozenset(ROLE_EVENTS).union(*(p.events for p in ENTITY_PROJECTIONS))

STATE_ID = "main"


@dataclass
class State:
    """The checkpoint as read from the database."""

    chain_id: int
    genesis_hash: str
    contracts: dict[str, str]
    start_block: int
    head_number: int | None
    head_hash: str | None
    transactions: str = "all"


class Store:
    """The mirror's database side."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.roles = RoleProjection()
        self.devices = DeviceProjection()
        self.projections = (self.devices, ItemProjection(), TokenProjection())
        #: The head the device projection's memory is good for (None: nothing to trust yet).
        self._devices_through: int | None = None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on success."""
        with self.engine.begin() as conn:
            yield conn

    # -- checkpoint ---------------------------------------------------------------------------

    def state(self, conn: Connection | None = None) -> State | None:
        """The checkpoint, or None before the first run."""
        query = select(table_of(IndexState)).where(table_of(IndexState).c.id == STATE_ID)
        if conn is None:
            with self.engine.connect() as own:
                row = own.execute(query).first()
        else:
            row = conn.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        return State(
            chain_id=int(m["chain_id"]),
            genesis_hash=str(m["genesis_hash"]),
            contracts=json.loads(m["contracts"]),
            start_block=int(m["start_block"]),
            head_number=None if m["head_number"] is None else int(m["head_number"]),
            head_hash=m["head_hash"],
            transactions=str(m["transactions"]),
        )

    def initialise(
        self, chain_id: int, genesis_hash: str, contracts: dict[str, str], start_block: int, transactions: str = "all"
    ) -> State:
        """Records which chain and contracts this mirror follows."""
        with self.transaction() as conn:
            conn.execute(
                insert(table_of(IndexState)),
                [{
                    "id": STATE_ID, "chain_id": chain_id, "genesis_hash": genesis_hash,
                    "contracts": json.dumps(contracts, sort_keys=True), "start_block": start_block,
                    "transactions": transactions, "updated_at": time.time(),
                }],
            )  # fmt: skip
        return State(chain_id, genesis_hash, contracts, start_block, None, None, transactions)

    def progress(self) -> dict[str, Any] | None:
        """The indexer's recorded progress (head, chain head, lag, rates, reorgs), or None."""
        state = table_of(IndexState)
        with self.engine.connect() as conn:
            row = conn.execute(select(state).where(state.c.id == STATE_ID)).first()
        if row is None:
            return None
        info = dict(row._mapping)
        head, chain_head = info["head_number"], info["chain_head"]
        info["lag"] = None if head is None or chain_head is None else max(0, chain_head - head)
        return info

    def stored_hashes(self, numbers: Sequence[int]) -> dict[int, str]:
        """Stored block hashes by number."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT number, hash FROM chain_block WHERE number IN :n").bindparams(
                    bindparam("n", expanding=True)
                ),
                {"n": list(numbers)},
            )
            return {int(n): str(h) for n, h in rows}

    # -- writing ------------------------------------------------------------------------------

    def write(self, chunk: Chunk, confirmed_through: int, chain_head: int, rates: tuple[float, float]) -> None:
        """Writes `chunk` and moves the checkpoint to its last block, in one transaction.

        Raises `ParentMismatch` (and writes nothing) when the chunk does not follow the stored head.
        """
        try:
            self._write(chunk, confirmed_through, chain_head, rates)
        except BaseException:
            self._forget()
            raise
        self._devices_through = chunk.last

    def _forget(self) -> None:
        self.devices.forget()
        self._devices_through = None

    def _write(self, chunk: Chunk, confirmed_through: int, chain_head: int, rates: tuple[float, float]) -> None:
        with self.transaction() as conn:
            state = self.state(conn)
            if state is None:
                raise RuntimeError("the index state is missing; initialise first")
            if state.head_number is None or state.head_number != self._devices_through:
                self.devices.forget()  # another writer moved the mirror, or this one just started
            if state.head_number is not None:
                if chunk.first != state.head_number + 1:
                    raise RuntimeError(f"chunk starts at {chunk.first}, the mirror is at {state.head_number}")
                if chunk.parent_hash != state.head_hash:
                    raise ParentMismatch(state.head_number, str(state.head_hash), chunk.parent_hash)
            bulk_insert(conn, "chain_block", BLOCK_COLUMNS, chunk.blocks)
            bulk_insert(conn, "chain_transaction", TRANSACTION_COLUMNS, chunk.transactions)
            bulk_insert(conn, "event_log", LOG_COLUMNS, chunk.logs)
            self._write_events(conn, chunk.typed, chunk.events, chunk.block_times)
            conn.execute(
                update(table_of(IndexState))
                .where(table_of(IndexState).c.id == STATE_ID)
                .values(
                    head_number=chunk.last, head_hash=chunk.last_hash, chain_head=chain_head,
                    confirmed_through=confirmed_through,
                    blocks_per_second=rates[0], events_per_second=rates[1], updated_at=time.time(),
                )
            )  # fmt: skip

    def _write_events(
        self,
        conn: Connection,
        typed: dict[str, list[tuple[Any, ...]]],
        events: Sequence[DecodedEvent],
        block_times: dict[int, int],
    ) -> None:
        for table, rows in typed.items():
            columns = tuple(c.name for c in EVENT_TABLE_BY_NAME[table].columns)
            bulk_insert(conn, table, columns, rows)
        if events:
            for projection in self.projections:
                projection.apply(conn, events, block_times)
            self.roles.apply(conn, events, block_times)

    def update_head(self, chain_head: int, confirmed_through: int) -> None:
        """Records the chain head seen and how deep batches count as confirmed (the view
        `anchored_batch` derives their status from it), with no new block written."""
        with self.transaction() as conn:
            conn.execute(
                update(table_of(IndexState))
                .where(table_of(IndexState).c.id == STATE_ID)
                .values(chain_head=chain_head, confirmed_through=confirmed_through, updated_at=time.time())
            )

    # -- reorgs and resets --------------------------------------------------------------------

    def rollback(self, to_block: int, confirmed_through: int) -> int:
        """Removes everything above block `to_block` and rebuilds the derived state it touched, in
        one transaction. Returns the number of blocks removed."""
        self._forget()
        with self.transaction() as conn:
            removed = int(
                conn.execute(text("SELECT COUNT(*) FROM chain_block WHERE number > :n"), {"n": to_block}).scalar_one()
            )
            touched: list[set[str]] = []
            for projection in self.projections:
                keys: set[str] = set()
                for model in projection.events.values():
                    table = table_of(cast(type[SQLModel], model))
                    column = table.c[projection.key_column]
                    keys.update(r[0] for r in conn.execute(select(column).where(table.c.block_number > to_block)))
                touched.append(keys)
            roles_touched = any(
                conn.execute(select(table_of(m).c.block_number).where(table_of(m).c.block_number > to_block)).first()
                for m in ROLE_EVENTS.values()
            )
            for model in BLOCK_TABLES:
                table = table_of(model)
                column = table.c.number if model is ChainBlock else table.c.block_number
                conn.execute(delete(table).where(column > to_block))
            for index, keys in enumerate(touched):
                if keys:
                    self.projections[index].rebuild(conn, sorted(keys))
            if roles_touched:
                self.roles.rebuild_all(conn)
            head_hash = conn.execute(
                select(table_of(ChainBlock).c.hash).where(table_of(ChainBlock).c.number == to_block)
            ).scalar_one_or_none()
            conn.execute(
                update(table_of(IndexState))
                .where(table_of(IndexState).c.id == STATE_ID)
                .values(
                    head_number=to_block if head_hash is not None else None,
                    head_hash=head_hash,
                    reorgs=table_of(IndexState).c.reorgs + 1,
                    confirmed_through=min(confirmed_through, to_block),
                    updated_at=time.time(),
                )
            )
        return removed

    def reset(self) -> None:
        """Empties the mirror and forgets the checkpoint."""
        self._forget()
        with self.transaction() as conn:
            models: list[type[SQLModel]] = [*BLOCK_TABLES, *DERIVED_TABLES, IndexState]
            for model in models:
                conn.execute(delete(table_of(model)))

    def rebuild_from_log(self, catalog: EventCatalog) -> int:
        """Rebuilds the typed and derived tables from the raw event log alone; returns the events."""
        self._forget()
        with self.transaction() as conn:
            for model in (*EVENT_TABLES.values(), *DERIVED_TABLES):
                conn.execute(delete(table_of(model)))
            times = {int(n): int(t) for n, t in conn.execute(text("SELECT number, timestamp FROM chain_block"))}
            typed: dict[str, list[tuple[Any, ...]]] = {}
            events: list[DecodedEvent] = []
            log_table = table_of(EventLog)
            count = 0
            for row in conn.execute(select(log_table).order_by(log_table.c.block_number, log_table.c.log_index)):
                m = row._mapping
                topics = [t for t in (m["topic0"], m["topic1"], m["topic2"], m["topic3"]) if t is not None]
                spec = catalog.by_topic.get(topics[0]) if topics else None
                if spec is None:
                    continue
                base = (m["block_number"], m["log_index"], m["transaction_hash"], m["address"])
                typed_row = spec.row(base, topics, bytes(m["data"]))
                typed.setdefault(spec.table, []).append(typed_row)
                if spec.name in PROJECTED:
                    values = dict(zip(spec.columns[4:], typed_row[4:], strict=True))
                    events.append(DecodedEvent(spec.name, base[0], base[1], base[2], base[3], values))
                count += 1
            self._write_events(conn, typed, events, times)
        return count


class ParentMismatch(Exception):
    """A new block's parent is not the stored head: the chain reorganised."""

    def __init__(self, number: int, stored: str, parent: str) -> None:
        self.number = number
        super().__init__(f"block {number + 1}'s parent is {parent}, the mirror holds {stored} at {number}")


EVENT_TABLE_BY_NAME = {model.__tablename__: table_of(model) for model in EVENT_TABLES.values()}
