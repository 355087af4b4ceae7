"""The batcher: seals stored readings into Merkle batches and anchors their roots on chain.

A batch is sealed when the unbatched readings reach `batch_size` or the oldest of them is
`batch_age` seconds old. Sealing (tree, root, batch row, reading assignment) is one database
transaction. Anchoring first asks the chain whether the root is already anchored, so a batch
whose transaction was sent just before a crash is recorded, never anchored twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select, update

from ledger_service.chain.ledger import AnchorRecord
from ledger_service.errors import ProvenanceError
from ledger_service.merkle import MerkleTree
from ledger_service.models import Batch, BatchStatus, StoredReading

log = logging.getLogger(__name__)


class Anchorer(Protocol):
    """What the batcher needs of the chain."""

    def anchor(self, root: bytes, count: int, first_ts: int, last_ts: int, content_id: str) -> AnchorRecord: ...

    def find_anchor(self, root: bytes) -> AnchorRecord | None: ...


class Batcher:
    """Seals and anchors batches; `run_once` does one round, `run` loops until stopped."""

    def __init__(
        self,
        engine: Engine,
        anchorer: Anchorer,
        batch_size: int,
        batch_age: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.anchorer = anchorer
        self.batch_size = batch_size
        self.batch_age = batch_age
        self.clock = clock

    def seal_due(self) -> list[int]:
        """Seals every batch that is due; returns the new batch ids."""
        sealed = []
        while (batch_id := self._seal_one()) is not None:
            sealed.append(batch_id)
        return sealed

    def _seal_one(self) -> int | None:
        with Session(self.engine) as session:
            pending, oldest = session.exec(
                select(func.count(), func.min(StoredReading.received_at)).where(col(StoredReading.batch_id).is_(None))
            ).one()
            if not pending:
                return None
            if pending < self.batch_size and self.clock() - float(oldest) < self.batch_age:
                return None
            rows = session.exec(
                select(StoredReading.id, StoredReading.timestamp)
                .where(col(StoredReading.batch_id).is_(None))
                .order_by(col(StoredReading.received_at), col(StoredReading.id))
                .limit(self.batch_size)
            ).all()
            tree = MerkleTree([bytes.fromhex(reading_id[2:]) for reading_id, _ in rows])
            timestamps = [ts for _, ts in rows]
            batch = Batch(
                root="0x" + tree.root.hex(),
                reading_count=len(rows),
                first_timestamp=min(timestamps),
                last_timestamp=max(timestamps),
                sealed_at=self.clock(),
            )
            session.add(batch)
            session.flush()
            session.exec(
                update(StoredReading)
                .where(col(StoredReading.id).in_([reading_id for reading_id, _ in rows]))
                .values(batch_id=batch.id)
            )
            session.commit()
            log.info("sealed batch", extra={"batch_id": batch.id, "readings": len(rows), "root": batch.root})
            return batch.id

    def anchor_sealed(self) -> list[int]:
        """Anchors every sealed batch, oldest first; returns the ids anchored in this call."""
        with Session(self.engine) as session:
            batches = session.exec(
                select(Batch).where(Batch.status == BatchStatus.SEALED).order_by(col(Batch.id))
            ).all()
        anchored = []
        for batch in batches:
            self._anchor(batch)
            anchored.append(int(batch.id or 0))
        return anchored

    def _anchor(self, batch: Batch) -> None:
        root = bytes.fromhex(batch.root[2:])
        try:
            record = self.anchorer.find_anchor(root)
            if record is None:
                record = self.anchorer.anchor(
                    root, batch.reading_count, batch.first_timestamp, batch.last_timestamp, batch.content_id
                )
        except Exception as exc:
            self._record_failure(batch, exc)
            raise
        with Session(self.engine) as session:
            row = session.get(Batch, batch.id)
            assert row is not None
            row.status = BatchStatus.ANCHORED
            row.anchored_at = self.clock()
            row.chain_batch_id = record.chain_batch_id
            row.transaction_hash = record.transaction_hash
            row.block_number = record.block_number
            row.last_error = None
            session.add(row)
            session.commit()
        log.info(
            "anchored batch",
            extra={
                "batch_id": batch.id,
                "root": batch.root,
                "tx": record.transaction_hash,
                "block": record.block_number,
            },
        )

    def _record_failure(self, batch: Batch, exc: Exception) -> None:
        with Session(self.engine) as session:
            row = session.get(Batch, batch.id)
            if row is not None:
                row.attempts += 1
                row.last_error = str(exc)[:1000]
                session.add(row)
                session.commit()

    def run_once(self) -> None:
        """Seals what is due and anchors what is sealed."""
        self.seal_due()
        self.anchor_sealed()

    def run(self, stop: threading.Event, poll: float) -> None:
        """Loops until `stop` is set, then finishes the round it is in."""
        log.info("batcher running", extra={"batch_size": self.batch_size, "batch_age": self.batch_age})
        backoff = poll
        while not stop.is_set():
            try:
                self.run_once()
                backoff = poll
            except ProvenanceError as exc:
                backoff = min(backoff * 2, 30.0)
                log.warning("batcher round failed", extra={"error": str(exc), "retry_in": backoff})
            except Exception:  # noqa: BLE001 - the loop must survive a failed round and retry
                backoff = min(backoff * 2, 30.0)
                log.exception("batcher round failed", extra={"retry_in": backoff})
            stop.wait(backoff)
        log.info("batcher stopped")
