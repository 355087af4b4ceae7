"""One append-only log over every anchored batch: its leaves, signed checkpoints and proofs.

The log's leaves are the notary's `BatchAnchored` events in chain order, from confirmed blocks of
the mirror (so a leaf, once in the log, is never taken back by a reorg). A leaf's data is the
batch's id, root, reading count, time range and content id, encoded as `ledger_service.core.log_leaf`
says (the chain client records batches with it too). The tree is RFC 9162's
(`ledger_service.core.tlog`). A checkpoint is a C2SP tlog-checkpoint signed as a C2SP signed note
with the log's Ed25519 key (`ledger_service.core.signed_note`). Every checkpoint served is kept, so
any old one can be proven consistent with any newer one.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from ledger_service.core import tlog
from ledger_service.core.errors import InvalidFilter
from ledger_service.core.log_leaf import LEAF_VERSION, LeafFields, decode_leaf_data, leaf_data
from ledger_service.core.mirror_models import EvBatchAnchored, IndexState, table_of
from ledger_service.core.models import LogCheckpoint
from ledger_service.core.secret_files import secret_file
from ledger_service.core.settings import Settings
from ledger_service.core.signed_note import checkpoint_body, sign_note, verifier_key

__all__ = ["LEAF_VERSION", "LeafFields", "TransparencyLog", "decode_leaf_data", "leaf_data"]

@dataclass(frozen=True)
class _Tree:
    """The log at one size: its leaves' data and every level of its tree (leaves first, root last)."""

    data: list[bytes]
    levels: list[list[bytes]]
    last_block: int = 0  # the block of the last leaf: later leaves are read from there on

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0] if self.data else tlog.EMPTY_ROOT


class TransparencyLog:
    """The log as this service keeps it: leaves from the mirror, checkpoints signed and stored.

    The tree is kept in memory and grown from the mirror (only the rows after the last leaf are
    read), so a path costs O(log n) and a proof bundle can carry one.
    """

    def __init__(self, engine: Engine, settings: Settings, origin: str) -> None:
        self.engine, self.settings, self.origin = engine, settings, origin
        self.name = settings.log_name
        self.key = _log_key(settings)
        self._tree = _Tree([], [[]])
        self._lock = threading.Lock()
        self._latest_note: tuple[int, str] = (-1, "")
        self.miss_interval = 1.0  # a bundle of a batch the tree lacks reads the mirror at most this often
        self._last_miss = -float("inf")

    @property
    def verifier(self) -> str:
        return verifier_key(self.name, self.key.public_key().public_bytes_raw())

    def tree(self) -> _Tree:
        """The log as it is now: the leaves confirmed since the last look are appended."""
        with self._lock:
            known = self._tree
            rows = self._rows_after(known)
            if rows:
                data = known.data + [self.data_of(row) for row in rows]
                levels = tlog.levels([tlog.leaf_hash(d) for d in data])
                self._tree = _Tree(data, levels, int(rows[-1]["block_number"]))
            return self._tree

    def _rows_after(self, tree: _Tree) -> list[dict[str, Any]]:
        """The leaves after the tree's, in log order (confirmed blocks only, batch ids without a gap)."""
        events = table_of(EvBatchAnchored)
        with self.engine.connect() as conn:
            state = conn.execute(select(table_of(IndexState).c.confirmed_through)).first()
            confirmed = int(state[0]) if state is not None else -1
            rows = conn.execute(
                select(events)
                .where(events.c.block_number >= tree.last_block, events.c.block_number <= confirmed)
                .order_by(events.c.block_number, events.c.log_index)
            ).all()
        found: list[dict[str, Any]] = []
        for row in rows:
            if int(row.batch_id) < tree.size:
                continue  # already a leaf (the tree's last block is read again)
            if int(row.batch_id) != tree.size + len(found):
                break  # the mirror lacks a batch: the log stops before it
            found.append(dict(row._mapping))
        return found

    @staticmethod
    def data_of(row: dict[str, Any]) -> bytes:
        return leaf_data(int(row["batch_id"]), row["root"], int(row["reading_count"]), int(row["first_timestamp"]),
                         int(row["last_timestamp"]), row["content_id"])  # fmt: skip

    def checkpoint(self) -> str:
        """The signed checkpoint of the log as it is now (made once per size and kept)."""
        return self.note_of(self.tree())

    def note_of(self, tree: _Tree) -> str:
        """The signed checkpoint of `tree` (signed once per size; the latest kept in memory)."""
        size, note = self._latest_note
        if size == tree.size:
            return note
        note = self._signed(tree)
        self._latest_note = (tree.size, note)
        return note

    def _signed(self, tree: _Tree) -> str:
        kept = self.kept_checkpoint(tree.size)
        if kept is not None:
            return kept
        note = sign_note(checkpoint_body(self.origin, tree.size, tree.root), self.name, self.key)
        try:
            with Session(self.engine) as session:
                session.add(LogCheckpoint(size=tree.size, root="0x" + tree.root.hex(), note=note,
                                          created_at=time.time()))  # fmt: skip
                session.commit()
        except IntegrityError:  # another process signed this size first: serve theirs
            found = self.kept_checkpoint(tree.size)
            assert found is not None
            return found
        return note

    def kept_checkpoint(self, size: int) -> str | None:
        with Session(self.engine) as session:
            found = session.get(LogCheckpoint, size)
        return found.note if found is not None else None

    def inclusion(self, index: int, size: int) -> dict[str, Any]:
        tree = self.tree()
        if not 0 <= index < size <= tree.size:
            raise InvalidFilter(f"no leaf {index} in a tree of {size} (the log has {tree.size})")
        if size == tree.size:
            proof, root = tlog.path_from_levels(tree.levels, index), tree.root
        else:
            hashes = tree.levels[0][:size]
            proof, root = tlog.inclusion_proof(hashes, index), tlog.root(hashes)
        return {
            "leaf_index": index, "tree_size": size, "leaf_data": "0x" + tree.data[index].hex(),
            "leaf_hash": "0x" + tree.levels[0][index].hex(), "root": "0x" + root.hex(),
            "proof": ["0x" + p.hex() for p in proof],
        }  # fmt: skip

    def consistency(self, old: int, new: int) -> dict[str, Any]:
        tree = self.tree()
        if not 0 < old <= new <= tree.size:
            raise InvalidFilter(f"no consistency proof from {old} to {new} (the log has {tree.size})")
        proof = tlog.consistency_proof(tree.levels[0][:new], old)
        return {"from": old, "to": new, "proof": ["0x" + p.hex() for p in proof]}

    def path_of(self, batch_id: int, root: str) -> dict[str, Any] | None:
        """A proof bundle's log section: batch `batch_id` (whose Merkle root is `root`) in the log,
        against a signed checkpoint. None while the batch is not in the log (not yet confirmed).
        The mirror is read again only when the kept tree does not hold the batch yet, at most once
        per `miss_interval` seconds, so bundles of unconfirmed batches stay two reads by key."""
        tree = self._tree
        if batch_id >= tree.size and time.monotonic() - self._last_miss >= self.miss_interval:
            self._last_miss = time.monotonic()
            tree = self.tree()
        if batch_id >= tree.size:
            return None
        data = tree.data[batch_id]
        if data[9:41] != bytes.fromhex(root.removeprefix("0x")):
            return None  # not this service's batch at that place: no claim is better than a wrong one
        return {
            "leaf_index": batch_id, "tree_size": tree.size, "leaf_data": "0x" + data.hex(),
            "proof": ["0x" + p.hex() for p in tlog.path_from_levels(tree.levels, batch_id)],
            "checkpoint": self.note_of(tree),
        }  # fmt: skip


def log_verifier_key(settings: Settings) -> str:
    """The note verifier key of this service's log (`NAME+HEXID+BASE64KEY`), for pinning."""
    return verifier_key(settings.log_name, _log_key(settings).public_key().public_bytes_raw())


def _log_key(settings: Settings) -> Ed25519PrivateKey:
    """The log's Ed25519 key: made once in the data directory (mode 0600)."""
    seed = secret_file(settings.data_dir / "log" / "log-ed25519.key", lambda: os.urandom(32))
    return Ed25519PrivateKey.from_private_bytes(seed[:32])
