"""Stores verified readings durably, in the order each device's cursor allows.

The cursor (last sequence and timestamp) is kept per device and key: a reading is stored only
with a sequence above, and a timestamp not before (with `strict_time_order`: after), the cursor's.
Rotating the key starts a fresh cursor, so a reading that pushed the cursor to its end (a sequence
at the maximum, a timestamp at the clock-skew bound) never locks the device id out. The same
signed reading stored again is answered with the stored one and stores nothing. Every answer is
given after the commit. See docs/device-time.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ledger_service.core.db import bulk_insert
from ledger_service.core.errors import ReadingRejected, SequenceNotIncreasing, SequenceTaken, TimestampNotIncreasing
from ledger_service.core.models import DeviceCursor, StoredReading
from ledger_service.services.late_readings import (
    IN_CHUNK,
    Cursor,
    CursorKey,
    check_free,
    taken_refusal,
    taken_sequences,
)
from ledger_service.services.reading_checks import TimePolicy, VerifiedReading

log = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 3


@dataclass(frozen=True)
class IngestResult:
    """What happened to one reading."""

    reading: StoredReading
    created: bool


@dataclass(frozen=True)
class ItemResult:
    """What happened to one reading of a batch request: stored, duplicate or refused."""

    status: str
    reading_id: str | None = None
    error: ReadingRejected | None = None


class _CursorMoved(Exception):
    """A concurrent request moved a device's cursor while this batch was being stored."""


_READING_COLUMNS = (
    "id", "device_id", "key_index", "sequence", "timestamp", "metric", "value", "scale", "unit", "payload_hash",
    "digest", "signature", "signer", "received_at", "batch_id",
)  # fmt: skip


def _values(verified: VerifiedReading, leaf: str, received_at: float) -> tuple[object, ...]:
    """A reading row in `_READING_COLUMNS` order."""
    reading = verified.reading
    return (
        leaf, "0x" + reading.device_id.hex(), verified.key_index, reading.sequence, reading.timestamp, reading.metric,
        str(reading.value),
        reading.scale, reading.unit, "0x" + reading.payload_hash.hex(), "0x" + verified.digest.hex(),
        "0x" + verified.signature.hex(), verified.signer, received_at, None,
    )  # fmt: skip


def _retried(attempt: Callable[[], T], *retry_on: type[Exception]) -> T:
    """Runs `attempt` again when a concurrent writer made it collide, up to `ATTEMPTS` times."""
    for number in range(1, ATTEMPTS + 1):
        try:
            return attempt()
        except retry_on:
            if number == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


class ReadingStore:
    """Writes verified readings and advances the devices' cursors."""

    def __init__(self, engine: Engine, policy: TimePolicy) -> None:
        self.engine = engine
        self.policy = policy

    def _too_early(self, timestamp: int, last_timestamp: int) -> bool:
        return timestamp < last_timestamp or (self.policy.strict_time_order and timestamp == last_timestamp)

    def _time_refusal(self, device_id: str, timestamp: int, last_timestamp: int) -> TimestampNotIncreasing:
        order = "later than" if self.policy.strict_time_order else "at or after"
        return TimestampNotIncreasing(
            f"timestamp {timestamp} is not {order} device {device_id}'s previous reading at {last_timestamp}",
            last_timestamp=last_timestamp,
        )

    @staticmethod
    def _sequence_refusal(device_id: str, sequence: int, last_sequence: int) -> SequenceNotIncreasing:
        return SequenceNotIncreasing(
            f"sequence {sequence} is not above device {device_id}'s last sequence {last_sequence}",
            last_sequence=last_sequence,
        )

    # -- many readings, one transaction ------------------------------------------------------

    def store_many(self, accepted: list[tuple[int, VerifiedReading]]) -> dict[int, ItemResult]:
        """Stores verified readings together in one transaction; returns each one's result by its index."""
        return _retried(lambda: self._store_many_once(accepted), IntegrityError, _CursorMoved)

    def _store_many_once(self, accepted: list[tuple[int, VerifiedReading]]) -> dict[int, ItemResult]:
        if not accepted:
            return {}
        leaves = {index: "0x" + v.leaf.hex() for index, v in accepted}
        with Session(self.engine) as session:
            existing = self._stored_ids(session, set(leaves.values()))
            device_ids = {"0x" + v.reading.device_id.hex() for _, v in accepted}
            start = {
                (c.device_id, c.key_index): (c.last_sequence, c.last_timestamp)
                for c in session.exec(select(DeviceCursor).where(col(DeviceCursor.device_id).in_(device_ids)))
            }
            cursors = dict(start)
            taken = taken_sequences(session, accepted, start) if self.policy.accept_late else set()
            results, rows = self._plan(accepted, leaves, existing, cursors, taken)
            self._write_cursors(session, start, cursors)
            if rows:
                bulk_insert(session.connection(), "reading", _READING_COLUMNS, rows)
            session.commit()
        return results

    @staticmethod
    def _stored_ids(session: Session, ids: set[str]) -> set[str]:
        unique = list(ids)
        found: set[str] = set()
        for start in range(0, len(unique), IN_CHUNK):
            chunk = unique[start : start + IN_CHUNK]
            found.update(session.exec(select(StoredReading.id).where(col(StoredReading.id).in_(chunk))))
        return found

    def _plan(
        self,
        accepted: list[tuple[int, VerifiedReading]],
        leaves: dict[int, str],
        existing: set[str],
        cursors: dict[CursorKey, Cursor],
        taken: set[tuple[str, int, int]],
    ) -> tuple[dict[int, ItemResult], list[tuple[object, ...]]]:
        """Decides each reading's fate in sequence order, moving `cursors` along; returns the
        results and the rows to insert. With `accept_late`, a reading at or below its cursor whose
        sequence is free (not in `taken`) is stored without moving the cursor."""
        results: dict[int, ItemResult] = {}
        rows: list[tuple[object, ...]] = []
        seen: set[str] = set()
        now = self.policy.clock()
        for index, verified in sorted(accepted, key=lambda item: item[1].reading.sequence):
            leaf = leaves[index]
            if leaf in existing or leaf in seen:
                results[index] = ItemResult("duplicate", reading_id=leaf)
                continue
            reading = verified.reading
            device_id = "0x" + reading.device_id.hex()
            last = cursors.get((device_id, verified.key_index))
            if last is not None and reading.sequence <= last[0]:
                slot = (device_id, verified.key_index, reading.sequence)
                if self.policy.accept_late and slot not in taken:
                    taken.add(slot)  # a late reading: stored, the cursor stays where it is
                    seen.add(leaf)
                    rows.append(_values(verified, leaf, now))
                    results[index] = ItemResult("stored", reading_id=leaf)
                    continue
                refusal: ReadingRejected = (
                    taken_refusal(device_id, reading.sequence)
                    if self.policy.accept_late
                    else self._sequence_refusal(device_id, reading.sequence, last[0])
                )
                results[index] = ItemResult("refused", error=refusal)
                continue
            if last is not None and self._too_early(reading.timestamp, last[1]):
                results[index] = ItemResult("refused", error=self._time_refusal(device_id, reading.timestamp, last[1]))
                continue
            cursors[(device_id, verified.key_index)] = (reading.sequence, reading.timestamp)
            seen.add(leaf)
            rows.append(_values(verified, leaf, now))
            results[index] = ItemResult("stored", reading_id=leaf)
        return results, rows

    @staticmethod
    def _write_cursors(session: Session, start: dict[CursorKey, Cursor], cursors: dict[CursorKey, Cursor]) -> None:
        """Writes the moved cursors, each only if no one else moved it meanwhile (`_CursorMoved`)."""
        for (device_id, key_index), (last_sequence, last_timestamp) in cursors.items():
            before = start.get((device_id, key_index))
            if before is None:
                session.add(
                    DeviceCursor(
                        device_id=device_id, key_index=key_index, last_sequence=last_sequence,
                        last_timestamp=last_timestamp,
                    )
                )  # fmt: skip
            elif last_sequence != before[0]:
                moved = session.execute(
                    update(DeviceCursor)
                    .where(
                        DeviceCursor.device_id == device_id,  # type: ignore[arg-type]
                        DeviceCursor.key_index == key_index,  # type: ignore[arg-type]
                        DeviceCursor.last_sequence == before[0],  # type: ignore[arg-type]
                    )
                    .values(last_sequence=last_sequence, last_timestamp=last_timestamp)
                )
                if moved.rowcount != 1:  # type: ignore[attr-defined]
                    session.rollback()
                    raise _CursorMoved

    # -- one reading -------------------------------------------------------------------------

    def store(self, verified: VerifiedReading) -> IngestResult:
        """Stores a verified reading, enforcing the device's increasing sequence, in one transaction.

        A concurrent request for the same device can make the first attempt collide on the
        device's cursor row; the attempt is then repeated with the row in place.
        """
        return _retried(lambda: self._store_once(verified), IntegrityError)

    def _store_once(self, verified: VerifiedReading) -> IngestResult:
        reading = verified.reading
        leaf = "0x" + verified.leaf.hex()
        device_id = "0x" + reading.device_id.hex()
        with Session(self.engine, expire_on_commit=False) as session:
            existing = session.get(StoredReading, leaf)
            if existing is not None:
                return IngestResult(existing, created=False)
            try:
                try:
                    self._advance_cursor(session, device_id, verified.key_index, reading.sequence, reading.timestamp)
                except SequenceNotIncreasing:
                    if not self.policy.accept_late:
                        raise
                    check_free(session, device_id, verified.key_index, reading.sequence)  # late, not moving
                values = _values(verified, leaf, self.policy.clock())
                row = StoredReading.model_validate(dict(zip(_READING_COLUMNS, values, strict=True)))
                session.add(row)
                session.commit()
            except (SequenceNotIncreasing, SequenceTaken, TimestampNotIncreasing, IntegrityError):
                session.rollback()
                existing = session.get(StoredReading, leaf)
                if existing is not None:  # the same reading, stored by a concurrent request
                    return IngestResult(existing, created=False)
                raise
        log.debug("stored reading", extra={"reading_id": leaf, "device_id": device_id})
        return IngestResult(row, created=True)

    def _advance_cursor(self, session: Session, device_id: str, key_index: int, sequence: int, timestamp: int) -> None:
        table = DeviceCursor.__table__  # type: ignore[attr-defined]
        last_timestamp = table.c.last_timestamp
        not_later = last_timestamp < timestamp if self.policy.strict_time_order else last_timestamp <= timestamp
        moved = session.execute(
            update(DeviceCursor)
            .where(
                table.c.device_id == device_id,
                table.c.key_index == key_index,
                table.c.last_sequence < sequence,
                not_later,
            )
            .values(last_sequence=sequence, last_timestamp=timestamp)
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            return
        cursor = session.get(DeviceCursor, (device_id, key_index))
        if cursor is not None:
            if sequence <= cursor.last_sequence:
                raise self._sequence_refusal(device_id, sequence, cursor.last_sequence)
            raise self._time_refusal(device_id, timestamp, cursor.last_timestamp)
        session.add(
            DeviceCursor(device_id=device_id, key_index=key_index, last_sequence=sequence, last_timestamp=timestamp)
        )
        session.flush()
