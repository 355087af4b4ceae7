"""Hierarchical aggregation: the gateway seals the readings it holds into its own Merkle tree and
signs the root as a reading of its own (metric `edge.root`, value the leaf count, payloadHash the
root), which goes upstream in their place and is anchored there as one leaf. A reading's proof then
chains its path to the gateway root, the root reading's path upstream, and the anchor (docs/edge.md).

The tree is the service's (`core.merkle`, leaves the reading ids), so the path is checked exactly as
an upstream path is. It seals only while its registry copy is fresh, and checks each reading again
against it first, as upstream's intake would on arrival: a reading whose device was revoked or whose
key was rotated out while the gateway was cut off is refused here (recorded with its code), never
sealed into a proof that would fail.

Order of writes, for crashes and refusals: the root, its members and their `aggregated` marks are
written in one transaction before the root reading is stored, so that whenever the forwarder can see
a root, its members are there to release if upstream refuses it for good (`EdgeStore.mark`). A crash
(or a refusal by the gateway's own checks) between the two leaves a root whose reading was never
stored: each sealing first releases such roots, and their readings are sealed again. A root refused
by the gateway's own checks for good (its key rotated out, its device revoked or not a gateway) makes
the gateway fall back to forwarding each reading, so nothing acknowledged waits for a root that can
never be made."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from edge.store import EdgeStore
from ledger_service.core.errors import ProvenanceError, ReadingRejected
from ledger_service.core.keys import DeviceKey
from ledger_service.core.merkle import MerkleTree, tree_paths
from ledger_service.core.readings import GATEWAY_ROOT_METRIC, Domain, Reading, reading_leaf
from ledger_service.services.ingest import Ingestor
from ledger_service.services.proofs import stored_to_reading
from provenance_device.outcome import RETRYABLE_CODES

log = logging.getLogger(__name__)
ROOT_UNIT = "readings"

# Readings of devices (not of any id this gateway signed roots as) in no root yet, not forwarded alone.
_UNSEALED_SQL = (
    "SELECT r.* FROM reading r WHERE NOT EXISTS (SELECT 1 FROM edge_identity i WHERE i.device_id = r.device_id)"
    " AND NOT EXISTS (SELECT 1 FROM edge_forwarded f WHERE f.reading_id = r.id)"
)
_UNSEALED = text(_UNSEALED_SQL + " ORDER BY r.rowid LIMIT :limit")
_UNSEALED_SKIPPING = text(_UNSEALED_SQL + " AND r.device_id NOT IN :skip ORDER BY r.rowid LIMIT :limit").bindparams(
    bindparam("skip", expanding=True)
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
        #: Why aggregation stopped for good (the gateway's own root refused): each reading is forwarded.
        self.fallen_back: str | None = None
        store.add_identity(self.gateway_id)

    def seal_once(self) -> Sealed | None:
        """Seals up to `max_readings` held readings under one signed root; None when none wait, or
        while the registry copy is not fresh (the readings wait), or after aggregation fell back."""
        if self.fallen_back is not None or not self.fresh():
            return None
        self.store.release_dangling()  # roots a crash left unstored: their readings are sealed again
        ids, refused = self._sealable()
        if not ids:
            return None
        with self.engine.connect() as connection:
            last = connection.execute(_LAST_SEQUENCE, {"gateway": self.gateway_id}).scalar()
        tree = MerkleTree([bytes.fromhex(i[2:]) for i in ids])
        own = bytes.fromhex(self.gateway_id[2:])
        sequence, now = (last or 0) + 1, int(time.time())
        reading = Reading(own, sequence, now, GATEWAY_ROOT_METRIC, len(ids), 0, ROOT_UNIT, tree.root)
        signature = self.key.sign(reading.digest(self.domain))
        root, root_id = "0x" + tree.root.hex(), "0x" + reading_leaf(reading.digest(self.domain), signature).hex()
        # The members are written before the root reading is stored, so that when the forwarder can
        # see the root (and upstream may refuse it) its members are there to release.
        at = time.time()
        with self.engine.begin() as connection:  # the same readings sealed again after a crash: the same root
            connection.execute(text("INSERT OR REPLACE INTO edge_aggregate VALUES (:root, :rid, :count, :at)"),
                               {"root": root, "rid": root_id, "count": len(ids), "at": at})  # fmt: skip
            connection.execute(text("INSERT OR REPLACE INTO edge_member VALUES (:rid, :root, :index, :path)"),
                               [{**p, "root": root} for p in tree_paths(tree, ids)])  # fmt: skip
            connection.execute(_MARK, [{"id": i, "root": root, "at": at} for i in ids])
        [result] = self.ingestor.ingest_many([(reading, signature)])
        if result.error is not None or result.reading_id != root_id:
            self.store.release_dangling()
            self._refused_own(result.error)
        log.info("readings sealed under a gateway root", extra={"root": root, "readings": len(ids)})
        return Sealed(root, root_id, len(ids), refused)

    def _refused_own(self, error: ReadingRejected | None) -> None:
        """The gateway's own root was refused by its own checks. For now (not synced yet): try again.
        For good (its key rotated out, the device revoked or not a gateway): fall back to forwarding
        each reading, so that nothing it acknowledged waits for a root that can never be made."""
        detail = f"{error.code}: {error.detail}" if error else "not stored"
        if error is not None and error.code not in RETRYABLE_CODES:
            self.fallen_back = detail
            self.store.aggregating = False
            self.store.mark([], 0)  # the forwarder looks again from the first reading
            log.error("aggregation stopped: the gateway's own root is refused; forwarding each reading",
                      extra={"error": detail})  # fmt: skip
        raise AggregationPaused(f"the gateway's root reading was refused: {detail}")

    def _sealable(self) -> tuple[list[str], int]:
        """The oldest held readings that pass upstream's intake checks now (devices with a reading
        that may pass only later are skipped, so they hold up no one), and how many were refused."""
        with self.engine.connect() as connection:
            rows = connection.execute(_UNSEALED, {"limit": self.max_readings}).all()
        passed, refused, waiting = self._checked(rows)
        if waiting:
            with self.engine.connect() as connection:
                params = {"limit": self.max_readings, "skip": sorted(waiting)}
                rows = connection.execute(_UNSEALED_SKIPPING, params).all()
            passed, more, _ = self._checked(rows)
            refused += more
        return passed, refused

    def _checked(self, rows: Sequence[Any]) -> tuple[list[str], int, set[str]]:
        """The ids of the readings that pass upstream's intake checks now; the others that never will
        are recorded as refused here; the devices of those that may pass later (they wait)."""
        items = [(stored_to_reading(row), bytes.fromhex(row.signature[2:])) for row in rows]
        outcomes = self.ingestor.checks.verify_many(items) if items else []
        passed, refusals, waiting = [], [], set()
        for row, outcome in zip(rows, outcomes, strict=True):
            if not isinstance(outcome, ReadingRejected):
                passed.append(str(row.id))
            elif outcome.code not in RETRYABLE_CODES:
                refusals.append({"id": row.id, "code": outcome.code, "detail": f"at sealing: {outcome.detail}",
                                 "at": time.time()})  # fmt: skip
            else:
                waiting.add(str(row.device_id))
        if refusals:
            with self.engine.begin() as connection:
                connection.execute(_REFUSE, refusals)
            log.warning("readings refused at sealing", extra={"count": len(refusals), "code": refusals[0]["code"]})
        return passed, len(refusals), waiting

    def step(self) -> bool:
        """One sealing, as a step of `core.loops.run_loop`: True (go again at once) when a full root
        was sealed and more may wait."""
        sealed = self.seal_once()
        return sealed is not None and sealed.reading_count + sealed.refused >= self.max_readings
