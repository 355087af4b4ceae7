"""Completeness proofs: which readings of one device the log holds from a time on, with proof that
none is hidden. Format `provenance-ledger/completeness@1` (docs/transparency-log.md):

- `log`: a signed checkpoint of size N, the first covered leaf `start` (the first batch of the log
  whose last reading is at or after `from`; no earlier batch holds a reading that late), the roots
  that sum up the leaves before it (`prefix`), and the data of every leaf from `start` to N. Their
  range root equals the checkpoint's: the covered batches are exactly the log's, in order.
- `batches`: for each covered batch, its device index root and count, the path of its index leaf
  to the batch root, the device's run in the index with its neighbours (presence, or absence when
  the run is empty), and the device's readings in the batch (sequence, timestamp, id) that hash to
  its entries, each with its path to the batch's anchored root.

`ledger_service.services.completeness_check` checks a proof and reports present sequences and gaps.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ledger_service.core import tlog
from ledger_service.core.device_index import index_root, run_proof, unpack
from ledger_service.core.errors import InvalidFilter
from ledger_service.core.merkle import split_path
from ledger_service.core.models import Batch, StoredReading
from ledger_service.services.transparency_log import TransparencyLog, decode_leaf_data

COMPLETENESS_FORMAT = "provenance-ledger/completeness@1"
MAX_BATCHES = 1000

_BATCH = Batch.__table__  # type: ignore[attr-defined]
_READING = StoredReading.__table__  # type: ignore[attr-defined]


class CompletenessProofs:
    """Builds completeness proofs from the log's kept tree and the batches' device indexes."""

    def __init__(self, engine: Engine, log: TransparencyLog, max_batches: int = MAX_BATCHES) -> None:
        self.engine, self.log, self.max_batches = engine, log, max_batches

    def prove(self, device_id: str, since: int, first_leaf: int | None = None) -> dict[str, Any]:
        """From the first batch whose last reading is at or after `since`, or from log leaf
        `first_leaf` when given, to the latest checkpoint."""
        tree = self.log.tree()
        if first_leaf is not None:
            start = min(first_leaf, tree.size)
        else:
            lasts = (decode_leaf_data(data).last_timestamp for data in tree.data)
            start = next((i for i, last in enumerate(lasts) if last >= since), tree.size)
        if tree.size - start > self.max_batches:
            raise InvalidFilter(f"{tree.size - start} batches since {since}: at most {self.max_batches} per proof; "
                                "ask from a later time")  # fmt: skip
        device = bytes.fromhex(device_id[2:])
        batches, readings = self._rows(range(start, tree.size), device_id)
        covered = [batches[i] for i in range(start, tree.size)]
        return {
            "format": COMPLETENESS_FORMAT,
            "device_id": device_id,
            "from": since,
            "log": {
                "checkpoint": self.log.note_of(tree), "start": start,
                "prefix": ["0x" + h.hex() for h in tlog.prefix_nodes(tree.levels, start)],
                "leaves": ["0x" + d.hex() for d in tree.data[start:]],
            },
            "batches": [self._batch(batch, device, readings.get(batch.id, [])) for batch in covered],
        }  # fmt: skip

    def _rows(self, ids: range, device_id: str) -> tuple[dict[int, Any], dict[int, list[list[Any]]]]:
        """The covered batches by log index, and the device's readings in them by batch."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_BATCH).where(_BATCH.c.chain_batch_id.between(ids.start, ids.stop - 1))).all()
            batches = {int(row.chain_batch_id): row for row in rows}
            missing = [i for i in ids if i not in batches or batches[i].device_index is None]
            if missing:
                raise InvalidFilter(f"batch {missing[0]} of the log has no device index here (sealed before device "
                                    "indexes, or by another service): ask from a later time")  # fmt: skip
            found = conn.execute(
                select(_READING.c.batch_id, _READING.c.key_index, _READING.c.sequence, _READING.c.timestamp,
                       _READING.c.id, _READING.c.proof)
                .where(_READING.c.device_id == device_id.lower(),
                       _READING.c.batch_id.in_([row.id for row in batches.values()]))
            ).all()  # fmt: skip
        readings: dict[int, list[list[Any]]] = {}
        for row in found:
            path = ["0x" + h.hex() for h in split_path(row.proof or b"")]
            readings.setdefault(int(row.batch_id), []).append(
                [row.key_index, row.sequence, row.timestamp, row.id, path]
            )
        return batches, readings

    @staticmethod
    def _batch(batch: Any, device: bytes, readings: list[list[Any]]) -> dict[str, Any]:
        entries = unpack(batch.device_index)
        return {
            "leaf_index": int(batch.chain_batch_id),
            "index_root": "0x" + index_root(entries).hex(),
            "index_proof": ["0x" + h.hex() for h in split_path(batch.index_proof or b"")],
            "run": run_proof(entries, device),
            "readings": sorted(readings),
        }
