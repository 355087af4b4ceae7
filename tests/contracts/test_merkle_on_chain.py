"""The Python Merkle tree's proofs verify in DataNotary on the session's anvil. (The tree against
@openzeppelin/merkle-tree: tests/unit/test_merkle.py.)"""

from __future__ import annotations

import os

from eth_utils import keccak

from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.merkle import MerkleTree


def test_python_proofs_verify_in_the_contract(ledger: Ledger) -> None:
    leaves = [keccak(os.urandom(8)) for _ in range(13)]
    tree = MerkleTree(leaves)
    ledger.anchor(tree.root, len(leaves), 1, 2, "")
    ledger.record_anchors([tree.root])
    for leaf in leaves:
        assert ledger.verify(tree.root, leaf, tree.proof(leaf))
    assert not ledger.verify(tree.root, keccak(b"not in the tree"), tree.proof(leaves[0]))
