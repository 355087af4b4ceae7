"""Multiproofs against the contract's verifyMulti on the session's anvil. (Multiproofs against
@openzeppelin/merkle-tree: tests/unit/test_multiproof.py.)"""

from __future__ import annotations

import os
import random

import pytest
from eth_utils import keccak
from web3.exceptions import ContractLogicError

from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.merkle import MerkleTree
from ledger_service.core.multiproof import MultiProof, multiproof, verify_multiproof


def test_multiproofs_verify_in_the_contract(ledger: Ledger) -> None:
    leaves = [os.urandom(32) for _ in range(13)]
    tree = MerkleTree(leaves)
    ledger.anchor(tree.root, len(leaves), 1, 2, "")
    ledger.record_anchors([tree.root])
    verify_multi = ledger.notary.functions.verifyMulti
    rng = random.Random(13)
    subsets = [leaves[:1], leaves, leaves[3:6], sorted(leaves)[::2], *(rng.sample(leaves, k) for k in (2, 5, 9))]
    for subset in subsets:
        mp = multiproof(tree, subset)
        assert verify_multi(tree.root, mp.leaves, mp.proof, mp.proof_flags).call() is True

    mp = multiproof(tree, subsets[2])
    tampered = [keccak(mp.proof[0]), *mp.proof[1:]]
    assert verify_multi(tree.root, mp.leaves, tampered, mp.proof_flags).call() is False
    assert verify_multi(tree.root, list(reversed(mp.leaves)), mp.proof, mp.proof_flags).call() is False
    unanchored = MerkleTree([os.urandom(32) for _ in range(4)])
    other = multiproof(unanchored, unanchored.nodes[-2:])
    assert verify_multi(unanchored.root, other.leaves, other.proof, other.proof_flags).call() is False
    # A missing leaf is malformed: MerkleProof reverts with MerkleProofInvalidMultiproof instead of returning false.
    with pytest.raises(ContractLogicError):
        verify_multi(tree.root, mp.leaves[1:], mp.proof, mp.proof_flags).call()


def test_single_leaf_tree_multiproof_verifies_in_the_contract(ledger: Ledger) -> None:
    leaf = os.urandom(32)
    tree = MerkleTree([leaf])
    ledger.anchor(tree.root, 1, 1, 2, "")
    ledger.record_anchors([tree.root])
    mp = multiproof(tree, [leaf])
    assert ledger.notary.functions.verifyMulti(tree.root, mp.leaves, mp.proof, mp.proof_flags).call() is True


def test_an_empty_multiproof_proves_nothing_on_chain_or_off(ledger: Ledger) -> None:
    """OpenZeppelin's library alone accepts no leaves with proof == [root]; DataNotary refuses it."""
    tree = MerkleTree([os.urandom(32) for _ in range(5)])
    ledger.anchor(tree.root, 5, 1, 2, "")
    ledger.record_anchors([tree.root])
    assert ledger.notary.functions.verifyMulti(tree.root, [], [tree.root], []).call() is False
    with pytest.raises(ValueError, match="no leaves"):
        verify_multiproof(tree.root, MultiProof(leaves=[], proof=[tree.root], proof_flags=[]))
