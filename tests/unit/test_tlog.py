"""The transparency log's tree against RFC 9162: the RFC 6962 test data's roots, and proofs for
every size and index up to 40 leaves (and random larger trees) checked against a second
implementation written here from the RFC's definitions (MTH, PATH, PROOF); tampered proofs fail."""

from __future__ import annotations

import hashlib
import random

from ledger_service.core.tlog import (
    EMPTY_ROOT,
    consistency_proof,
    frontier_path,
    inclusion_proof,
    leaf_hash,
    levels,
    node_hash,
    path_from_levels,
    prefix_nodes,
    range_root,
    root,
    verify_consistency,
    verify_inclusion,
)

#: The leaves of RFC 6962's test data (the Certificate Transparency reference tests), and the root of
#: the tree of the first n of them.
RFC6962_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
RFC6962_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


# -- a second implementation, from RFC 9162 section 2.1's definitions ----------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(data: list[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + data[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return _h(b"\x01" + mth(data[:k]) + mth(data[k:]))


def path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    return path(m, data[:k]) + [mth(data[k:])] if m < k else path(m - k, data[k:]) + [mth(data[:k])]


def subproof(m: int, data: list[bytes], b: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if b else [mth(data)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return subproof(m, data[:k], b) + [mth(data[k:])]
    return subproof(m - k, data[k:], False) + [mth(data[:k])]


def rebuild(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The root a path leads to, by walking the tree's shape down from the top (not the RFC's loop)."""
    if size == 1:
        assert not proof
        return leaf
    k = 1 << ((size - 1).bit_length() - 1)
    *below, sibling = proof
    if index < k:
        return _h(b"\x01" + rebuild(index, k, leaf, below) + sibling)
    return _h(b"\x01" + sibling + rebuild(index - k, size - k, leaf, below))


# -- the tests ------------------------------------------------------------------------------------


def test_the_roots_of_rfc_6962s_test_data() -> None:
    data = [bytes.fromhex(leaf) for leaf in RFC6962_LEAVES]
    hashes = [leaf_hash(d) for d in data]
    for size, expected in RFC6962_ROOTS.items():
        assert root(hashes[:size]).hex() == expected == mth(data[:size]).hex()
    assert root([]) == EMPTY_ROOT == mth([])


def test_every_inclusion_and_consistency_proof_up_to_40_leaves_matches_the_rfcs_definitions() -> None:
    data = [f"leaf {n}".encode() for n in range(40)]
    hashes = [leaf_hash(d) for d in data]
    for size in range(1, 41):
        tree_root = root(hashes[:size])
        assert tree_root == mth(data[:size])
        for index in range(size):
            proof = inclusion_proof(hashes[:size], index)
            assert proof == path(index, data[:size])
            assert verify_inclusion(hashes[index], index, size, proof, tree_root)
            assert rebuild(index, size, hashes[index], proof) == tree_root
        for old in range(1, size + 1):
            proof = consistency_proof(hashes[:size], old)
            assert proof == subproof(old, data[:size], True)
            assert verify_consistency(old, size, root(hashes[:old]), tree_root, proof)


def test_random_larger_trees_prove_and_verify() -> None:
    rng = random.Random(9162)
    for _ in range(20):
        size = rng.randrange(41, 3000)
        hashes = [leaf_hash(rng.randbytes(16)) for _ in range(size)]
        tree_root = root(hashes)
        index, old = rng.randrange(size), rng.randrange(1, size)
        assert verify_inclusion(hashes[index], index, size, inclusion_proof(hashes, index), tree_root)
        assert verify_consistency(old, size, root(hashes[:old]), tree_root, consistency_proof(hashes, old))


def test_paths_read_from_kept_levels_are_the_rfcs_paths() -> None:
    rng = random.Random(6962)
    for size in [*range(1, 70), *(rng.randrange(70, 2000) for _ in range(10))]:
        hashes = [leaf_hash(rng.randbytes(8)) for _ in range(size)]
        built = levels(hashes)
        assert built[-1] == [root(hashes)]
        for index in range(size) if size < 70 else rng.sample(range(size), 20):
            assert path_from_levels(built, index) == inclusion_proof(hashes, index)


def test_a_range_to_the_end_with_its_prefix_nodes_gives_the_root_and_nothing_else_does() -> None:
    rng = random.Random(1)
    for size in [*range(1, 40), 1000, 1023, 1024, 1025]:
        hashes = [leaf_hash(rng.randbytes(8)) for _ in range(size)]
        built, tree_root = levels(hashes), root(hashes)
        for start in range(size) if size < 40 else (0, 1, size // 3, size - 1):
            prefix = prefix_nodes(built, start)
            assert range_root(start, prefix, hashes[start:]) == tree_root
            if size - start > 1:  # a leaf hidden, or two swapped, gives another root
                assert range_root(start, prefix, hashes[start:-1]) != tree_root
                swapped = [*hashes[start:]]
                swapped[0], swapped[1] = swapped[1], swapped[0]
                assert range_root(start, prefix, swapped) != tree_root
            if start:
                assert range_root(start - 1, prefix_nodes(built, start - 1), hashes[start - 1 :]) == tree_root


def test_tampered_or_misplaced_proofs_fail() -> None:
    hashes = [leaf_hash(bytes([n])) for n in range(13)]
    tree_root = root(hashes)
    proof = inclusion_proof(hashes, 5)
    assert not verify_inclusion(hashes[5], 6, 13, proof, tree_root)  # another place
    assert not verify_inclusion(hashes[6], 5, 13, proof, tree_root)  # another leaf
    assert not verify_inclusion(hashes[5], 5, 8, proof, tree_root)  # a size with another shape
    assert not verify_inclusion(hashes[5], 5, 13, proof[:-1], tree_root)  # too short
    assert not verify_inclusion(hashes[5], 5, 13, [*proof, proof[0]], tree_root)  # too long
    assert not verify_inclusion(hashes[5], 5, 13, [b"\x00" * 32, *proof[1:]], tree_root)
    assert not verify_inclusion(hashes[5], 13, 13, proof, tree_root)
    consistency = consistency_proof(hashes, 6)
    old_root = root(hashes[:6])
    assert not verify_consistency(6, 13, old_root, tree_root, consistency[:-1])
    assert not verify_consistency(6, 13, root(hashes[:5]), tree_root, consistency)  # another old tree
    forked = [*hashes[:6], leaf_hash(b"other"), *hashes[7:]]  # the same old tree, a rewritten later leaf
    assert not verify_consistency(6, 13, old_root, tree_root, consistency_proof(forked, 6))
    assert not verify_consistency(7, 13, root(hashes[:7]), root(forked), consistency_proof(forked, 7))
    assert not verify_consistency(0, 13, EMPTY_ROOT, tree_root, [])
    assert verify_consistency(13, 13, tree_root, tree_root, []) and not verify_consistency(
        13, 13, tree_root, old_root, []
    )


class _Frontier:
    """DataNotary's frontier, written again here from the contract: an append merges the subtrees
    the new leaf completes and writes the result at its height."""

    def __init__(self) -> None:
        self.nodes: dict[int, bytes] = {}
        self.size = 0

    def append(self, leaf: bytes) -> None:
        node, height = leaf, 0
        while (self.size >> height) & 1:
            node = node_hash(self.nodes[height], node)
            height += 1
        self.nodes[height] = node
        self.size += 1

    def holds(self, index: int, leaf: bytes, path: list[bytes]) -> bool:
        """`DataNotary._inLog`: the path leads to the node at its height, the one holding `index`."""
        height = len(path)
        completed = self.size >> height
        if completed == 0 or index >> height != (completed - 1) & ~1:
            return False
        node = leaf
        for h, sibling in enumerate(path):
            node = node_hash(node, sibling) if (index >> h) & 1 == 0 else node_hash(sibling, node)
        return node == self.nodes.get(height)


def test_frontier_paths_lead_every_leaf_to_the_node_the_contract_keeps_for_it() -> None:
    frontier, leaves = _Frontier(), []
    for n in range(1, 70):
        leaves.append(leaf_hash(n.to_bytes(4, "big")))
        frontier.append(leaves[-1])
        assert root(leaves) == _decomposed_root(frontier)
        for index in range(n):
            height, path = frontier_path(leaves, index)
            assert len(path) == height and frontier.holds(index, leaves[index], path), (n, index)
            assert not frontier.holds(index, leaf_hash(b"other"), path)
            if index ^ 1 < n:
                assert not frontier.holds(index ^ 1, leaves[index], path)  # another place: another node


def test_a_fresh_leaf_stays_provable_for_at_least_one_more_append() -> None:
    for n in range(1, 70):
        leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n + 1)]
        frontier = _Frontier()
        for leaf in leaves[:n]:
            frontier.append(leaf)
        _, path = frontier_path(leaves[:n], n - 1)
        frontier.append(leaves[n])  # a batch lands before the record does
        assert frontier.holds(n - 1, leaves[n - 1], path), n


def _decomposed_root(frontier: _Frontier) -> bytes:
    """`DataNotary.logHead`: the frontier's nodes at the size's set bits, hashed right to left."""
    found: bytes | None = None
    for height in range(frontier.size.bit_length()):
        if (frontier.size >> height) & 1:
            found = frontier.nodes[height] if found is None else node_hash(frontier.nodes[height], found)
    assert found is not None
    return found
