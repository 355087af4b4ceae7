"""Multiproofs against @openzeppelin/merkle-tree's getMultiProof, and against the contract's verifyMulti."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from eth_utils import keccak

from ledger_service.core.merkle import MerkleTree, StandardMerkleTree
from ledger_service.core.multiproof import MultiProof, multiproof, process_multiproof, verify_multiproof

REFERENCE = Path(__file__).resolve().parents[1] / "js" / "multiproof-reference.js"
TYPES = ["bytes32", "bytes32"]
SIZES = [1, 2, 3, 5, 8, 13, 100]
KINDS = ["first", "last", "middle", "adjacent", "all", "all-shuffled", "random-few", "random-many", "every-other"]


def hex32(data: bytes) -> str:
    return "0x" + data.hex()


def reference(values: list[list[str]], pick: list[int]) -> dict[str, object]:
    """Root and multiproof of `pick` (indices into `values`) as @openzeppelin/merkle-tree computes them."""
    result = subprocess.run(
        ["node", str(REFERENCE)],
        input=json.dumps({"types": TYPES, "values": values, "pick": pick}),
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, object] = json.loads(result.stdout)
    return data


def random_tree(count: int) -> tuple[list[list[str]], StandardMerkleTree]:
    """`count` random (bytes32, bytes32) values, as hex for the reference and as a Python tree."""
    values = [[hex32(os.urandom(32)), hex32(os.urandom(32))] for _ in range(count)]
    tree = StandardMerkleTree([[bytes.fromhex(v[2:]) for v in pair] for pair in values], TYPES)
    return values, tree


def pick_for(kind: str, tree: StandardMerkleTree, rng: random.Random) -> list[int]:
    """Indices into the tree's values for one kind of subset."""
    count = len(tree.leaves)
    by_hash = sorted(range(count), key=lambda i: tree.leaves[i])  # value indices in tree-leaf order
    if kind == "first":
        return [0]
    if kind == "last":
        return [count - 1]
    if kind == "middle":
        return [by_hash[count // 2]]
    if kind == "adjacent":
        start = rng.randrange(max(count - 2, 0) + 1)
        return by_hash[start : start + 3]
    if kind == "all":
        return list(range(count))
    if kind == "all-shuffled":
        return rng.sample(range(count), count)
    if kind == "random-few":
        return rng.sample(range(count), min(count, 2 + count // 10))
    if kind == "random-many":
        return rng.sample(range(count), max(1, count - 1 - count // 10))
    if kind == "every-other":
        return by_hash[::2]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("count", SIZES)
def test_multiproof_matches_openzeppelin(count: int, kind: str) -> None:
    values, tree = random_tree(count)
    pick = pick_for(kind, tree, random.Random(f"{count}-{kind}"))
    expected = reference(values, pick)

    mp = multiproof(tree, [tree.leaves[i] for i in pick])

    assert expected["verified"] is True
    assert hex32(tree.root) == expected["root"]
    assert [hex32(leaf) for leaf in mp.leaves] == expected["leaves"]
    assert [hex32(p) for p in mp.proof] == expected["proof"]
    assert mp.proof_flags == expected["proofFlags"]
    assert process_multiproof(mp) == tree.root
    assert verify_multiproof(tree.root, mp)


@pytest.mark.parametrize("count", range(1, 41))
def test_every_random_subset_rebuilds_the_root(count: int) -> None:
    leaves = [os.urandom(32) for _ in range(count)]
    tree = MerkleTree(leaves)
    rng = random.Random(count)
    for _ in range(25):
        subset = rng.sample(leaves, rng.randint(1, count))
        mp = multiproof(tree, subset)
        assert sorted(mp.leaves) == sorted(subset)
        assert len(mp.leaves) + len(mp.proof) == len(mp.proof_flags) + 1
        assert process_multiproof(mp) == tree.root


def test_leaf_order_does_not_depend_on_the_order_asked() -> None:
    leaves = [os.urandom(32) for _ in range(11)]
    tree = MerkleTree(leaves)
    subset = leaves[2:7]
    assert multiproof(tree, subset) == multiproof(tree, list(reversed(subset)))
    # Deepest tree positions first, which for this layout is ascending hash order.
    assert multiproof(tree, subset).leaves == sorted(subset)


def test_single_leaf_tree() -> None:
    leaf = keccak(b"only")
    tree = MerkleTree([leaf])
    mp = multiproof(tree, [leaf])
    assert mp == MultiProof(leaves=[leaf], proof=[], proof_flags=[])
    assert process_multiproof(mp) == leaf == tree.root


def test_all_leaves_need_no_proof() -> None:
    leaves = [os.urandom(32) for _ in range(9)]
    tree = MerkleTree(leaves)
    mp = multiproof(tree, leaves)
    assert mp.proof == []
    assert mp.proof_flags == [True] * 8
    assert verify_multiproof(tree.root, mp)


# Bad paths


@pytest.fixture
def sample() -> tuple[MerkleTree, list[bytes], MultiProof]:
    """A 13-leaf tree and a multiproof of 4 of its leaves that uses both proof hashes and merges."""
    leaves = [os.urandom(32) for _ in range(13)]
    tree = MerkleTree(leaves)
    ordered = sorted(leaves)
    mp = multiproof(tree, [ordered[0], ordered[1], ordered[5], ordered[12]])
    assert mp.proof and True in mp.proof_flags and False in mp.proof_flags
    return tree, leaves, mp


def test_a_tampered_proof_element_does_not_verify(sample: tuple[MerkleTree, list[bytes], MultiProof]) -> None:
    tree, _, mp = sample
    for position in range(len(mp.proof)):
        proof = list(mp.proof)
        proof[position] = keccak(proof[position])
        assert not verify_multiproof(tree.root, MultiProof(mp.leaves, proof, mp.proof_flags))


def test_a_tampered_leaf_does_not_verify(sample: tuple[MerkleTree, list[bytes], MultiProof]) -> None:
    tree, leaves, mp = sample
    other = next(leaf for leaf in leaves if leaf not in mp.leaves)
    assert not verify_multiproof(tree.root, MultiProof([other, *mp.leaves[1:]], mp.proof, mp.proof_flags))
    assert not verify_multiproof(tree.root, MultiProof([os.urandom(32), *mp.leaves[1:]], mp.proof, mp.proof_flags))
    assert not verify_multiproof(keccak(tree.root), mp)


def test_leaves_out_of_order_do_not_verify(sample: tuple[MerkleTree, list[bytes], MultiProof]) -> None:
    tree, _, mp = sample
    # The first and last leaves are not siblings, so swapping them changes what they are hashed with.
    swapped = [mp.leaves[-1], *mp.leaves[1:-1], mp.leaves[0]]
    assert not verify_multiproof(tree.root, MultiProof(swapped, mp.proof, mp.proof_flags))


def test_a_flipped_flag_is_malformed(sample: tuple[MerkleTree, list[bytes], MultiProof]) -> None:
    tree, _, mp = sample
    for position in range(len(mp.proof_flags)):
        flags = list(mp.proof_flags)
        flags[position] = not flags[position]
        # One flip changes how many proof hashes get consumed: OpenZeppelin reverts, we raise.
        with pytest.raises(ValueError):
            verify_multiproof(tree.root, MultiProof(mp.leaves, mp.proof, flags))


def test_swapped_flags_do_not_verify(sample: tuple[MerkleTree, list[bytes], MultiProof]) -> None:
    tree, _, mp = sample
    flags = list(mp.proof_flags)
    first_true, first_false = flags.index(True), flags.index(False)
    flags[first_true], flags[first_false] = False, True
    assert not verify_multiproof(tree.root, MultiProof(mp.leaves, mp.proof, flags))


def test_an_extra_or_missing_leaf_is_malformed(sample: tuple[MerkleTree, list[bytes], MultiProof]) -> None:
    tree, leaves, mp = sample
    other = next(leaf for leaf in leaves if leaf not in mp.leaves)
    with pytest.raises(ValueError, match="lengths"):
        verify_multiproof(tree.root, MultiProof([*mp.leaves, other], mp.proof, mp.proof_flags))
    with pytest.raises(ValueError, match="lengths"):
        verify_multiproof(tree.root, MultiProof(mp.leaves[:-1], mp.proof, mp.proof_flags))
    with pytest.raises(ValueError, match="lengths"):
        verify_multiproof(tree.root, MultiProof(mp.leaves, [*mp.proof, os.urandom(32)], mp.proof_flags))


def test_zero_leaves_are_refused(sample: tuple[MerkleTree, list[bytes], MultiProof]) -> None:
    tree, _, _ = sample
    with pytest.raises(ValueError, match="at least one leaf"):
        multiproof(tree, [])
    # What getMultiProof(tree, []) returns, and what both OpenZeppelin verifiers accept for any root.
    with pytest.raises(ValueError, match="no leaves"):
        process_multiproof(MultiProof(leaves=[], proof=[tree.root], proof_flags=[]))
    with pytest.raises(ValueError, match="no leaves"):
        verify_multiproof(tree.root, MultiProof(leaves=[], proof=[], proof_flags=[]))


def test_duplicate_unknown_and_malformed_leaves_are_refused(
    sample: tuple[MerkleTree, list[bytes], MultiProof],
) -> None:
    tree, leaves, mp = sample
    with pytest.raises(ValueError, match="same leaf twice"):
        multiproof(tree, [leaves[0], leaves[1], leaves[0]])
    with pytest.raises(ValueError, match="not in the tree"):
        multiproof(tree, [leaves[0], keccak(b"not a leaf")])
    with pytest.raises(ValueError, match="32-byte"):
        process_multiproof(MultiProof([b"short", *mp.leaves[1:]], mp.proof, mp.proof_flags))
    with pytest.raises(ValueError, match="32-byte"):
        process_multiproof(MultiProof(mp.leaves, [b"\x00" * 33, *mp.proof[1:]], mp.proof_flags))


@pytest.mark.parametrize("size", SIZES)
def test_multiproof_from_stored_paths_equals_the_one_from_the_whole_tree(size: int) -> None:
    from ledger_service.core.merkle import split_path, tree_paths
    from ledger_service.core.multiproof import multiproof_from_paths

    rng = random.Random(size)
    leaves = [os.urandom(32) for _ in range(size)]
    tree = MerkleTree(leaves)
    stored = {row["rid"]: row for row in tree_paths(tree, [hex32(leaf) for leaf in leaves])}
    for _ in range(10):
        picked = rng.sample(leaves, rng.randint(1, size))
        entries = [(stored[hex32(x)]["index"], x, split_path(stored[hex32(x)]["path"])) for x in picked]
        assert multiproof_from_paths(entries) == multiproof(tree, picked)
        assert verify_multiproof(tree.root, multiproof_from_paths(entries))


def test_a_stored_path_that_does_not_reach_the_root_is_refused() -> None:
    from ledger_service.core.merkle import split_path, tree_paths
    from ledger_service.core.multiproof import multiproof_from_paths

    leaves = [os.urandom(32) for _ in range(8)]
    row = tree_paths(MerkleTree(leaves), [hex32(leaves[0])])[0]
    with pytest.raises(ValueError, match="does not reach the root"):
        multiproof_from_paths([(row["index"], leaves[0], split_path(row["path"])[:-1])])
    with pytest.raises(ValueError, match="32-byte"):
        split_path(row["path"][:-1])
