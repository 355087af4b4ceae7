"""One append-only log over every anchored batch: its leaves, signed checkpoints and proofs.

The log's leaves are the notary's `BatchAnchored` events in chain order, from confirmed blocks of
the mirror (so a leaf, once in the log, is never taken back by a reorg). A leaf's data:

    0x01                       version
    batch id                   8 bytes, big-endian (DataNotary's id of the batch)
    root                       32 bytes (the batch's Merkle root)
    reading count              8 bytes, big-endian
    first, last timestamp      8 bytes each, big-endian (Unix seconds)
    content id length          2 bytes, big-endian
    content id                 UTF-8 (the batch payload's CID)

The tree is RFC 9162's (`ledger_service.core.tlog`). A checkpoint is a C2SP tlog-checkpoint
signed as a C2SP signed note with the log's Ed25519 key (`ledger_service.core.signed_note`). Every
checkpoint served is kept, so any old one can be proven consistent with any newer one.
"""

from __future__ import annotations

import os
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from ledger_service.core import tlog
from ledger_service.core.errors import InvalidFilter
from ledger_service.core.mirror_models import EvBatchAnchored, IndexState, table_of
from ledger_service.core.models import LogCheckpoint
from ledger_service.core.secret_files import secret_file
from ledger_service.core.settings import Settings
from ledger_service.core.signed_note import checkpoint_body, sign_note, verifier_key

LEAF_VERSION = 1


def leaf_data(batch_id: int, root: str, count: int, first: int, last: int, content_id: str) -> bytes:
    """A batch's leaf data (see the module text)."""
    cid = content_id.encode()
    return (
        bytes([LEAF_VERSION]) + batch_id.to_bytes(8, "big") + bytes.fromhex(root.removeprefix("0x"))
        + count.to_bytes(8, "big") + first.to_bytes(8, "big") + last.to_bytes(8, "big")
        + len(cid).to_bytes(2, "big") + cid
    )  # fmt: skip


class TransparencyLog:
    """The log as this service keeps it: leaves from the mirror, checkpoints signed and stored."""

    def __init__(self, engine: Engine, settings: Settings, origin: str) -> None:
        self.engine, self.settings, self.origin = engine, settings, origin
        self.name = settings.log_name
        self.key = _log_key(settings)

    @property
    def verifier(self) -> str:
        return verifier_key(self.name, self.key.public_key().public_bytes_raw())

    def leaves(self) -> list[dict[str, Any]]:
        """Every leaf's batch, in log order (confirmed blocks only)."""
        events = table_of(EvBatchAnchored)
        with self.engine.connect() as conn:
            state = conn.execute(select(table_of(IndexState).c.confirmed_through)).first()
            confirmed = int(state[0]) if state is not None else -1
            rows = conn.execute(
                select(events)
                .where(events.c.block_number <= confirmed)
                .order_by(events.c.block_number, events.c.log_index)
            ).all()
        return [dict(row._mapping) for row in rows]

    @staticmethod
    def data_of(row: dict[str, Any]) -> bytes:
        return leaf_data(int(row["batch_id"]), row["root"], int(row["reading_count"]), int(row["first_timestamp"]),
                         int(row["last_timestamp"]), row["content_id"])  # fmt: skip

    def hashes(self) -> list[bytes]:
        return [tlog.leaf_hash(self.data_of(row)) for row in self.leaves()]

    def checkpoint(self) -> str:
        """The signed checkpoint of the log as it is now (made once per size and kept)."""
        hashes = self.hashes()
        with Session(self.engine) as session:
            kept = session.get(LogCheckpoint, len(hashes))
        if kept is not None:
            return kept.note
        note = sign_note(checkpoint_body(self.origin, len(hashes), tlog.root(hashes)), self.name, self.key)
        try:
            with Session(self.engine) as session:
                session.add(LogCheckpoint(size=len(hashes), root="0x" + tlog.root(hashes).hex(), note=note,
                                          created_at=time.time()))  # fmt: skip
                session.commit()
        except IntegrityError:  # another process signed this size first: serve theirs
            with Session(self.engine) as session:
                found = session.get(LogCheckpoint, len(hashes))
                assert found is not None
                return found.note
        return note

    def kept_checkpoint(self, size: int) -> str | None:
        with Session(self.engine) as session:
            found = session.get(LogCheckpoint, size)
        return found.note if found is not None else None

    def inclusion(self, index: int, size: int) -> dict[str, Any]:
        rows = self.leaves()
        if not 0 <= index < size <= len(rows):
            raise InvalidFilter(f"no leaf {index} in a tree of {size} (the log has {len(rows)})")
        hashes = [tlog.leaf_hash(self.data_of(row)) for row in rows[:size]]
        return {
            "leaf_index": index, "tree_size": size, "leaf_data": "0x" + self.data_of(rows[index]).hex(),
            "leaf_hash": "0x" + hashes[index].hex(), "root": "0x" + tlog.root(hashes).hex(),
            "proof": ["0x" + p.hex() for p in tlog.inclusion_proof(hashes, index)],
        }  # fmt: skip

    def consistency(self, old: int, new: int) -> dict[str, Any]:
        hashes = self.hashes()
        if not 0 < old <= new <= len(hashes):
            raise InvalidFilter(f"no consistency proof from {old} to {new} (the log has {len(hashes)})")
        proof = tlog.consistency_proof(hashes[:new], old)
        return {"from": old, "to": new, "proof": ["0x" + p.hex() for p in proof]}


def _log_key(settings: Settings) -> Ed25519PrivateKey:
    """The log's Ed25519 key: made once in the data directory (mode 0600)."""
    seed = secret_file(settings.data_dir / "log" / "log-ed25519.key", lambda: os.urandom(32))
    return Ed25519PrivateKey.from_private_bytes(seed[:32])
