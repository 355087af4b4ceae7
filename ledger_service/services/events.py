"""The event feed: what happened, in chain order, for webhooks and the live stream.

The feed is read from the chain mirror, not kept beside it: each event is a typed event row the
indexer wrote (or, for `reading.anchored`, one reading of an anchored batch), taken only from
blocks at or below the mirror's confirmed depth. So a delivered event is never taken back by a
reorg, the feed is rebuilt with the mirror, and its order is the chain's.

An event's id is its position, `BLOCK-LOG-SUB`: the block number, the log index and, for the
readings of one `BatchAnchored` log, 1 + the reading's place in the batch (0 for the log's own
event). Ids grow strictly along the feed, so "everything after id X" resumes a reader with no gap
and no repeat.

Who sees what (a key's party is an account; a key with no party is the operator's and sees all):

- `batch.confirmed`: the operator only;
- `reading.anchored`, `device.status_changed`: the device's owner;
- `custody.changed`, `condition.changed`, `rule.fired`: the item's manufacturer and every account
  that has held it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, select, tuple_
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from ledger_service.core.errors import InvalidEventId, InvalidFilter
from ledger_service.core.mirror_models import (
    EvBatchAnchored,
    EvConditionChanged,
    EvDeviceStatusChanged,
    EvRuleFired,
    EvTransferAccepted,
    IndexState,
    table_of,
)
from ledger_service.services.event_rows import batch_readings, block_times, device_owners, event_data, item_parties

EVENT_TYPES = (
    "batch.confirmed",
    "reading.anchored",
    "rule.fired",
    "custody.changed",
    "condition.changed",
    "device.status_changed",
)
_SOURCES: dict[str, type[SQLModel]] = {
    "batch.confirmed": EvBatchAnchored,
    "rule.fired": EvRuleFired,
    "custody.changed": EvTransferAccepted,
    "condition.changed": EvConditionChanged,
    "device.status_changed": EvDeviceStatusChanged,
}
_ID = re.compile(r"^(-1|\d{1,18})-(\d{1,9})-(\d{1,9})$")  # -1-0-0: before the first block


def check_types(types: Iterable[str]) -> list[str]:
    """`types`, sorted, if each is an event type; `InvalidFilter` otherwise."""
    chosen = sorted(set(types))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise InvalidFilter(f"unknown event types: {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)})")
    return chosen


@dataclass(frozen=True, order=True)
class Position:
    """A place in the feed; the feed's events are those strictly after it."""

    block: int
    log: int
    sub: int = 0

    @classmethod
    def parse(cls, text: str) -> Position:
        """`BLOCK-LOG-SUB`, as an event id reads; raises `InvalidRequest` otherwise."""
        found = _ID.match(text.strip())
        if found is None:
            raise InvalidEventId(f"not an event id: {text[:80]!r} (expected BLOCK-LOG-SUB)")
        return cls(int(found[1]), int(found[2]), int(found[3]))

    def __str__(self) -> str:
        return f"{self.block}-{self.log}-{self.sub}"


START = Position(-1, 0, 0)
#: The largest log index or reading number a position can hold: "past everything in this block".
LAST = 999_999_999


@dataclass
class FeedEvent:
    """One event of the feed."""

    position: Position
    type: str
    block_number: int
    block_time: int
    transaction_hash: str
    data: dict[str, Any]
    #: Accounts that may see it (lower-case); empty: the operator only.
    audience: frozenset[str] = field(default_factory=frozenset)

    @property
    def id(self) -> str:
        return str(self.position)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "block_number": self.block_number,
            "block_time": self.block_time,
            "transaction_hash": self.transaction_hash,
            "data": self.data,
        }


@dataclass
class FeedPage:
    """Events after a position, and where the next read starts (past events the viewer may not
    see as well, so a filtered reader still moves on)."""

    events: list[FeedEvent]
    next: Position
    confirmed_through: int


class EventFeed:
    """Reads the feed from the mirror."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(
        self,
        after: Position = START,
        limit: int = 100,
        viewer: str | None = None,
        types: Iterable[str] | None = None,
    ) -> FeedPage:
        """Up to `limit` events after `after` that `viewer` (an account; None: the operator) may
        see, of `types` (None: all)."""
        wanted = set(EVENT_TYPES if types is None else check_types(types))
        with self.engine.connect() as conn:
            state = conn.execute(select(table_of(IndexState).c.confirmed_through)).first()
            confirmed = int(state[0]) if state is not None else -1
            rows = self._rows(conn, after, confirmed, limit)
            scanned, through, complete = self._expand(conn, rows, after, limit)
            self._address(conn, scanned)
        if complete and len(rows) < limit:  # everything up to the confirmed block was read
            next_position = max(after, through, Position(confirmed, LAST, LAST))
        else:
            next_position = max(after, through)
        who = viewer.lower() if viewer is not None else None
        events = [e for e in scanned if e.type in wanted and (who is None or who in e.audience)]
        return FeedPage(events, next_position, confirmed)

    def head(self) -> Position:
        """The position past the last confirmed event: where a reader that wants only new events starts."""
        with self.engine.connect() as conn:
            state = conn.execute(select(table_of(IndexState).c.confirmed_through)).first()
        return Position(int(state[0]), LAST, LAST) if state is not None and state[0] >= 0 else START

    def _rows(self, conn: Connection, after: Position, confirmed: int, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """The source rows after `after` up to the confirmed block, in chain order (the batch whose
        readings `after` stops inside comes first again)."""
        found: list[tuple[str, dict[str, Any]]] = []
        for kind, model in _SOURCES.items():
            table = table_of(model)
            key = tuple_(table.c.block_number, table.c.log_index)
            reopen = kind == "batch.confirmed" and after.sub < LAST  # that batch's readings may go on
            floor = key >= (after.block, after.log) if reopen else key > (after.block, after.log)
            query = (
                select(table)
                .where(and_(floor, table.c.block_number <= confirmed))
                .order_by(table.c.block_number, table.c.log_index)
                .limit(limit)
            )
            found.extend((kind, dict(row._mapping)) for row in conn.execute(query))
        found.sort(key=lambda pair: (pair[1]["block_number"], pair[1]["log_index"]))
        return found[:limit]

    def _expand(
        self, conn: Connection, rows: Sequence[tuple[str, dict[str, Any]]], after: Position, limit: int
    ) -> tuple[list[FeedEvent], Position, bool]:
        """The events of `rows` (a batch's readings after its own event), at most `limit`; the
        position through which they were read, and whether every row was read to its end."""
        times = block_times(conn, {row["block_number"] for _, row in rows})
        events: list[FeedEvent] = []
        through = after
        for kind, row in rows:
            if len(events) >= limit:
                return events, through, False
            base = Position(row["block_number"], row["log_index"], 0)
            common = {"block_number": base.block, "block_time": times.get(base.block, 0),
                      "transaction_hash": row["transaction_hash"]}  # fmt: skip
            if kind != "batch.confirmed":
                events.append(FeedEvent(base, kind, data=event_data(kind, row), **common))
                through = base
                continue
            if base > after:
                events.append(FeedEvent(base, kind, data=event_data(kind, row), **common))
                through = base
            first_sub = after.sub + 1 if (base.block, base.log) == (after.block, after.log) else 1
            room = limit - len(events)
            readings = batch_readings(conn, row["root"], first_sub, room)
            for sub, reading in readings:
                data = {"reading_id": reading["id"], "device_id": reading["device_id"],
                        "sequence": reading["sequence"], "timestamp": reading["timestamp"],
                        "batch_root": row["root"], "chain_batch_id": row["batch_id"]}  # fmt: skip
                through = Position(base.block, base.log, sub)
                events.append(FeedEvent(through, "reading.anchored", data=data, **common))
            if len(readings) >= room:  # perhaps more readings: the next read goes on from `through`
                return events, through, False
            through = Position(base.block, base.log, LAST)  # the batch's readings are all read
        return events, through, True

    def _address(self, conn: Connection, events: Sequence[FeedEvent]) -> None:
        """Fills in who may see each event, from the mirror's devices, items and custody."""
        devices = {e.data["device_id"] for e in events if e.type in ("reading.anchored", "device.status_changed")}
        items = {e.data["item_id"] for e in events if "item_id" in e.data}
        owners = device_owners(conn, devices)
        parties = item_parties(conn, items)
        for event in events:
            if event.type in ("reading.anchored", "device.status_changed"):
                owner = owners.get(event.data["device_id"])
                event.audience = frozenset({owner} if owner else set())
            elif "item_id" in event.data:
                event.audience = frozenset(parties.get(event.data["item_id"], set()))
