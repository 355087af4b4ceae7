"""Proof bundles: everything needed to check a reading against its anchored root, on or off chain.

The bundle format (`provenance-ledger/proof@3`) is documented in docs/proof-format.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Row, Table, bindparam, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger_service.core.chain.deploy import Deployment
from ledger_service.core.device_index import commitment, unpack
from ledger_service.core.errors import InvalidProofRequest, NotFound, NotYetAnchored
from ledger_service.core.merkle import MerkleTree, split_path, tree_paths
from ledger_service.core.models import Batch, BatchStatus, StoredReading
from ledger_service.core.multiproof import multiproof_from_paths
from ledger_service.core.readings import LEAF_TYPES, Domain, Reading, leaf_values
from ledger_service.services.registry import RegistryCache
from ledger_service.services.transparency_log import TransparencyLog

PROOF_FORMAT = "provenance-ledger/proof@3"
#: Earlier bundle formats a verifier still checks: proof@2 is proof@3 without the log section.
EARLIER_PROOF_FORMATS = ("provenance-ledger/proof@2",)
MULTIPROOF_FORMAT = "provenance-ledger/multiproof@1"
#: A reading sealed under an edge gateway's root: its path there, and upstream's bundle of the root.
EDGE_PROOF_FORMAT = "provenance-ledger/edge-proof@1"
ANCHORED = (BatchStatus.ANCHORED, BatchStatus.CONFIRMED, BatchStatus.FINAL)


#: A stored reading as the ORM loads it, or as a plain row of the `reading` table.
Stored = StoredReading | Row[Any]
_READING: Table = StoredReading.__table__  # type: ignore[attr-defined]
_BATCH: Table = Batch.__table__  # type: ignore[attr-defined]
#: Built once: a statement made afresh per request costs more than the read itself.
_READING_BY_ID = _READING.select().where(_READING.c.id == bindparam("id"))
_BATCH_BY_ID = _BATCH.select().where(_BATCH.c.id == bindparam("id"))


def _checked(reading_id: str, row: Any, batch: Any) -> tuple[Any, Any]:
    """(row, batch) when the reading exists and its batch is anchored; `NotFound` or `NotYetAnchored`."""
    if row is None:
        raise NotFound(f"no reading {reading_id}")
    if batch is None or batch.status not in ANCHORED:
        raise NotYetAnchored(
            f"reading {reading_id} is stored but not anchored yet",
            batch_status=batch.status.value if batch is not None else "pending",
        )
    return row, batch


def stored_to_reading(row: Stored) -> Reading:
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


class HeadTracker:
    """The chain's head block number, asked of the node at most once per `max_age` seconds."""

    def __init__(self, fetch: Callable[[], int], max_age: float = 1.0) -> None:
        self._fetch = fetch
        self._max_age = max_age
        self._value = 0
        self._at = float("-inf")
        self._lock = threading.Lock()

    def get(self) -> int:
        """The head, at most `max_age` seconds old."""
        with self._lock:
            if time.monotonic() - self._at > self._max_age:
                self._value = self._fetch()
                self._at = time.monotonic()
            return self._value


class ProofService:
    """Builds proof bundles from the database: the reading's row (with the sibling path stored at
    sealing) and its batch's row, two reads by primary key, never a tree rebuilt."""

    def __init__(
        self,
        engine: Engine,
        deployment: Deployment,
        domain: Domain,
        registry: RegistryCache | None = None,
        head: HeadTracker | None = None,
        log: TransparencyLog | None = None,
    ) -> None:
        self.engine = engine
        self.deployment = deployment
        self.domain = domain
        self.registry = registry
        self.head = head
        self.log = log

    @staticmethod
    def _path(session: Session, row: Stored) -> tuple[int, list[bytes]]:
        """The reading's place in its batch tree and its sibling path, as sealing stored them. A
        batch sealed without them (by a service older than the stored paths, during an upgrade)
        gets them now, once, for all its readings."""
        if row.proof is None or row.tree_index is None:
            ids = session.exec(select(StoredReading.id).where(StoredReading.batch_id == row.batch_id)).all()
            table = StoredReading.__table__  # type: ignore[attr-defined]
            leaves = [bytes.fromhex(i[2:]) for i in ids]
            batch = session.get(Batch, row.batch_id)
            if batch is not None and batch.device_index is not None:  # the index leaf, for batches with one
                leaves.append(commitment(unpack(batch.device_index)))
            paths = tree_paths(MerkleTree(leaves), list(ids))
            session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("rid"))
                .values(tree_index=bindparam("index"), proof=bindparam("path")),
                paths,
            )
            session.commit()
            mine = next(p for p in paths if p["rid"] == row.id)
            return int(mine["index"]), split_path(mine["path"])
        return row.tree_index, split_path(row.proof)

    def _anchored(self, session: Session, reading_id: str) -> tuple[StoredReading, Batch]:
        row = session.get(StoredReading, reading_id.lower())
        batch = session.get(Batch, row.batch_id) if row is not None and row.batch_id is not None else None
        return _checked(reading_id, row, batch)

    def _signing_key(self, row: Stored) -> dict[str, Any] | None:
        if self.registry is None:
            return None
        device = self.registry.get(bytes.fromhex(row.device_id[2:]))
        if device is None:
            return None
        for index, record in enumerate(device.keys):
            key = record.key
            label = key.signer if key.signer else f"p256:0x{key.x:064x}"
            if label == row.signer:
                return {
                    **key.to_json(),
                    "index": index,
                    "valid_from": record.valid_from,
                    "valid_until": record.valid_until,
                }
        return None

    def _anchor(self, batch: Batch) -> dict[str, Any]:
        depth = None
        if self.head is not None and batch.block_number is not None:
            depth = max(0, self.head.get() - batch.block_number + 1)
        return {
            "chain_id": self.deployment.chain_id,
            "genesis_hash": self.deployment.genesis_hash,
            "notary": self.deployment.address_of("DataNotary"),
            "registry": self.deployment.address_of("DeviceRegistry"),
            "batch_id": batch.chain_batch_id,
            "transaction_hash": batch.transaction_hash,
            "block_number": batch.block_number,
            "block_hash": batch.block_hash,
            "confirmations": depth,
        }

    def _batch(self, batch: Batch) -> dict[str, Any]:
        return {
            "id": batch.id,
            "status": batch.status.value,
            "content_id": batch.content_id,
            "reading_count": batch.reading_count,
            "first_timestamp": batch.first_timestamp,
            "last_timestamp": batch.last_timestamp,
        }

    def bundle(self, reading_id: str) -> dict[str, Any]:
        """The proof bundle of reading `reading_id`: two reads by key, as plain rows (no ORM)."""
        with self.engine.connect() as conn:
            row = conn.execute(_READING_BY_ID, {"id": reading_id.lower()}).first()
            batch = None
            if row is not None and row.batch_id is not None:
                batch = conn.execute(_BATCH_BY_ID, {"id": row.batch_id}).first()
        row, batch = _checked(reading_id, row, batch)
        if row.proof is None or row.tree_index is None:
            with Session(self.engine, expire_on_commit=False) as session:
                _, path = self._path(session, row)
        else:
            path = split_path(row.proof)
        return self._bundle(row, batch, path)

    def bundles(self, pairs: Sequence[tuple[Stored, Any]]) -> list[dict[str, Any]]:
        """The bundles of anchored readings read already (with their batches), as the readings
        query hands them over: no further read, unless a batch lacks its stored paths."""
        return [
            self.bundle(row.id) if row.proof is None else self._bundle(row, batch, split_path(row.proof))
            for row, batch in pairs
        ]

    def signed_reading(self, row: Stored) -> dict[str, Any]:
        """The parts of a bundle that show what the device signed: the reading, the key the registry
        copy names for it, the EIP-712 document, the digest and the leaf (docs/proof-format.md)."""
        digest = bytes.fromhex(row.digest[2:])
        signature = bytes.fromhex(row.signature[2:])
        reading = stored_to_reading(row)
        return {
            "reading": {**reading.message(), "signature": row.signature, "signer": row.signer},
            "key": self._signing_key(row),
            "eip712": reading.typed_data(self.domain),
            "digest": row.digest,
            "leaf": {
                "hash": row.id,
                "types": list(LEAF_TYPES),
                "values": ["0x" + v.hex() for v in leaf_values(digest, signature)],
            },
        }

    def _bundle(self, row: Stored, batch: Any, path: list[bytes]) -> dict[str, Any]:
        return {
            "format": PROOF_FORMAT,
            "reading_id": row.id,
            "status": batch.status.value,
            **self.signed_reading(row),
            "merkle": {
                "root": batch.root,
                "proof": ["0x" + p.hex() for p in path],
                "leaf_count": batch.reading_count,
            },
            "batch": self._batch(batch),
            "anchor": self._anchor(batch),
            "log": self._log_path(batch),
        }

    def _log_path(self, batch: Any) -> dict[str, Any] | None:
        if self.log is None or batch.chain_batch_id is None:
            return None
        return self.log.path_of(int(batch.chain_batch_id), batch.root)

    def multi(self, reading_ids: list[str]) -> dict[str, Any]:
        """One OpenZeppelin multiproof for readings that share a batch."""
        with Session(self.engine, expire_on_commit=False) as session:
            pairs = [self._anchored(session, reading_id) for reading_id in reading_ids]
            batch_ids = {batch.id for _, batch in pairs}
            if len(batch_ids) != 1:
                raise InvalidProofRequest(
                    "a multiproof covers readings of one batch; these span several", batches=sorted(batch_ids)
                )
            batch = pairs[0][1]
            entries = [(*self._path(session, row), row) for row, _ in pairs]
        proof = multiproof_from_paths([(index, bytes.fromhex(row.id[2:]), path) for index, path, row in entries])
        return {
            "format": MULTIPROOF_FORMAT,
            "root": batch.root,
            "leaves": ["0x" + leaf.hex() for leaf in proof.leaves],
            "proof": ["0x" + p.hex() for p in proof.proof],
            "proof_flags": proof.proof_flags,
            "batch": self._batch(batch),
            "anchor": self._anchor(batch),
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
        """How many readings are pending, and how many batches are in each status."""
        with Session(self.engine) as session:
            pending = session.exec(
                select(func.count()).select_from(StoredReading).where(col(StoredReading.batch_id).is_(None))
            ).one()
            by_status = dict(session.exec(select(Batch.status, func.count()).group_by(Batch.status)).all())
        return {
            "pending_readings": int(pending),
            "sealed_batches": int(by_status.get(BatchStatus.SEALED, 0)),
            "anchored_batches": int(by_status.get(BatchStatus.ANCHORED, 0)),
            "confirmed_batches": int(by_status.get(BatchStatus.CONFIRMED, 0)),
            "final_batches": int(by_status.get(BatchStatus.FINAL, 0)),
        }
