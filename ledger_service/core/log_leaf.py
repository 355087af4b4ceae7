"""The data of a transparency log leaf: one anchored batch, as the notary hashes it.

0x01                       version
batch id                   8 bytes, big-endian (DataNotary's id of the batch)
root                       32 bytes (the batch's Merkle root)
reading count              8 bytes, big-endian
first, last timestamp      8 bytes each, big-endian (Unix seconds)
content id length          2 bytes, big-endian
content id                 UTF-8 (the batch payload's CID)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

LEAF_VERSION = 1


def leaf_data(batch_id: int, root: str, count: int, first: int, last: int, content_id: str) -> bytes:
    """A batch's leaf data (see the module text)."""
    cid = content_id.encode()
    return (
        bytes([LEAF_VERSION]) + batch_id.to_bytes(8, "big") + bytes.fromhex(root.removeprefix("0x"))
        + count.to_bytes(8, "big") + first.to_bytes(8, "big") + last.to_bytes(8, "big")
        + len(cid).to_bytes(2, "big") + cid
    )  # fmt: skip


#: The topic of DataNotary's `BatchAnchored` event, and the types of its data (the indexed batch id,
#: root and anchorer are topics).
BATCH_ANCHORED_TOPIC = keccak(text="BatchAnchored(uint256,bytes32,address,uint64,uint64,uint64,string)")
EVENT_DATA_TYPES = ["uint64", "uint64", "uint64", "string"]


def event_leaf_data(args: Any) -> bytes:
    """The leaf data of a batch from its `BatchAnchored` event's arguments (as web3 decodes them)."""
    root = "0x" + bytes(args["root"]).hex()
    return leaf_data(int(args["batchId"]), root, int(args["readingCount"]), int(args["firstTimestamp"]),
                     int(args["lastTimestamp"]), str(args["contentId"]))  # fmt: skip


@dataclass(frozen=True)
class LeafFields:
    """A leaf's data, decoded."""

    batch_id: int
    root: str
    reading_count: int
    first_timestamp: int
    last_timestamp: int
    content_id: str


def decode_leaf_data(data: bytes) -> LeafFields:
    """The fields of a leaf's data; `ValueError` if it is not one (another version, a wrong length)."""
    if len(data) < 67 or data[0] != LEAF_VERSION:
        raise ValueError("not a version-1 leaf of this log")
    length = int.from_bytes(data[65:67], "big")
    if len(data) != 67 + length:
        raise ValueError("the content id's length does not match the leaf's")
    number = [int.from_bytes(data[i : i + 8], "big") for i in (1, 41, 49, 57)]
    return LeafFields(number[0], "0x" + data[9:41].hex(), number[1], number[2], number[3], data[67:].decode())
