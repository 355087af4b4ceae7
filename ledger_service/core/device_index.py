"""A batch's device index: per device and signing key, the first and last sequence, the count and a
hash of its readings in the batch, sorted, so that a device's presence in a batch and its absence
from one can both be proven.

- An entry: `device id (32) ‖ key index (8) ‖ first sequence (8) ‖ last sequence (8) ‖ count (8)
  ‖ readings hash (32)`, integers big-endian; the readings hash is SHA-256 over `sequence (8) ‖
  timestamp (8) ‖ reading id (32)` of each of those readings, in sequence order.
- The entries, sorted by (device id, key index), are the leaves of an RFC 9162 tree (SHA-256).
- The batch's Merkle tree (OpenZeppelin's, keccak-256) holds one more leaf beside its readings,
  `keccak256(keccak256(abi.encode(INDEX_TAG, entry count, index root)))`, so the anchored root
  commits to the index; its path is kept with the batch.

A device's run in a batch is the entries that name it (one per key index), with the entries just
before and after it (another device's, or none at an end). Their places prove the run whole: the
neighbours are adjacent to it, and name lower and higher devices. An empty run proves absence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_utils import keccak

from ledger_service.core import tlog

INDEX_TAG = keccak(text="provenance-ledger/device-index@1")
ENTRY_SIZE = 96


@dataclass(frozen=True)
class Entry:
    """One (device, key index) of a batch."""

    device_id: bytes
    key_index: int
    first_sequence: int
    last_sequence: int
    count: int
    readings_hash: bytes

    @property
    def key(self) -> tuple[bytes, int]:
        return self.device_id, self.key_index

    def encode(self) -> bytes:
        numbers = (self.key_index, self.first_sequence, self.last_sequence, self.count)
        return self.device_id + b"".join(n.to_bytes(8, "big") for n in numbers) + self.readings_hash

    @classmethod
    def decode(cls, data: bytes) -> Entry:
        if len(data) != ENTRY_SIZE:
            raise ValueError(f"a device index entry is {ENTRY_SIZE} bytes, not {len(data)}")
        n = [int.from_bytes(data[i : i + 8], "big") for i in (32, 40, 48, 56)]
        return cls(data[:32], n[0], n[1], n[2], n[3], data[64:])


def readings_hash(readings: Iterable[tuple[int, int, bytes]]) -> bytes:
    """SHA-256 over (sequence, timestamp, reading id) of one device's readings, in sequence order."""
    digest = hashlib.sha256()
    for sequence, timestamp, reading_id in sorted(readings):
        digest.update(sequence.to_bytes(8, "big") + timestamp.to_bytes(8, "big") + reading_id)
    return digest.digest()


def build_entries(rows: Iterable[Any]) -> list[Entry]:
    """The sorted index of reading rows (with `device_id`, `key_index`, `sequence`, `timestamp`, `id`)."""
    groups: dict[tuple[bytes, int], list[tuple[int, int, bytes]]] = {}
    for row in rows:
        key = (bytes.fromhex(row.device_id[2:]), int(row.key_index))
        groups.setdefault(key, []).append((int(row.sequence), int(row.timestamp), bytes.fromhex(row.id[2:])))
    entries = []
    for (device, key_index), readings in sorted(groups.items()):
        sequences = [r[0] for r in readings]
        entries.append(Entry(device, key_index, min(sequences), max(sequences), len(readings), readings_hash(readings)))
    return entries


def index_root(entries: Sequence[Entry]) -> bytes:
    return tlog.root([tlog.leaf_hash(e.encode()) for e in entries])


def index_leaf(count: int, root: bytes) -> bytes:
    """The batch tree's leaf that commits to the index (OpenZeppelin's double-hashed leaf)."""
    return keccak(keccak(encode(["bytes32", "uint256", "bytes32"], [INDEX_TAG, count, root])))


def commitment(entries: Sequence[Entry]) -> bytes:
    """The index leaf of a batch with these entries."""
    return index_leaf(len(entries), index_root(entries))


def pack(entries: Sequence[Entry]) -> bytes:
    return b"".join(e.encode() for e in entries)


def unpack(blob: bytes) -> list[Entry]:
    return [Entry.decode(blob[i : i + ENTRY_SIZE]) for i in range(0, len(blob), ENTRY_SIZE)]


def run_of(entries: Sequence[Entry], device_id: bytes) -> tuple[int, int]:
    """[start, end): the places of the device's entries (start == end: it is absent)."""
    start = next((i for i, e in enumerate(entries) if e.device_id >= device_id), len(entries))
    end = start
    while end < len(entries) and entries[end].device_id == device_id:
        end += 1
    return start, end


def run_proof(entries: Sequence[Entry], device_id: bytes) -> dict[str, Any]:
    """The device's run with its neighbours, each with its place and RFC 9162 path in the index."""
    levels = tlog.levels([tlog.leaf_hash(e.encode()) for e in entries])
    start, end = run_of(entries, device_id)
    places = range(max(start - 1, 0), min(end + 1, len(entries)))
    return {
        "entry_count": len(entries),
        "entries": [
            {"position": p, "entry": "0x" + entries[p].encode().hex(),
             "path": ["0x" + h.hex() for h in tlog.path_from_levels(levels, p)]}
            for p in places
        ],
    }  # fmt: skip


def check_run(proof: dict[str, Any], device_id: bytes, root: bytes) -> list[Entry]:
    """The device's entries in a batch whose index root is `root`; `ValueError` unless the run
    proof shows them whole (an empty list: the device is absent from the batch)."""
    count = int(proof["entry_count"])
    shown = [(int(e["position"]), bytes.fromhex(e["entry"][2:]), [bytes.fromhex(h[2:]) for h in e["path"]])
             for e in proof["entries"]]  # fmt: skip
    if not shown or [p for p, _, _ in shown] != list(range(shown[0][0], shown[0][0] + len(shown))):
        raise ValueError("the entries shown are not one run of adjacent places")
    for place, data, path in shown:
        if not tlog.verify_inclusion(tlog.leaf_hash(data), place, count, path, root):
            raise ValueError(f"entry {place} is not in the batch's device index")
    entries = [Entry.decode(data) for _, data, _ in shown]
    mine = [e for e in entries if e.device_id == device_id]
    before = [e for e in entries if e.device_id < device_id]
    after = [e for e in entries if e.device_id > device_id]
    if entries != before + mine + after or len(before) > 1 or len(after) > 1:
        raise ValueError("the entries are not the device's run between its neighbours")
    if not before and shown[0][0] != 0:
        raise ValueError("nothing shows the run starts the index or follows a lower device")
    if not after and shown[-1][0] != count - 1:
        raise ValueError("nothing shows the run ends the index or precedes a higher device")
    return mine
