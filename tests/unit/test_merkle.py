"""The Python Merkle tree against @openzeppelin/merkle-tree, and proofs against the contract."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from eth_utils import keccak

from ledger_service.core.merkle import MerkleTree, StandardMerkleTree, process_proof, verify
from ledger_service.core.readings import LEAF_TYPES, leaf_values, reading_leaf

REFERENCE = Path(__file__).resolve().parents[1] / "js" / "merkle-reference.js"


def reference(types: list[str], values: list[list[object]]) -> dict[str, object]:
    """Root, leaves and proofs as @openzeppelin/merkle-tree computes them."""
    result = subprocess.run(
        ["node", str(REFERENCE)],
        input=json.dumps({"types": types, "values": values}),
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, object] = json.loads(result.stdout)
    return data


def hex32(data: bytes) -> str:
    return "0x" + data.hex()


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 17, 100, 1000])
def test_tree_matches_openzeppelin_for_reading_leaves(count: int) -> None:
    values = [[hex32(os.urandom(32)), hex32(os.urandom(32))] for _ in range(count)]
    tree = StandardMerkleTree([[bytes.fromhex(v[2:]) for v in pair] for pair in values], ["bytes32", "bytes32"])
    expected = reference(["bytes32", "bytes32"], values)

    assert hex32(tree.root) == expected["root"]
    assert [hex32(leaf) for leaf in tree.leaves] == expected["leaves"]
    for index in range(count):
        assert [hex32(p) for p in tree.proof_of(index)] == expected["proofs"][index]  # type: ignore[index]


def test_tree_matches_openzeppelin_for_mixed_types() -> None:
    values = [["0x" + "11" * 20, 5, "hello"], ["0x" + "22" * 20, 2**200, ""], ["0x" + "33" * 20, 0, "z" * 70]]
    tree = StandardMerkleTree(values, ["address", "uint256", "string"])
    expected = reference(["address", "uint256", "string"], [[v[0], str(v[1]), v[2]] for v in values])
    assert hex32(tree.root) == expected["root"]


def test_single_leaf_tree_is_its_leaf_with_an_empty_proof() -> None:
    leaf = keccak(b"x")
    tree = MerkleTree([leaf])
    assert tree.root == leaf
    assert tree.proof(leaf) == []


def test_every_proof_verifies_and_a_tampered_one_does_not() -> None:
    leaves = [keccak(bytes([i])) for i in range(9)]
    tree = MerkleTree(leaves)
    for leaf in leaves:
        assert verify(tree.root, leaf, tree.proof(leaf))
    proof = tree.proof(leaves[0])
    assert not verify(tree.root, keccak(b"other"), proof)
    proof[0] = keccak(b"tampered")
    assert process_proof(leaves[0], proof) != tree.root


def test_empty_tree_and_malformed_leaves_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        MerkleTree([])
    with pytest.raises(ValueError, match="32-byte"):
        MerkleTree([b"short"])
    with pytest.raises(KeyError):
        MerkleTree([keccak(b"a")]).proof(keccak(b"b"))


def test_reading_leaf_fast_path_equals_the_standard_leaf() -> None:
    digest, signature = os.urandom(32), os.urandom(65)
    expected = StandardMerkleTree([leaf_values(digest, signature)], list(LEAF_TYPES)).leaves[0]
    assert reading_leaf(digest, signature) == expected
