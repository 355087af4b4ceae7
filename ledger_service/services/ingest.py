"""Ingest: check a signed reading against the device registry, then store it durably.

Checks, in order, each with its own error: timestamp neither too far ahead of the service's
clock nor older than the allowed age; device known, not suspended, not revoked; signature by the
device's current key (a signature by an earlier key is `key-rotated`); timestamp not before that
key became valid and not inside one of the device's suspension periods; sequence above, and
timestamp not before, the last reading stored for the device with that key. Only then is the
reading written, and the answer given after the commit. The same signed reading posted again is
answered with the stored one and stores nothing.

The cursor (last sequence and timestamp) is kept per device and key: rotating the key starts a
fresh one, so a reading that pushed the cursor to its end (a sequence at the maximum, a timestamp
at the clock-skew bound) never locks the device id out. See docs/device-time.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ledger_service.core.db import bulk_insert
from ledger_service.core.device_state import DeviceRecord, KeyRecord
from ledger_service.core.enums import DeviceStatus
from ledger_service.core.errors import (
    DatedInSuspension,
    DeviceRevoked,
    DeviceSuspended,
    InvalidSignature,
    KeyNotYetValid,
    KeyRotated,
    RateLimited,
    ReadingRejected,
    SequenceNotIncreasing,
    TimestampInFuture,
    TimestampNotIncreasing,
    TimestampTooOld,
    UnknownDevice,
)
from ledger_service.core.models import DeviceCursor, StoredReading
from ledger_service.core.ratelimit import RateLimiter
from ledger_service.core.readings import Domain, Reading, reading_leaf
from ledger_service.services.registry import RegistryCache
from ledger_service.services.sigcheck import Job, KeyTuple, SignaturePool, key_tuple, too_many_bad_signatures

log = logging.getLogger(__name__)

#: True while an HTTP request is served (set by the API): a request thread never waits for the
#: registry's next sync slot (the route waits on the event loop instead). Other callers (MQTT, the
#: CLI, demos) wait for it, so a device registered a moment ago is found.
ON_REQUEST_THREAD: ContextVar[bool] = ContextVar("on_request_thread", default=False)


@dataclass(frozen=True)
class VerifiedReading:
    """A reading whose signature checked out, with what the check established."""

    reading: Reading
    signature: bytes
    digest: bytes
    signer: str
    leaf: bytes
    key_index: int


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


def key_label(record: KeyRecord) -> str:
    """How a stored reading names the key that signed it: the address, or p256:x."""
    key = record.key
    return key.signer if key.signer else f"p256:0x{key.x:064x}"


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


def _row(verified: VerifiedReading, leaf: str, received_at: float) -> dict[str, object]:
    return dict(zip(_READING_COLUMNS, _values(verified, leaf, received_at), strict=True))


class Ingestor:
    """Verifies and stores readings."""

    def __init__(
        self,
        engine: Engine,
        domain: Domain,
        registry: RegistryCache,
        max_clock_skew: float = 300.0,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
        verify_processes: int = 0,
        max_reading_age: float = 86_400.0,
        strict_time_order: bool = False,
    ) -> None:
        self.engine = engine
        self.domain = domain
        self.registry = registry
        self.max_clock_skew = max_clock_skew
        self.max_reading_age = max_reading_age
        self.strict_time_order = strict_time_order
        self.clock = clock
        self.limiter = limiter
        self._processes = verify_processes
        self._pool: SignaturePool | None = None
        self._pool_lock = threading.Lock()

    def warm_up(self) -> None:
        """Starts the signature-checking processes now rather than at the first large batch."""
        pool = self._signature_pool()
        if pool is not None:
            pool.check(self.domain, [])

    def _signature_pool(self) -> SignaturePool | None:
        if self._processes < 1:
            return None
        with self._pool_lock:
            if self._pool is None:
                self._pool = SignaturePool(self._processes)
            return self._pool

    def close(self) -> None:
        """Stops the signature-checking processes."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def verify(self, reading: Reading, signature: bytes, refresh_unknown: bool = True) -> VerifiedReading:
        """Runs every check that needs no database; raises the matching `ReadingRejected`."""
        self._check_timestamp(reading)
        device = self._device(reading.device_id, refresh=refresh_unknown)
        digest = reading.digest(self.domain)
        current = device.current_key
        if not current.key.verify(digest, signature):
            # The cache may be a moment behind a rotation: look again before refusing, unless it
            # looked a moment ago (a flood of forged signatures must not cost a sync each).
            if self.registry.refresh(wait=False):
                device = self._device(reading.device_id)
                current = device.current_key
            if not current.key.verify(digest, signature):
                self._refuse_signature(device, digest, signature)
        self._check_dated_in_key(device, current, reading)
        leaf = reading_leaf(digest, signature)
        return VerifiedReading(reading, signature, digest, key_label(current), leaf, len(device.keys) - 1)

    def _check_timestamp(self, reading: Reading) -> None:
        now = self.clock()
        if reading.timestamp > now + self.max_clock_skew:
            raise TimestampInFuture(
                f"timestamp {reading.timestamp} is more than {self.max_clock_skew:g}s ahead of the service's clock",
                timestamp=reading.timestamp,
            )
        if reading.timestamp < now - self.max_reading_age:
            raise TimestampTooOld(
                f"timestamp {reading.timestamp} is more than {self.max_reading_age:g}s behind the service's clock",
                timestamp=reading.timestamp,
                max_age=self.max_reading_age,
            )

    @staticmethod
    def _check_dated_in_key(device: DeviceRecord, current: KeyRecord, reading: Reading) -> None:
        """The reading's time must be one at which the chain would accept it: the signing key valid,
        the device not suspended (`DeviceRegistry.verifyReadingAt`)."""
        if reading.timestamp < current.valid_from:
            raise KeyNotYetValid(
                f"timestamp {reading.timestamp} is before the signing key became valid at {current.valid_from}",
                valid_from=current.valid_from,
            )
        period = device.suspension_at(reading.timestamp)
        if period is not None:
            until = "still suspended" if period.end is None else f"reactivated at {period.end}"
            raise DatedInSuspension(
                f"timestamp {reading.timestamp} falls inside a suspension of device 0x{device.device_id.hex()} "
                f"(suspended at {period.start}, {until})",
                suspended_from=period.start,
                suspended_until=period.end,
            )

    def _too_early(self, timestamp: int, last_timestamp: int) -> bool:
        return timestamp < last_timestamp or (self.strict_time_order and timestamp == last_timestamp)

    def _time_refusal(self, device_id: str, timestamp: int, last_timestamp: int) -> TimestampNotIncreasing:
        order = "later than" if self.strict_time_order else "at or after"
        return TimestampNotIncreasing(
            f"timestamp {timestamp} is not {order} device {device_id}'s previous reading at {last_timestamp}",
            last_timestamp=last_timestamp,
        )

    def _device(self, device_id: bytes, refresh: bool = True) -> DeviceRecord:
        device = self.registry.get(device_id, refresh=False)
        if device is None and refresh and self.registry.refresh(wait=not ON_REQUEST_THREAD.get()):
            device = self.registry.get(device_id, refresh=False)
        if device is None:
            raise UnknownDevice(f"device 0x{device_id.hex()} is not registered", device_id=device_id)
        if device.status is DeviceStatus.REVOKED:
            raise DeviceRevoked(f"device 0x{device_id.hex()} is revoked", device_id=device_id)
        if device.status is DeviceStatus.SUSPENDED:
            raise DeviceSuspended(f"device 0x{device_id.hex()} is suspended", device_id=device_id)
        return device

    def _refuse_signature(self, device: DeviceRecord, digest: bytes, signature: bytes) -> None:
        for index, record in enumerate(device.keys[:-1]):
            if record.key.verify(digest, signature):
                raise KeyRotated(
                    f"signed with key {index} of device 0x{device.device_id.hex()}, "
                    f"rotated out at {record.valid_until}",
                    key_index=index,
                )
        raise InvalidSignature(
            f"the signature is not a valid {device.current_key.key.key_type.label} signature by the current key "
            f"of device 0x{device.device_id.hex()} over this reading"
        )

    def ingest(self, reading: Reading, signature: bytes) -> IngestResult:
        """Verifies `reading` and stores it; returns the stored row and whether it is new."""
        verified = self.verify(reading, signature)
        self._check_rate(reading.device_id, 1)
        return self.store(verified)

    def _check_rate(self, device_id: bytes, count: int) -> None:
        if self.limiter is None:
            return
        wait = self.limiter.take(device_id, count)
        if wait:
            raise RateLimited(
                f"device 0x{device_id.hex()} sends faster than {self.limiter.rate:g} readings/s; retry in {wait:.1f}s",
                retry_after=round(wait, 1),
            )

    def _verify_or_refusal(self, item: tuple[Reading, bytes]) -> VerifiedReading | ReadingRejected:
        try:
            return self.verify(*item, refresh_unknown=False)  # verify_many refreshed once already
        except ReadingRejected as exc:
            return exc

    def verify_many(
        self, items: Sequence[tuple[Reading, bytes]], max_bad: int | None = None
    ) -> list[VerifiedReading | ReadingRejected]:
        """Verifies every reading. With worker processes, the signatures are checked there and
        only the readings that fail come back here for the full check that names the reason.
        More than `max_bad` bad signatures stop the checks: `TooManyBadSignatures`."""
        if not self.registry.knows({reading.device_id for reading, _ in items}):
            self.registry.refresh(wait=False)  # once for the request, not once per unknown device; never sleeps
        pool = self._signature_pool()
        if pool is None or len(items) < 256:
            checked: list[VerifiedReading | ReadingRejected] = []
            bad = 0
            for item in items:
                checked.append(self._verify_or_refusal(item))
                bad += isinstance(checked[-1], InvalidSignature | KeyRotated)
                if max_bad is not None and bad > max_bad:
                    raise too_many_bad_signatures(max_bad)
            return checked
        results: list[VerifiedReading | ReadingRejected | None] = [None] * len(items)
        jobs: list[Job] = []
        positions: list[tuple[int, DeviceRecord]] = []
        keys: dict[bytes, tuple[DeviceRecord, KeyTuple] | ReadingRejected] = {}  # one registry lookup per device
        for index, (reading, signature) in enumerate(items):
            try:
                self._check_timestamp(reading)
            except ReadingRejected as exc:
                results[index] = exc
                continue
            known = keys.get(reading.device_id)
            if known is None:
                try:
                    device = self._device(reading.device_id, refresh=False)
                    known = (device, key_tuple(device.current_key.key))
                except ReadingRejected as exc:
                    known = exc
                keys[reading.device_id] = known
            if isinstance(known, ReadingRejected):
                results[index] = known
                continue
            jobs.append((reading.as_tuple(), signature, known[1]))
            positions.append((index, known[0]))
        for (index, device), (valid, digest, leaf) in zip(
            positions, pool.check(self.domain, jobs, max_bad), strict=True
        ):
            reading, signature = items[index]
            if not valid:
                results[index] = self._verify_or_refusal(items[index])  # names the reason, or finds a fresh key
                continue
            current = device.current_key
            try:
                self._check_dated_in_key(device, current, reading)
            except ReadingRejected as exc:
                results[index] = exc
                continue
            results[index] = VerifiedReading(reading, signature, digest, key_label(current), leaf, len(device.keys) - 1)
        return [r for r in results if r is not None]

    def ingest_many(self, items: Sequence[tuple[Reading, bytes]], max_bad: int | None = None) -> list[ItemResult]:
        """Verifies and stores a batch: every reading gets its own result; the good ones are stored
        together in one transaction, committed before this returns (nothing when more than
        `max_bad` signatures fail: `TooManyBadSignatures`)."""
        checked = self.verify_many(items, max_bad)
        results: list[ItemResult | None] = [None] * len(items)
        accepted: list[tuple[int, VerifiedReading]] = []
        per_device: dict[bytes, list[int]] = {}
        for index, outcome in enumerate(checked):
            if isinstance(outcome, ReadingRejected):
                results[index] = ItemResult("refused", error=outcome)
            else:
                per_device.setdefault(outcome.reading.device_id, []).append(index)
        for device_id, indices in per_device.items():
            try:
                self._check_rate(device_id, len(indices))
            except RateLimited as exc:
                for index in indices:
                    results[index] = ItemResult("refused", error=exc)
                continue
            accepted.extend((index, checked[index]) for index in indices)  # type: ignore[misc]
        for index, result in self._store_many(accepted).items():
            results[index] = result
        return [r if r is not None else ItemResult("refused") for r in results]

    def _store_many(self, accepted: list[tuple[int, VerifiedReading]]) -> dict[int, ItemResult]:
        for attempt in range(3):
            try:
                return self._store_many_once(accepted)
            except (IntegrityError, _CursorMoved):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _store_many_once(self, accepted: list[tuple[int, VerifiedReading]]) -> dict[int, ItemResult]:
        results: dict[int, ItemResult] = {}
        if not accepted:
            return results
        leaves = {index: "0x" + v.leaf.hex() for index, v in accepted}
        now = self.clock()
        with Session(self.engine) as session:
            existing: set[str] = set()
            unique = list(set(leaves.values()))
            for start in range(0, len(unique), 900):
                existing.update(
                    session.exec(select(StoredReading.id).where(col(StoredReading.id).in_(unique[start : start + 900])))
                )
            device_ids = {"0x" + v.reading.device_id.hex() for _, v in accepted}
            cursors = {
                (c.device_id, c.key_index): (c.last_sequence, c.last_timestamp)
                for c in session.exec(select(DeviceCursor).where(col(DeviceCursor.device_id).in_(device_ids)))
            }
            start_cursors = dict(cursors)
            rows: list[tuple[object, ...]] = []
            seen: set[str] = set()
            for index, verified in sorted(accepted, key=lambda item: item[1].reading.sequence):
                leaf = leaves[index]
                if leaf in existing or leaf in seen:
                    results[index] = ItemResult("duplicate", reading_id=leaf)
                    continue
                reading = verified.reading
                device_id = "0x" + reading.device_id.hex()
                cursor_key = (device_id, verified.key_index)
                last = cursors.get(cursor_key)
                if last is not None and reading.sequence <= last[0]:
                    results[index] = ItemResult(
                        "refused",
                        error=SequenceNotIncreasing(
                            f"sequence {reading.sequence} is not above device {device_id}'s last sequence {last[0]}",
                            last_sequence=last[0],
                        ),
                    )
                    continue
                if last is not None and self._too_early(reading.timestamp, last[1]):
                    refusal = self._time_refusal(device_id, reading.timestamp, last[1])
                    results[index] = ItemResult("refused", error=refusal)
                    continue
                cursors[cursor_key] = (reading.sequence, reading.timestamp)
                seen.add(leaf)
                rows.append(_values(verified, leaf, now))
                results[index] = ItemResult("stored", reading_id=leaf)
            for (device_id, key_index), (last_sequence, last_timestamp) in cursors.items():
                before = start_cursors.get((device_id, key_index))
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
            if rows:
                bulk_insert(session.connection(), "reading", _READING_COLUMNS, rows)
            session.commit()
        return results

    def store(self, verified: VerifiedReading) -> IngestResult:
        """Stores a verified reading, enforcing the device's increasing sequence, in one transaction.

        A concurrent request for the same device can make the first attempt collide on the
        device's cursor row; the attempt is then repeated with the row in place.
        """
        for attempt in range(3):
            try:
                return self._store_once(verified)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _store_once(self, verified: VerifiedReading) -> IngestResult:
        reading = verified.reading
        leaf = "0x" + verified.leaf.hex()
        device_id = "0x" + reading.device_id.hex()
        with Session(self.engine, expire_on_commit=False) as session:
            existing = session.get(StoredReading, leaf)
            if existing is not None:
                return IngestResult(existing, created=False)
            try:
                self._advance_cursor(session, device_id, verified.key_index, reading.sequence, reading.timestamp)
                row = StoredReading.model_validate(_row(verified, leaf, self.clock()))
                session.add(row)
                session.commit()
            except (SequenceNotIncreasing, TimestampNotIncreasing, IntegrityError):
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
        not_later = last_timestamp < timestamp if self.strict_time_order else last_timestamp <= timestamp
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
                raise SequenceNotIncreasing(
                    f"sequence {sequence} is not above device {device_id}'s last sequence {cursor.last_sequence}",
                    last_sequence=cursor.last_sequence,
                )
            raise self._time_refusal(device_id, timestamp, cursor.last_timestamp)
        session.add(
            DeviceCursor(device_id=device_id, key_index=key_index, last_sequence=sequence, last_timestamp=timestamp)
        )
        session.flush()
