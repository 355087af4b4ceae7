"""Hierarchical aggregation: the gateway seals the readings it holds into its own Merkle tree and
signs the root as a reading of its own (metric `edge.root`, value the leaf count, payloadHash the
root), which goes upstream in their place and is anchored there as one leaf. A reading's proof then
chains its path to the gateway root, the root reading's path upstream, and the anchor (docs/edge.md).

The tree is the service's (`core.merkle`, leaves the reading ids), so the path is checked exactly as
an upstream path is. Order of writes, for crashes: the root reading is stored (and so will be
forwarded) before its members are marked aggregated; a crash in between leaves a root with no
members recorded, which is forwarded and anchored but proves nothing, and the readings are sealed
again into the next root. No reading is ever marked aggregated without its root being kept."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ledger_service.core.errors import ProvenanceError
from ledger_service.core.keys import DeviceKey
from ledger_service.core.merkle import MerkleTree, split_path, tree_paths
from ledger_service.core.readings import GATEWAY_ROOT_METRIC, Domain, Reading
from ledger_service.services.ingest import Ingestor

log = logging.getLogger(__name__)
ROOT_UNIT = "readings"

_TABLES = (
    "CREATE TABLE IF NOT EXISTS edge_aggregate (root VARCHAR(66) PRIMARY KEY, root_reading_id VARCHAR(66) NOT NULL,"
    " reading_count INTEGER NOT NULL, sealed_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS edge_member (reading_id VARCHAR(66) PRIMARY KEY, root VARCHAR(66) NOT NULL,"
    " tree_index INTEGER NOT NULL, path BLOB NOT NULL)",
)
# Readings of other devices that are in no root yet and were not forwarded one by one.
_UNSEALED = text(
    "SELECT r.id FROM reading r WHERE r.device_id != :gateway"
    " AND NOT EXISTS (SELECT 1 FROM edge_forwarded f WHERE f.reading_id = r.id) ORDER BY r.rowid LIMIT :limit"
)
# A sealed reading counts as answered (status `aggregated`, detail its root): never forwarded alone.
_MARK = text("INSERT OR IGNORE INTO edge_forwarded VALUES (:id, 'aggregated', NULL, :root, :at)")
_LAST_SEQUENCE = text("SELECT max(sequence) FROM reading WHERE device_id = :gateway")
_MEMBER = text(
    "SELECT m.root, m.tree_index, m.path, a.root_reading_id, a.reading_count FROM edge_member m"
    " JOIN edge_aggregate a ON a.root = m.root WHERE m.reading_id = :id"
)


class AggregationPaused(ProvenanceError):
    """The gateway's root reading was refused by its own checks (its key not in the registry copy yet,
    say): nothing is sealed, and the loop tries again."""

    code = "aggregation-paused"
    status = 503
    title = "Aggregation paused"
    retryable = True


@dataclass(frozen=True)
class Membership:
    """Where a reading sits in a gateway root, and which of the gateway's readings carries that root."""

    root: str
    tree_index: int
    path: list[bytes]
    root_reading_id: str
    reading_count: int


@dataclass(frozen=True)
class Sealed:
    """One gateway root."""

    root: str
    root_reading_id: str
    reading_count: int


class Aggregator:
    """Seals the gateway's held readings into signed roots."""

    def __init__(self, engine: Engine, ingestor: Ingestor, domain: Domain, key: DeviceKey, gateway_id: bytes,
                 max_readings: int = 10_000) -> None:  # fmt: skip
        self.engine = engine
        self.ingestor = ingestor
        self.domain = domain
        self.key = key
        self.gateway_id = "0x" + gateway_id.hex()
        self.max_readings = max_readings
        with engine.begin() as connection:
            for statement in _TABLES:
                connection.exec_driver_sql(statement)

    def seal_once(self) -> Sealed | None:
        """Seals up to `max_readings` held readings under one signed root; None when none wait."""
        with self.engine.connect() as connection:
            ids = [row[0] for row in connection.execute(_UNSEALED, {"gateway": self.gateway_id,
                                                                   "limit": self.max_readings})]  # fmt: skip
            last = connection.execute(_LAST_SEQUENCE, {"gateway": self.gateway_id}).scalar()
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
        return Sealed(root, result.reading_id, len(ids))

    def step(self) -> bool:
        """One sealing, as a step of `core.loops.run_loop`: True (go again at once) when a full root
        was sealed and more may wait."""
        sealed = self.seal_once()
        return sealed is not None and sealed.reading_count == self.max_readings

    def membership(self, reading_id: str) -> Membership | None:
        """The root a reading was sealed under, and its path there; None if it is in no root."""
        with self.engine.connect() as connection:
            row = connection.execute(_MEMBER, {"id": reading_id.lower()}).first()
        if row is None:
            return None
        return Membership(row.root, int(row.tree_index), split_path(bytes(row.path)), row.root_reading_id,
                          int(row.reading_count))  # fmt: skip
