"""Merkle multiproofs compatible with `@openzeppelin/merkle-tree` and `MerkleProof.multiProofVerify`.

A multiproof proves several leaves of one tree at once. It has three parts:

* ``leaves``: the proven leaf hashes, ordered by descending position in the tree array (for the
  StandardMerkleTree layout that is ascending hash order);
* ``proof``: the sibling hashes the verifier cannot compute itself, in the order they are consumed;
* ``proof_flags``: one flag per hashing step; ``True`` means "hash the next two nodes of the queue",
  ``False`` means "hash the next node of the queue with the next ``proof`` element".

The verifier keeps a queue that starts as ``leaves``; each step pops one or two nodes from its
front and appends their parent, so after ``len(proof_flags)`` steps the last node appended is the
root. A well-formed multiproof satisfies ``len(leaves) + len(proof) == len(proof_flags) + 1``.

`multiproof` produces exactly what `getMultiProof` of ``@openzeppelin/merkle-tree`` produces, and
`process_multiproof` computes the root as ``MerkleProof.processMultiProof`` does, except that a
multiproof of zero leaves is refused here (OpenZeppelin returns ``proof[0]`` for it, so it would
"prove" any root while proving nothing).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ledger_service.core.merkle import MerkleTree, hash_pair


@dataclass(frozen=True)
class MultiProof:
    """Leaves proven together, the extra hashes needed, and the flags that say how to combine them."""

    leaves: list[bytes]
    proof: list[bytes]
    proof_flags: list[bool]


def _sibling(index: int) -> int:
    return index + 1 if index % 2 == 1 else index - 1


def _parent(index: int) -> int:
    return (index - 1) // 2


def multiproof(tree: MerkleTree, leaves: Sequence[bytes]) -> MultiProof:
    """The multiproof of `leaves` in `tree`, identical to OpenZeppelin's `getMultiProof`.

    Raises ValueError when `leaves` is empty, repeats a leaf, or holds a leaf not in the tree.
    """
    if not leaves:
        raise ValueError("a multiproof needs at least one leaf")
    positions: list[int] = []
    for leaf in leaves:
        if leaf not in tree:
            raise ValueError(f"leaf 0x{leaf.hex()} is not in the tree")
        positions.append(tree.index_of(leaf))
    return _multiproof(tree.nodes, positions)


def multiproof_from_paths(entries: Sequence[tuple[int, bytes, Sequence[bytes]]]) -> MultiProof:
    """The same multiproof, from each leaf's place in the node array, its hash and its sibling
    path (as sealing stores them), without the rest of the tree: every node the walk reads is a
    leaf or a sibling on one of the paths."""
    if not entries:
        raise ValueError("a multiproof needs at least one leaf")
    nodes: dict[int, bytes] = {}
    for index, leaf, path in entries:
        nodes[index] = leaf
        position = index
        for sibling in path:
            nodes[_sibling(position)] = sibling
            position = _parent(position)
        if position != 0:
            raise ValueError(f"the path of leaf 0x{leaf.hex()} does not reach the root")
    return _multiproof(nodes, [index for index, _, _ in entries])


def _multiproof(nodes: Mapping[int, bytes] | Sequence[bytes], positions: list[int]) -> MultiProof:
    positions = sorted(positions, reverse=True)
    if len(set(positions)) != len(positions):
        raise ValueError("a multiproof cannot prove the same leaf twice")
    queue = deque(positions)
    proof: list[bytes] = []
    flags: list[bool] = []
    # Walk up level by level: deeper (larger) positions come first, and parents join the back.
    while queue and queue[0] > 0:
        index = queue.popleft()
        sibling = _sibling(index)
        if queue and queue[0] == sibling:
            queue.popleft()
            flags.append(True)
        else:
            proof.append(nodes[sibling])
            flags.append(False)
        queue.append(_parent(index))
    return MultiProof(leaves=[nodes[i] for i in positions], proof=proof, proof_flags=flags)


def process_multiproof(mp: MultiProof) -> bytes:
    """The root `mp` leads to, as `MerkleProof.processMultiProof` computes it.

    Raises ValueError for a malformed multiproof (where OpenZeppelin reverts), and for one with
    no leaves (which OpenZeppelin accepts, returning ``proof[0]``).
    """
    if not mp.leaves:
        raise ValueError("a multiproof with no leaves proves nothing")
    if any(len(node) != 32 for node in (*mp.leaves, *mp.proof)):
        raise ValueError("multiproof leaves and proof elements must be 32-byte hashes")
    if len(mp.leaves) + len(mp.proof) != len(mp.proof_flags) + 1:
        raise ValueError("multiproof lengths are inconsistent: need len(leaves) + len(proof) == len(flags) + 1")
    if mp.proof_flags.count(False) != len(mp.proof):
        raise ValueError("multiproof flags do not consume the proof exactly")

    queue = deque(mp.leaves)
    siblings = iter(mp.proof)
    # The checks above fix the number of True flags at len(leaves) - 1, so the queue shrinks by one
    # per True flag down to exactly one node at the end: it never runs dry mid-way.
    for flag in mp.proof_flags:
        first = queue.popleft()
        second = queue.popleft() if flag else next(siblings)
        queue.append(hash_pair(first, second))
    return queue[-1]


def verify_multiproof(root: bytes, mp: MultiProof) -> bool:
    """True when `mp` proves all its leaves under `root`; a malformed multiproof raises ValueError."""
    return process_multiproof(mp) == root
