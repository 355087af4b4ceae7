"""DataNotary on a real anvil: access control, custom errors, events. (DeviceRegistry: test_device_registry.)"""

from __future__ import annotations

import os

import pytest
from eth_utils import keccak
from web3.exceptions import ContractCustomError

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.merkle import MerkleTree
from tests.utils.accounts import outsider
from tests.utils.factories import role_granted
from tests.utils.reverts import error_of


def test_anchor_records_the_batch_and_emits_the_event(ledger: Ledger) -> None:
    tree = MerkleTree([keccak(os.urandom(4)) for _ in range(3)])
    before = ledger.notary.functions.batchCount().call()
    record = ledger.anchor(tree.root, 3, 100, 200, "bafy-test")
    assert record.chain_batch_id == before
    batch_id, anchored_at, block_number, count, first, last = ledger.notary.functions.getAnchor(tree.root).call()
    assert (batch_id, block_number, count, first, last) == (record.chain_batch_id, record.block_number, 3, 100, 200)
    block = ledger.client.w3.eth.get_block(record.block_number)
    assert anchored_at == block["timestamp"]
    (event,) = ledger.notary.events.BatchAnchored().get_logs(
        from_block=record.block_number, to_block=record.block_number
    )
    anchorer = ledger.client.for_role("anchorer").operator.address
    assert event["args"]["anchorer"] == anchorer and event["args"]["contentId"] == "bafy-test"
    assert (event["args"]["batchId"], event["args"]["root"]) == (record.chain_batch_id, tree.root)
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
        ledger.notary.functions.getAnchor(keccak(b"never")).call()
    assert ledger.client.errors.name_of(info.value) == "DataNotaryUnknownRoot"
    with pytest.raises(ContractCustomError) as info:
        ledger.notary.functions.batchIdOf(keccak(b"never")).call()
    assert ledger.client.errors.name_of(info.value) == "DataNotaryUnknownRoot"
    leaf = keccak(b"leaf")
    assert not ledger.verify(leaf, leaf, [])  # a valid single-leaf tree, but never anchored
    assert ledger.find_anchor(leaf) is None


def test_admin_can_grant_roles_and_outsiders_cannot(ledger: Ledger, client: ChainClient, admin: ChainClient) -> None:
    stranger = outsider(client)
    role = ledger.notary.functions.ANCHORER_ROLE().call()
    notary_as_stranger = stranger.w3.eth.contract(address=ledger.notary.address, abi=ledger.notary.abi)
    grant = notary_as_stranger.functions.grantRole(role, stranger.operator.address)
    assert error_of(lambda: stranger.transact(grant)) == "AccessControlUnauthorizedAccount"
    with role_granted(admin, ledger.notary, role, stranger.operator.address):
        root = keccak(os.urandom(4))
        stranger.transact(notary_as_stranger.functions.anchor(root, 1, 1, 1, ""))
        assert ledger.notary.functions.isAnchored(root).call()
    assert error_of(lambda: stranger.transact(notary_as_stranger.functions.anchor(keccak(root), 1, 1, 1, ""))) == (
        "AccessControlUnauthorizedAccount"
    )


def test_anchoring_costs_the_same_for_any_batch_size(ledger: Ledger) -> None:
    """One storage slot per batch: the gas does not depend on how many readings the root covers. (It
    depends on the batch's place in the log, so both are estimated for the same next place.)"""
    anchorer = ledger.client.for_role("anchorer")
    cid = "bafkrei" + "a" * 52
    sender = {"from": anchorer.operator.address}
    small = ledger.notary.functions.anchor(keccak(os.urandom(4)), 1, 1, 1, cid).estimate_gas(sender)
    large = ledger.notary.functions.anchor(keccak(os.urandom(4)), 10_000, 1, 2, cid).estimate_gas(sender)
    assert abs(small - large) < 200
    assert large <= 100_000  # at most 10 gas per reading for a batch of 10,000


def test_values_beyond_the_packed_fields_are_refused_before_sending(ledger: Ledger) -> None:
    with pytest.raises(Exception, match="uint32|out of range|bounds|Could not identify"):
        ledger.notary.functions.anchor(keccak(b"big"), 2**32, 1, 1, "").build_transaction(
            {"from": ledger.client.operator.address}
        )
