"""Proof bundles: everything needed to check a reading against its anchored root, on or off chain."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger_service.chain.deploy import Deployment
from ledger_service.errors import NotFound, NotYetAnchored
from ledger_service.merkle import MerkleTree
from ledger_service.models import Batch, BatchStatus, StoredReading
from ledger_service.readings import LEAF_TYPES, Domain, Reading, leaf_values

PROOF_FORMAT = "provenance-ledger/proof@1"


def stored_to_reading(row: StoredReading) -> Reading:
    """The signed reading a stored row holds."""
    return Reading(
        device_id=bytes.fromhex(row.device_id[2:]),
        sequence=row.sequence,
        timestamp=row.timestamp,
        metric=row.metric,
        value=int(row.value),
        scale=row.scale,
        unit=row.unit,
        payload_hash=bytes.fromhex(row.payload_hash[2:]),
    )


class ProofService:
    """Builds proof bundles from the database, keeping the trees of recent batches in memory."""

    def __init__(self, engine: Engine, deployment: Deployment, domain: Domain, cache_size: int = 32) -> None:
        self.engine = engine
        self.deployment = deployment
        self.domain = domain
        self._trees: OrderedDict[int, MerkleTree] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _tree(self, session: Session, batch_id: int) -> MerkleTree:
        with self._lock:
            tree = self._trees.get(batch_id)
            if tree is not None:
                self._trees.move_to_end(batch_id)
                return tree
        ids = session.exec(select(StoredReading.id).where(StoredReading.batch_id == batch_id)).all()
        tree = MerkleTree([bytes.fromhex(i[2:]) for i in ids])
        with self._lock:
            self._trees[batch_id] = tree
            while len(self._trees) > self._cache_size:
                self._trees.popitem(last=False)
        return tree

    def bundle(self, reading_id: str) -> dict[str, Any]:
        """The proof bundle of reading `reading_id`."""
        with Session(self.engine) as session:
            row = session.get(StoredReading, reading_id.lower())
            if row is None:
                raise NotFound(f"no reading {reading_id}")
            batch = session.get(Batch, row.batch_id) if row.batch_id is not None else None
            if batch is None or batch.status != BatchStatus.ANCHORED:
                raise NotYetAnchored(
                    f"reading {reading_id} is stored but not anchored yet",
                    batch_status=batch.status.value if batch else "pending",
                )
            tree = self._tree(session, int(batch.id or 0))
        leaf = bytes.fromhex(row.id[2:])
        digest = bytes.fromhex(row.digest[2:])
        signature = bytes.fromhex(row.signature[2:])
        reading = stored_to_reading(row)
        return {
            "format": PROOF_FORMAT,
            "reading_id": row.id,
            "reading": {**reading.message(), "signature": row.signature, "signer": row.signer},
            "eip712": reading.typed_data(self.domain),
            "digest": row.digest,
            "leaf": {
                "hash": row.id,
                "types": list(LEAF_TYPES),
                "values": ["0x" + v.hex() for v in leaf_values(digest, signature)],
            },
            "merkle": {
                "root": batch.root,
                "proof": ["0x" + p.hex() for p in tree.proof(leaf)],
                "leaf_count": batch.reading_count,
            },
            "anchor": {
                "chain_id": self.deployment.chain_id,
                "genesis_hash": self.deployment.genesis_hash,
                "notary": self.deployment.address_of("DataNotary"),
                "registry": self.deployment.address_of("DeviceRegistry"),
                "batch_id": batch.chain_batch_id,
                "transaction_hash": batch.transaction_hash,
                "block_number": batch.block_number,
                "first_timestamp": batch.first_timestamp,
                "last_timestamp": batch.last_timestamp,
            },
        }

    def status(self, reading_id: str) -> tuple[StoredReading, Batch | None]:
        """The stored reading and its batch, if any."""
        with Session(self.engine) as session:
            row = session.get(StoredReading, reading_id.lower())
            if row is None:
                raise NotFound(f"no reading {reading_id}")
            batch = session.get(Batch, row.batch_id) if row.batch_id is not None else None
            return row, batch

    def counts(self) -> dict[str, int]:
        """How many readings are pending, and how many batches are sealed or anchored."""
        with Session(self.engine) as session:
            pending = session.exec(
                select(func.count()).select_from(StoredReading).where(col(StoredReading.batch_id).is_(None))
            ).one()
            by_status = dict(session.exec(select(Batch.status, func.count()).group_by(Batch.status)).all())
        return {
            "pending_readings": int(pending),
            "sealed_batches": int(by_status.get(BatchStatus.SEALED, 0)),
            "anchored_batches": int(by_status.get(BatchStatus.ANCHORED, 0)),
        }
