"""The transparency log's Merkle tree, as RFC 9162 (Certificate Transparency 2.0) defines it:
SHA-256, leaf hashes `SHA-256(0x00 || data)`, interior nodes `SHA-256(0x01 || left || right)`, the
tree over n leaves split at the largest power of two below n. Standard transparency tooling checks
what this module makes.

- `root(leaves)`: the Merkle Tree Hash of a list of leaf hashes;
- `inclusion_proof(leaves, index)` / `verify_inclusion(...)`: RFC 9162 2.1.3;
- `consistency_proof(leaves, old_size)` / `verify_consistency(...)`: RFC 9162 2.1.4.

Proofs are built from the leaf hashes of the tree (`leaves[:size]`); verification needs only the
proof, the sizes and the roots (and for inclusion, the leaf's hash). The verifiers follow the RFC's
algorithms step by step; a proof of the wrong length, or one that reaches the wrong root, fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf: SHA-256 of 0x00 and its data."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256 of 0x01, the left child's hash and the right's."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree of the leaf hashes `leaves`, leaves first, root last: pairing left to
    right and lifting a lone last node gives RFC 9162's tree. Kept, they give a path in O(log n)."""
    built = [list(leaves)]
    while len(built[-1]) > 1:
        level = built[-1]
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        built.append(paired)
    return built


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of the leaf hashes `leaves` (the empty tree's is SHA-256 of nothing)."""
    return levels(leaves)[-1][0] if leaves else EMPTY_ROOT


def path_from_levels(built: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The audit path of leaf `index` read from the kept `levels` of its tree (a lifted node has no
    sibling at its level, so that level gives nothing): the same path as `inclusion_proof`."""
    if not 0 <= index < len(built[0]):
        raise ValueError(f"leaf {index} is not in a tree of {len(built[0])}")
    path = []
    for level in built[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
    return path


def frontier_path(leaves: Sequence[bytes], index: int) -> tuple[int, list[bytes]]:
    """The path of leaf `index` to the node of a log of `len(leaves)` leaves that DataNotary's
    frontier holds it under: the last complete subtree of 2^h leaves whose index at height h is
    even, at the highest such h (the node the contract keeps longest). Returns (h, siblings bottom up)."""
    size = len(leaves)
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a log of {size}")
    height = max(h for h in range(size.bit_length()) if index >> h == ((size >> h) - 1) & ~1)
    path = []
    for h in range(height):
        start = ((index >> h) ^ 1) << h
        path.append(root(leaves[start : start + (1 << h)]))
    return height, path


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, leaves): the audit path of leaf `index` in the tree of `leaves`."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(leaves[:k], index), root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), root(leaves[:k])]


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, leaves): that the tree of the first `old_size` leaves is a prefix of this one."""
    if not 0 < old_size <= len(leaves):
        raise ValueError(f"no consistency proof from size {old_size} to {len(leaves)}")
    return _subproof(leaves, old_size, True)


def _subproof(leaves: Sequence[bytes], m: int, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves[:k], m, complete), root(leaves[k:])]
    return [*_subproof(leaves[k:], m - k, False), root(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 2.1.3.2: whether `proof` shows leaf hash `leaf` at `index` in the tree of `size`
    leaves with root `expected_root`."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: whether `proof` shows the tree of `old_size` leaves with `old_root` to be a
    prefix of the tree of `new_size` leaves with `new_root`."""
    if old_size == new_size:
        return not proof and old_root == new_root
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the path's first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


# -- a range of leaves to the end of the tree ----------------------------------------------------


def prefix_blocks(start: int) -> list[tuple[int, int]]:
    """(offset, size) of the complete subtrees that make up the first `start` leaves, largest first:
    one per set bit of `start`. Each is a node of every tree of `start` leaves or more."""
    if start < 0:
        raise ValueError(f"no prefix of {start} leaves")
    blocks, offset = [], 0
    for bit in range(start.bit_length() - 1, -1, -1):
        if start >> bit & 1:
            blocks.append((offset, 1 << bit))
            offset += 1 << bit
    return blocks


def prefix_nodes(built: Sequence[Sequence[bytes]], start: int) -> list[bytes]:
    """The roots of `prefix_blocks(start)`, read from the kept levels of a tree of `start` leaves or more."""
    return [built[size.bit_length() - 1][offset // size] for offset, size in prefix_blocks(start)]


def range_root(start: int, prefix: Sequence[bytes], leaves: Sequence[bytes]) -> bytes:
    """The root of the tree whose leaves from `start` to its end are `leaves` (leaf hashes) and
    whose first `start` leaves are summarised by `prefix` (`prefix_nodes`). Equal to a signed
    root, it proves `leaves` are exactly the log's leaves from `start` on: none hidden, none added."""
    blocks = prefix_blocks(start)
    if len(prefix) != len(blocks):
        raise ValueError(f"a prefix of {start} leaves is {len(blocks)} hashes, not {len(prefix)}")
    known = dict(zip(blocks, prefix, strict=True))

    def node(lo: int, hi: int) -> bytes:
        if (lo, hi - lo) in known:
            return known[(lo, hi - lo)]
        if lo >= start:
            return root(leaves[lo - start : hi - start])
        k = _split(hi - lo)
        return node_hash(node(lo, lo + k), node(lo + k, hi))

    size = start + len(leaves)
    return node(0, size) if size else EMPTY_ROOT
