"""Sealing: the unbatched readings become a batch once there are `batch_size` of them or the oldest
is `batch_age` seconds old. Sealing builds the Merkle tree, writes the batch payload (every reading,
in canonical JSON) to the content store, and records the batch and its readings in one database
transaction; each reading keeps its place in the tree and its sibling path (`tree_paths`). The tree
also holds the batch's device index leaf (`ledger_service.core.device_index`), whose entries and
path are kept with the batch."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ledger_service.core.device_index import Entry, build_entries, commitment, pack
from ledger_service.core.errors import SealingRaced
from ledger_service.core.merkle import MerkleTree, tree_paths
from ledger_service.core.models import Batch, StoredReading
from ledger_service.core.readings import LEAF_TYPES
from ledger_service.services.content import ContentStore

log = logging.getLogger(__name__)

PAYLOAD_FORMAT = "provenance-ledger/batch@2"


def batch_payload(header: dict[str, Any], root: str, rows: Sequence[Any], index: Sequence[Entry] = ()) -> bytes:
    """The batch payload: every reading of the batch (rows with the `reading` table's columns),
    sorted by id, as canonical JSON (sorted keys,
    no spaces, UTF-8; `value` as a decimal string so no reader loses precision)."""
    readings = [
        {
            "id": row.id,
            "device_id": row.device_id,
            "key_index": row.key_index,
            "sequence": row.sequence,
            "timestamp": row.timestamp,
            "metric": row.metric,
            "value": row.value,
            "scale": row.scale,
            "unit": row.unit,
            "payload_hash": row.payload_hash,
            "signature": row.signature,
            "signer": row.signer,
        }
        for row in sorted(rows, key=lambda r: r.id)
    ]
    document = {**header, "format": PAYLOAD_FORMAT, "leaf_types": list(LEAF_TYPES), "root": root, "readings": readings,
                "device_index": ["0x" + e.encode().hex() for e in index]}  # fmt: skip
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Sealer:
    """Seals due batches from the stored readings."""

    def __init__(
        self,
        engine: Engine,
        content: ContentStore,
        batch_size: int,
        batch_age: float,
        payload_header: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.content = content
        self.batch_size = batch_size
        self.batch_age = batch_age
        self.payload_header = payload_header or {}
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
            table = StoredReading.__table__  # type: ignore[attr-defined]
            claim = (
                select(table)
                .where(table.c.batch_id.is_(None))
                .order_by(table.c.received_at, table.c.id)
                .limit(self.batch_size)
            )
            if self.engine.dialect.name == "postgresql":  # another batcher's claimed rows are passed over
                claim = claim.with_for_update(skip_locked=True)
            rows = list(session.execute(claim).all())  # plain rows, not ORM objects: a batch can hold thousands
            if not rows:
                return None
            entries = build_entries(rows)
            committed = commitment(entries)
            tree = MerkleTree([bytes.fromhex(row.id[2:]) for row in rows] + [committed])
            root = "0x" + tree.root.hex()
            content_id = self.content.put(batch_payload(self.payload_header, root, rows, entries))
            timestamps = [row.timestamp for row in rows]
            batch = Batch(
                root=root,
                reading_count=len(rows),
                first_timestamp=min(timestamps),
                last_timestamp=max(timestamps),
                content_id=content_id,
                sealed_at=self.clock(),
                device_index=pack(entries),
                index_proof=b"".join(tree.proof(committed)),
            )
            session.add(batch)
            try:
                session.flush()
            except IntegrityError as exc:  # the same readings, so the same root: another batcher sealed them
                session.rollback()
                raise SealingRaced(f"batch {root} was sealed by another batcher") from exc
            session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("rid"), table.c.batch_id.is_(None))
                .values(batch_id=batch.id, tree_index=bindparam("index"), proof=bindparam("path")),
                tree_paths(tree, [row.id for row in rows]),
            )
            claimed = session.exec(select(func.count()).where(col(StoredReading.batch_id) == batch.id)).one()
            if claimed != len(rows):  # another batcher sealed some of them first: its batch keeps them
                session.rollback()
                raise SealingRaced(f"{len(rows) - claimed} of {len(rows)} readings were sealed by another batcher")
            session.commit()
            log.info(
                "sealed batch",
                extra={"batch_id": batch.id, "readings": len(rows), "root": root, "content_id": content_id},
            )
            return batch.id
