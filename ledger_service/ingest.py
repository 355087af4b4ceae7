"""Ingest: verify a signed reading against the device registry, then store it durably.

A reading is acknowledged only after its row is committed. Posting the same signed reading again
is answered with the stored one and stores nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ledger_service.errors import InvalidSignature, SequenceConflict, UnknownDevice
from ledger_service.models import StoredReading
from ledger_service.readings import Domain, Reading, SignatureError, reading_leaf, recover_signer

log = logging.getLogger(__name__)


class DeviceDirectory:
    """Answers "which key signs for this device?", remembering what the registry said.

    Registered devices are cached; unknown ids are asked again each time, so a device registered
    a moment ago is accepted at once.
    """

    def __init__(self, lookup: Callable[[bytes], str | None]) -> None:
        self._lookup = lookup
        self._signers: dict[bytes, str] = {}
        self._lock = threading.Lock()

    def signer_of(self, device_id: bytes) -> str | None:
        """The signing address of `device_id`, or None when it is not registered."""
        with self._lock:
            cached = self._signers.get(device_id)
        if cached is not None:
            return cached
        signer = self._lookup(device_id)
        if signer is not None:
            with self._lock:
                self._signers[device_id] = signer
        return signer


@dataclass(frozen=True)
class IngestResult:
    """What happened to one reading."""

    reading: StoredReading
    created: bool


class Ingestor:
    """Verifies and stores readings."""

    def __init__(
        self, engine: Engine, domain: Domain, devices: DeviceDirectory, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.domain = domain
        self.devices = devices
        self.clock = clock

    def verify(self, reading: Reading, signature: bytes) -> tuple[bytes, str]:
        """Checks the signature against the registry; returns the digest and the signer."""
        signer = self.devices.signer_of(reading.device_id)
        if signer is None:
            raise UnknownDevice(f"device 0x{reading.device_id.hex()} is not registered", device_id=reading.device_id)
        digest = reading.digest(self.domain)
        try:
            recovered = recover_signer(digest, signature)
        except SignatureError as exc:
            raise InvalidSignature(str(exc)) from exc
        if recovered != signer:
            raise InvalidSignature(
                f"signature is by {recovered}, not by the key registered for device 0x{reading.device_id.hex()}"
            )
        return digest, signer

    def ingest(self, reading: Reading, signature: bytes) -> IngestResult:
        """Verifies `reading` and stores it; returns the stored row and whether it is new."""
        digest, signer = self.verify(reading, signature)
        leaf = "0x" + reading_leaf(digest, signature).hex()
        with Session(self.engine, expire_on_commit=False) as session:
            existing = session.get(StoredReading, leaf)
            if existing is not None:
                return IngestResult(existing, created=False)
            row = StoredReading(
                id=leaf,
                device_id="0x" + reading.device_id.hex(),
                sequence=reading.sequence,
                timestamp=reading.timestamp,
                metric=reading.metric,
                value=str(reading.value),
                scale=reading.scale,
                unit=reading.unit,
                payload_hash="0x" + reading.payload_hash.hex(),
                digest="0x" + digest.hex(),
                signature="0x" + signature.hex(),
                signer=signer,
                received_at=self.clock(),
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return self._after_conflict(session, leaf, reading)
        log.debug("stored reading", extra={"reading_id": leaf, "device_id": row.device_id})
        return IngestResult(row, created=True)

    def _after_conflict(self, session: Session, leaf: str, reading: Reading) -> IngestResult:
        existing = session.get(StoredReading, leaf)
        if existing is not None:  # the same reading, stored by a concurrent request
            return IngestResult(existing, created=False)
        device_id = "0x" + reading.device_id.hex()
        other = session.exec(
            select(StoredReading).where(
                StoredReading.device_id == device_id, StoredReading.sequence == reading.sequence
            )
        ).first()
        raise SequenceConflict(
            f"device {device_id} already has a different reading with sequence {reading.sequence}",
            existing_id=other.id if other else None,
        )
