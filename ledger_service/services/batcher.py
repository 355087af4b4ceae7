"""The batcher: seals stored readings into Merkle batches (`ledger_service.services.sealing`), anchors
their roots, confirms them.

Anchoring (`anchor_batch`, also run as a Celery task) first waits for the anchorer's transactions an
earlier run left pending, then asks the chain whether this batch is already anchored, so a batch
whose transaction was sent just before a crash is recorded, not anchored again. The anchor is sent as
the log's next batch (`DataNotary.anchorAs`): if an earlier copy lands first (a transaction a reorg
put back into the pool), the new one reverts and the next round finds the earlier one. The notary
itself stores nothing per root, so this is what keeps a batch from being anchored twice.

An anchored batch becomes confirmed after `confirmations` blocks (or once the chain's finalized
block reaches it), and proofs are served from then on; it is still re-checked every round until
it is final: at or below the chain's `finalized` block where the node has that tag, else
`final_depth` blocks deep. If its transaction leaves the canonical chain before that (a reorg,
anchored or confirmed alike), the batch goes back to sealed and is anchored again: its readings'
proofs then name the new transaction and block. Final batches are not looked at again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger_service.core.chain.ledger import AnchorRecord
from ledger_service.core.loops import HealthRecorder, run_loop
from ledger_service.core.models import Batch, BatchStatus
from ledger_service.services.content import ContentStore
from ledger_service.services.sealing import Sealer

log = logging.getLogger(__name__)


class Anchorer(Protocol):
    """What the batcher needs of the chain."""

    def anchor(self, root: bytes, count: int, first_ts: int, last_ts: int, content_id: str) -> AnchorRecord: ...

    def find_anchor(self, root: bytes, batch: tuple[int, int, int, str] | None = None) -> AnchorRecord | None: ...

    def anchor_depth(self, transaction_hash: str, block_hash: str) -> int | None: ...

    def finalized_block(self) -> int | None: ...

    def reset_nonce(self) -> None: ...


class Batcher(Sealer):
    """Seals (`Sealer`), anchors and confirms batches; `run_once` does one round, `run` loops until
    stopped."""

    def __init__(
        self,
        engine: Engine,
        anchorer: Anchorer,
        batch_size: int,
        batch_age: float,
        content: ContentStore,
        payload_header: dict[str, Any] | None = None,
        confirmations: int = 1,
        use_finalized: bool = False,
        final_depth: int = 64,
        recheck_every: float = 1.0,
        dispatch: Callable[[int], None] | None = None,
        redispatch_after: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(engine, content, batch_size, batch_age, payload_header, clock)
        self.anchorer = anchorer
        self.confirmations = confirmations
        self.use_finalized = use_finalized
        self.final_depth = final_depth
        self.recheck_every = recheck_every
        self._rechecked_at = float("-inf")
        self._chain_has_finalized = False
        self.dispatch = dispatch
        self.redispatch_after = redispatch_after
        self._dispatched: dict[int, float] = {}

    # Anchoring

    def sealed_ids(self) -> list[int]:
        """Ids of sealed batches, oldest first."""
        with Session(self.engine) as session:
            ids = session.exec(select(Batch.id).where(Batch.status == BatchStatus.SEALED).order_by(col(Batch.id)))
            return [int(i) for i in ids if i is not None]

    def anchor_sealed(self) -> list[int]:
        """Anchors (or dispatches the anchoring of) every sealed batch; returns their ids."""
        ids = self.sealed_ids()
        now = self.clock()
        self._dispatched = {i: t for i, t in self._dispatched.items() if i in ids}
        for batch_id in ids:
            if self.dispatch is None:
                self.anchor_batch(batch_id)
            elif now - self._dispatched.get(batch_id, float("-inf")) >= self.redispatch_after:
                self.dispatch(batch_id)  # a task that was lost (a broker restart) is sent again later
                self._dispatched[batch_id] = now
        return ids

    def anchor_batch(self, batch_id: int) -> AnchorRecord | None:
        """Anchors batch `batch_id` unless it is anchored already; idempotent."""
        with Session(self.engine) as session:
            batch = session.get(Batch, batch_id)
        if batch is None or batch.status != BatchStatus.SEALED:
            return None
        root = bytes.fromhex(batch.root[2:])
        try:
            record = self.anchorer.find_anchor(
                root, (batch.reading_count, batch.first_timestamp, batch.last_timestamp, batch.content_id)
            )
            if record is None:
                record = self.anchorer.anchor(
                    root, batch.reading_count, batch.first_timestamp, batch.last_timestamp, batch.content_id
                )
        except Exception as exc:
            self._record_failure(batch_id, exc)
            raise
        with Session(self.engine) as session:
            row = session.get(Batch, batch_id)
            assert row is not None
            row.status = BatchStatus.ANCHORED
            row.anchored_at = self.clock()
            row.chain_batch_id = record.chain_batch_id
            row.transaction_hash = record.transaction_hash
            row.block_number = record.block_number
            row.block_hash = record.block_hash
            row.last_error = None
            session.add(row)
            session.commit()
        log.info(
            "anchored batch",
            extra={
                "batch_id": batch_id,
                "root": batch.root,
                "tx": record.transaction_hash,
                "block": record.block_number,
            },
        )
        return record

    def _record_failure(self, batch_id: int, exc: Exception) -> None:
        with Session(self.engine) as session:
            row = session.get(Batch, batch_id)
            if row is not None:
                row.attempts += 1
                row.last_error = str(exc)[:1000]
                session.add(row)
                session.commit()

    # Confirming

    def confirm_anchored(self) -> list[int]:
        """Marks anchored batches confirmed when deep enough; sends reorged ones back to sealed."""
        batches = self._batches(BatchStatus.ANCHORED)
        if not batches:
            return []
        finalized = self.anchorer.finalized_block() if self.use_finalized else None
        return self._advance(
            batches,
            BatchStatus.CONFIRMED,
            lambda row, depth: (
                (finalized is not None and finalized >= (row.block_number or 0))
                or (not self.use_finalized and depth >= self.confirmations)
            ),
        )

    def finalize_confirmed(self) -> list[int]:
        """Marks confirmed batches final once the chain cannot take them back; sends those whose
        anchor left the chain back to sealed, to be anchored again. Returns the ids made final.

        Looks at most once per `recheck_every` seconds: up to `final_depth` blocks' worth of
        batches are watched, one receipt each."""
        now = self.clock()
        if now - self._rechecked_at < self.recheck_every:
            return []
        self._rechecked_at = now
        batches = self._batches(BatchStatus.CONFIRMED)
        if not batches:
            return []
        finalized = self.anchorer.finalized_block()
        if finalized is not None:
            self._chain_has_finalized = True
        elif self._chain_has_finalized:
            finalized = -1  # the node answered the tag before: a failed look decides nothing by depth
        return self._advance(
            batches,
            BatchStatus.FINAL,
            lambda row, depth: (
                (finalized is not None and finalized >= (row.block_number or 0))
                or (finalized is None and depth >= self.final_depth)
            ),
        )

    def _advance(self, batches: list[Batch], to: BatchStatus, reached: Callable[[Batch, int], bool]) -> list[int]:
        """Moves each batch (still in its status) to `to` once `reached(row, depth)`, stamping the
        time; sends one whose anchor transaction left the chain back to sealed. Returns the ids moved."""
        moved = []
        for batch in batches:
            depth = self.anchorer.anchor_depth(batch.transaction_hash or "", batch.block_hash or "")
            with Session(self.engine) as session:
                row = session.get(Batch, batch.id)
                if row is None or row.status != batch.status:
                    continue
                if depth is None:
                    self._unanchor(row)
                elif reached(row, depth):
                    row.status = to
                    if to is BatchStatus.CONFIRMED:
                        row.confirmed_at = self.clock()
                    else:
                        row.final_at = self.clock()
                    moved.append(int(row.id or 0))
                else:
                    continue
                session.add(row)
                session.commit()
        return moved

    def _batches(self, status: BatchStatus) -> list[Batch]:
        with Session(self.engine) as session:
            return list(session.exec(select(Batch).where(Batch.status == status).order_by(col(Batch.id))).all())

    def _unanchor(self, row: Batch) -> None:
        """Sends a batch whose anchor transaction left the canonical chain back to sealed."""
        log.warning(
            "anchor left the canonical chain, re-anchoring",
            extra={"batch_id": row.id, "status": row.status.value, "tx": row.transaction_hash},
        )
        row.status = BatchStatus.SEALED
        row.transaction_hash = row.block_hash = None
        row.block_number = row.chain_batch_id = None
        row.anchored_at = row.confirmed_at = None
        self.anchorer.reset_nonce()  # the dropped transaction's nonce is free again

    def run_once(self) -> None:
        """Seals what is due, anchors what is sealed, confirms what is deep enough, and re-checks
        confirmed batches until they are final."""
        self.seal_due()
        self.anchor_sealed()
        self.confirm_anchored()
        self.finalize_confirmed()

    def run(self, stop: threading.Event, poll: float) -> None:
        """Rounds `poll` seconds apart until `stop` is set, by the loop policy (`core.loops`)."""
        log.info("batcher running", extra={"batch_size": self.batch_size, "batch_age": self.batch_age})

        def step() -> bool:
            self.run_once()
            return False

        run_loop("batcher", step, stop, poll, HealthRecorder(self.engine))
