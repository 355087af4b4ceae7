"""DataNotary on a real anvil: access control, custom errors, events. (DeviceRegistry: test_device_registry.)"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractCustomError

from ledger_service.chain.client import ChainClient
from ledger_service.chain.ledger import Ledger
from ledger_service.errors import TransactionReverted
from ledger_service.merkle import MerkleTree


def outsider(client: ChainClient) -> ChainClient:
    """A client whose operator holds no role, funded by the node."""
    stranger = ChainClient(client.rpc_url, Account.create())
    stranger.errors = client.errors
    stranger.ensure_funded()
    return stranger


def error_of(call: Callable[[], Any]) -> str | None:
    """The custom error a transaction reverts with."""
    with pytest.raises(TransactionReverted) as info:
        call()
    return info.value.context["error"]


def test_anchor_records_the_batch_and_emits_the_event(ledger: Ledger) -> None:
    tree = MerkleTree([keccak(os.urandom(4)) for _ in range(3)])
    before = ledger.notary.functions.batchCount().call()
    record = ledger.anchor(tree.root, 3, 100, 200, "bafy-test")
    assert record.chain_batch_id == before
    batch = ledger.notary.functions.getBatch(record.chain_batch_id).call()
    assert tuple(batch[:4]) == (tree.root, 3, 100, 200)
    assert batch[6] == ledger.client.operator.address and batch[7] == "bafy-test"
    assert ledger.notary.functions.batchIdOf(tree.root).call() == record.chain_batch_id
    assert ledger.find_anchor(tree.root) == record


def test_revert_when_caller_is_not_anchorer(ledger: Ledger, client: ChainClient) -> None:
    stranger = outsider(client)
    notary = stranger.w3.eth.contract(address=ledger.notary.address, abi=ledger.notary.abi)
    root = keccak(os.urandom(4))
    call = notary.functions.anchor(root, 1, 1, 1, "")
    assert error_of(lambda: stranger.transact(call)) == "AccessControlUnauthorizedAccount"
    assert not ledger.notary.functions.isAnchored(root).call()


@pytest.mark.parametrize(
    ("root", "count", "first", "last", "error"),
    [
        (bytes(32), 1, 1, 1, "DataNotaryZeroRoot"),
        (b"\x05" * 32, 0, 1, 1, "DataNotaryEmptyBatch"),
        (b"\x06" * 32, 1, 5, 4, "DataNotaryInvalidTimeRange"),
    ],
)
def test_revert_when_anchor_is_malformed(
    ledger: Ledger, root: bytes, count: int, first: int, last: int, error: str
) -> None:
    assert error_of(lambda: ledger.anchor(root, count, first, last, "")) == error


def test_revert_when_root_is_anchored_twice(ledger: Ledger) -> None:
    root = keccak(os.urandom(4))
    ledger.anchor(root, 1, 1, 1, "")
    count = ledger.notary.functions.batchCount().call()
    assert error_of(lambda: ledger.anchor(root, 1, 1, 1, "")) == "DataNotaryRootAlreadyAnchored"
    assert ledger.notary.functions.batchCount().call() == count


def test_unknown_batch_and_root_revert_and_verify_refuses_unanchored_roots(ledger: Ledger) -> None:
    with pytest.raises(ContractCustomError) as info:
        ledger.notary.functions.getBatch(10**9).call()
    assert ledger.client.errors.name_of(info.value) == "DataNotaryUnknownBatch"
    with pytest.raises(ContractCustomError) as info:
        ledger.notary.functions.batchIdOf(keccak(b"never")).call()
    assert ledger.client.errors.name_of(info.value) == "DataNotaryUnknownRoot"
    leaf = keccak(b"leaf")
    assert not ledger.verify(leaf, leaf, [])  # a valid single-leaf tree, but never anchored
    assert ledger.find_anchor(leaf) is None


def test_admin_can_grant_roles_and_outsiders_cannot(ledger: Ledger, client: ChainClient) -> None:
    stranger = outsider(client)
    role = ledger.notary.functions.ANCHORER_ROLE().call()
    notary_as_stranger = stranger.w3.eth.contract(address=ledger.notary.address, abi=ledger.notary.abi)
    grant = notary_as_stranger.functions.grantRole(role, stranger.operator.address)
    assert error_of(lambda: stranger.transact(grant)) == "AccessControlUnauthorizedAccount"
    client.transact(ledger.notary.functions.grantRole(role, stranger.operator.address))
    root = keccak(os.urandom(4))
    stranger.transact(notary_as_stranger.functions.anchor(root, 1, 1, 1, ""))
    assert ledger.notary.functions.isAnchored(root).call()
