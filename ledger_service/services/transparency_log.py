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
(origin line, decimal size, base64 root) signed as a C2SP signed note with the log's Ed25519 key:
the signature line is `— NAME BASE64(key id || signature)`, the key id the first 4 bytes of
SHA-256(NAME || 0x0A || 0x01 || public key), and the verifier key `NAME+HEXID+BASE64(0x01 ||
public key)`. Every checkpoint served is kept, so any old one can be proven consistent with any
newer one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
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

LEAF_VERSION = 1
_ALGORITHM_ED25519 = b"\x01"


def leaf_data(batch_id: int, root: str, count: int, first: int, last: int, content_id: str) -> bytes:
    """A batch's leaf data (see the module text)."""
    cid = content_id.encode()
    return (
        bytes([LEAF_VERSION]) + batch_id.to_bytes(8, "big") + bytes.fromhex(root.removeprefix("0x"))
        + count.to_bytes(8, "big") + first.to_bytes(8, "big") + last.to_bytes(8, "big")
        + len(cid).to_bytes(2, "big") + cid
    )  # fmt: skip


def key_id(name: str, public: bytes) -> bytes:
    """A C2SP signed-note key id: the first 4 bytes of SHA-256(name, newline, 0x01, key)."""
    return hashlib.sha256(name.encode() + b"\n" + _ALGORITHM_ED25519 + public).digest()[:4]


def verifier_key(name: str, public: bytes) -> str:
    """The note verifier key others pin: `NAME+HEXID+BASE64(0x01 || key)`."""
    return f"{name}+{key_id(name, public).hex()}+{base64.b64encode(_ALGORITHM_ED25519 + public).decode()}"


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_note(body: str, name: str, key: Ed25519PrivateKey) -> str:
    """`body` as a signed note with one signature line."""
    public = key.public_key().public_bytes_raw()
    signature = key.sign(body.encode())
    return f"{body}\n— {name} {base64.b64encode(key_id(name, public) + signature).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def open_note(note: str, verifier: str) -> Checkpoint:
    """The checkpoint in `note` if a signature line verifies with the pinned `verifier` key
    (`NAME+HEXID+BASE64KEY`); `InvalidFilter` otherwise. Only what the key signed is trusted."""
    try:
        name, hex_id, encoded = verifier.split("+", 2)  # a name has no "+"; base64 may
        raw = base64.b64decode(encoded, validate=True)
        wanted_id = bytes.fromhex(hex_id)
    except ValueError as exc:
        raise InvalidFilter("not a note verifier key (NAME+HEXID+BASE64KEY)") from exc
    if raw[:1] != _ALGORITHM_ED25519 or len(raw) != 33 or key_id(name, raw[1:]) != wanted_id:
        raise InvalidFilter("the verifier key is not an Ed25519 key matching its id")
    body, separator, signatures = note.partition("\n\n")
    body += "\n"
    if not separator:
        raise InvalidFilter("not a signed note: no blank line before the signatures")
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "—" or parts[1] != name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
            if blob[:4] == wanted_id:
                public.verify(blob[4:], body.encode())
                return _parse_body(body)
        except Exception:  # noqa: BLE001 - a bad signature line is skipped, like any other
            continue
    raise InvalidFilter(f"no signature by {name} verifies this note")


def _parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise InvalidFilter("not a checkpoint: origin, size and root lines expected")
    return Checkpoint(lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True))


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
