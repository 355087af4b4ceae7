"""Merkle trees compatible with OpenZeppelin's StandardMerkleTree and `MerkleProof.verify`.

A leaf is keccak256(keccak256(abi.encode(values))); an inner node is the keccak256 of its two
children in ascending order; leaves are sorted by hash and laid out as a complete binary tree in
one array, root first, exactly as `@openzeppelin/merkle-tree` does, so roots and proofs match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import encode
from eth_utils import keccak

from ledger_service.core.hashing import keccak256


def leaf_hash(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """The double-hashed leaf of `values` ABI-encoded as `types`."""
    return keccak(keccak(encode(list(types), list(values))))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """The parent of two nodes: keccak256 of the smaller followed by the larger."""
    return keccak256(a + b) if a <= b else keccak256(b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` leads to from `leaf` (what `MerkleProof.processProof` computes)."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """True when `proof` proves `leaf` under `root`."""
    return process_proof(leaf, proof) == root


class MerkleTree:
    """A tree over leaf hashes (already double-hashed), laid out like StandardMerkleTree."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        if any(len(leaf) != 32 for leaf in leaves):
            raise ValueError("leaves must be 32-byte hashes")
        ordered = sorted(leaves)
        size = 2 * len(ordered) - 1
        tree: list[bytes] = [b""] * size
        for i, leaf in enumerate(ordered):
            tree[size - 1 - i] = leaf
        for i in range(size - 1 - len(ordered), -1, -1):
            tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
        self._tree = tree
        self._position = {leaf: size - 1 - i for i, leaf in enumerate(ordered)}

    @property
    def root(self) -> bytes:
        """The root."""
        return self._tree[0]

    @property
    def nodes(self) -> list[bytes]:
        """The tree as one array, root first; node i has children 2i+1 and 2i+2 (leaves at the end)."""
        return list(self._tree)

    def index_of(self, leaf: bytes) -> int:
        """The position of `leaf` in `nodes`."""
        try:
            return self._position[leaf]
        except KeyError as exc:
            raise KeyError(f"leaf 0x{leaf.hex()} is not in the tree") from exc

    def __len__(self) -> int:
        return len(self._position)

    def __contains__(self, leaf: object) -> bool:
        return leaf in self._position

    def proof(self, leaf: bytes) -> list[bytes]:
        """The sibling hashes from `leaf` up to the root."""
        try:
            index = self._position[leaf]
        except KeyError as exc:
            raise KeyError(f"leaf 0x{leaf.hex()} is not in the tree") from exc
        path = []
        while index > 0:
            sibling = index + 1 if index % 2 == 1 else index - 1
            path.append(self._tree[sibling])
            index = (index - 1) // 2
        return path


def tree_paths(tree: MerkleTree, leaf_ids: Sequence[str]) -> list[dict[str, Any]]:
    """For each leaf, given as 0x-hex: the id (`rid`), its place in the node array (`index`) and
    its sibling path up to the root (`path`, the 32-byte hashes joined). Sealing stores these, so
    that a proof is read, never rebuilt."""
    rows = []
    for leaf_id in leaf_ids:
        leaf = bytes.fromhex(leaf_id[2:])
        rows.append({"rid": leaf_id, "index": tree.index_of(leaf), "path": b"".join(tree.proof(leaf))})
    return rows


def split_path(path: bytes) -> list[bytes]:
    """A stored sibling path as its 32-byte hashes."""
    if len(path) % 32:
        raise ValueError("a stored path is a whole number of 32-byte hashes")
    return [path[i : i + 32] for i in range(0, len(path), 32)]


class StandardMerkleTree(MerkleTree):
    """A tree over typed values, hashed as StandardMerkleTree.of(values, types) hashes them."""

    def __init__(self, values: Sequence[Sequence[Any]], types: Sequence[str]) -> None:
        self.types = list(types)
        self.values = [list(v) for v in values]
        self.leaves = [leaf_hash(self.types, v) for v in self.values]
        super().__init__(self.leaves)

    def proof_of(self, index: int) -> list[bytes]:
        """The proof of the value at `index` in input order."""
        return self.proof(self.leaves[index])
