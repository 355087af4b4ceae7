"""Hierarchical aggregation: the gateway seals the readings it holds into its own Merkle tree and
signs the root as a reading of its own (metric `edge.root`, value the leaf count, payloadHash the
root), which goes upstream in their place and is anchored there as one leaf. A reading's proof then
chains its path to the gateway root, the root reading's path upstream, and the anchor (docs/edge.md).

The tree is the service's (`core.merkle`, leaves the reading ids), so the path is checked exactly as
an upstream path is. It seals only while its registry copy is fresh, and checks each reading again
against it first, as upstream's intake would on arrival: a reading whose device was revoked or whose
key was rotated out while the gateway was cut off is refused here (recorded with its code), never
sealed into a proof that would fail.

Order of writes, for crashes: the root reading is stored (and so will be forwarded) before its
members are marked aggregated; a crash in between leaves a root with no members recorded, which is
forwarded and anchored but proves nothing, and the readings are sealed again into the next root. No
reading is ever marked aggregated without its root being kept; a root upstream refuses for good
releases its readings to be sealed again (`EdgeStore.mark`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from edge.store import EdgeStore
from ledger_service.core.errors import ProvenanceError, ReadingRejected
from ledger_service.core.keys import DeviceKey
from ledger_service.core.merkle import MerkleTree, tree_paths
from ledger_service.core.readings import GATEWAY_ROOT_METRIC, Domain, Reading
from ledger_service.services.ingest import Ingestor
from ledger_service.services.proofs import stored_to_reading
from provenance_device.outcome import RETRYABLE_CODES

log = logging.getLogger(__name__)
ROOT_UNIT = "readings"

# Readings of devices (not of any id this gateway signed roots as) in no root yet, not forwarded alone.
_UNSEALED = text(
    "SELECT r.* FROM reading r WHERE r.device_id NOT IN (SELECT device_id FROM edge_identity)"
    " AND NOT EXISTS (SELECT 1 FROM edge_forwarded f WHERE f.reading_id = r.id) ORDER BY r.rowid LIMIT :limit"
)
# A sealed reading counts as answered (status `aggregated`, detail its root): never forwarded alone.
_MARK = text("INSERT OR IGNORE INTO edge_forwarded VALUES (:id, 'aggregated', NULL, :root, :at)")
_REFUSE = text("INSERT OR IGNORE INTO edge_forwarded VALUES (:id, 'refused', :code, :detail, :at)")
_LAST_SEQUENCE = text("SELECT max(sequence) FROM reading WHERE device_id = :gateway")


class AggregationPaused(ProvenanceError):
    """The gateway's root reading was refused by its own checks (its key not in the registry copy yet,
    say): nothing is sealed, and the loop tries again."""

    code = "aggregation-paused"
    status = 503
    title = "Aggregation paused"
    retryable = True


@dataclass(frozen=True)
class Sealed:
    """One gateway root."""

    root: str
    root_reading_id: str
    reading_count: int
    refused: int = 0


class Aggregator:
    """Seals the gateway's held readings into signed roots."""

    def __init__(self, store: EdgeStore, ingestor: Ingestor, domain: Domain, key: DeviceKey, gateway_id: bytes,
                 fresh: Callable[[], bool], max_readings: int = 10_000) -> None:  # fmt: skip
        self.store = store
        self.engine: Engine = store.engine
        self.ingestor = ingestor
        self.domain = domain
        self.key = key
        self.gateway_id = "0x" + gateway_id.hex()
        self.fresh = fresh
        self.max_readings = max_readings
        store.add_identity(self.gateway_id)

    def seal_once(self) -> Sealed | None:
        """Seals up to `max_readings` held readings under one signed root; None when none wait, or
        while the registry copy is not fresh (the readings wait)."""
        if not self.fresh():
            return None
        with self.engine.connect() as connection:
            rows = connection.execute(_UNSEALED, {"limit": self.max_readings}).all()
            last = connection.execute(_LAST_SEQUENCE, {"gateway": self.gateway_id}).scalar()
        ids, refused = self._checked(rows)
        if not ids:
            return None
        tree = MerkleTree([bytes.fromhex(i[2:]) for i in ids])
        own = bytes.fromhex(self.gateway_id[2:])
        sequence, now = (last or 0) + 1, int(time.time())
        reading = Reading(own, sequence, now, GATEWAY_ROOT_METRIC, len(ids), 0, ROOT_UNIT, tree.root)
        [result] = self.ingestor.ingest_many([(reading, self.key.sign(reading.digest(self.domain)))])
        if result.error is not None or result.reading_id is None:  # the gateway's own key is not registered
            detail = f"{result.error.code}: {result.error.detail}" if result.error else "not stored"
            raise AggregationPaused(f"the gateway's root reading was refused: {detail}")
        root = "0x" + tree.root.hex()
        at = time.time()
        with self.engine.begin() as connection:  # the same readings sealed again after a crash: the same root
            connection.execute(text("INSERT OR REPLACE INTO edge_aggregate VALUES (:root, :rid, :count, :at)"),
                               {"root": root, "rid": result.reading_id, "count": len(ids), "at": at})  # fmt: skip
            connection.execute(text("INSERT OR REPLACE INTO edge_member VALUES (:rid, :root, :index, :path)"),
                               [{**p, "root": root} for p in tree_paths(tree, ids)])  # fmt: skip
            connection.execute(_MARK, [{"id": i, "root": root, "at": at} for i in ids])
        log.info("readings sealed under a gateway root", extra={"root": root, "readings": len(ids)})
        return Sealed(root, result.reading_id, len(ids), refused)

    def _checked(self, rows: Sequence[Any]) -> tuple[list[str], int]:
        """The ids of the readings that pass upstream's intake checks now; the others that never will
        are recorded as refused here (those that may pass later wait)."""
        items = [(stored_to_reading(row), bytes.fromhex(row.signature[2:])) for row in rows]
        outcomes = self.ingestor.checks.verify_many(items) if items else []
        passed, refusals = [], []
        for row, outcome in zip(rows, outcomes, strict=True):
            if not isinstance(outcome, ReadingRejected):
                passed.append(str(row.id))
            elif outcome.code not in RETRYABLE_CODES:
                refusals.append({"id": row.id, "code": outcome.code, "detail": f"at sealing: {outcome.detail}",
                                 "at": time.time()})  # fmt: skip
        if refusals:
            with self.engine.begin() as connection:
                connection.execute(_REFUSE, refusals)
            log.warning("readings refused at sealing", extra={"count": len(refusals), "code": refusals[0]["code"]})
        return passed, len(refusals)

    def step(self) -> bool:
        """One sealing, as a step of `core.loops.run_loop`: True (go again at once) when a full root
        was sealed and more may wait."""
        sealed = self.seal_once()
        return sealed is not None and sealed.reading_count + sealed.refused >= self.max_readings
