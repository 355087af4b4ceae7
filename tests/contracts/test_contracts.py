"""DataNotary on a real anvil: access control, custom errors, events. (DeviceRegistry: test_device_registry.)"""

from __future__ import annotations

import os

import pytest
from eth_utils import keccak
from web3.exceptions import ContractCustomError

from ledger_service.core import tlog
from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.chain.notary_log import log_leaves
from ledger_service.core.log_leaf import leaf_data
from ledger_service.core.merkle import MerkleTree
from tests.utils.accounts import outsider
from tests.utils.factories import role_granted
from tests.utils.reverts import error_of


def test_anchor_appends_the_batch_to_the_log_and_emits_the_event(ledger: Ledger) -> None:
    tree = MerkleTree([keccak(os.urandom(4)) for _ in range(3)])
    before = ledger.notary.functions.batchCount().call()
    record = ledger.anchor(tree.root, 3, 100, 200, "bafy-test")
    assert record.chain_batch_id == before
    (event,) = ledger.notary.events.BatchAnchored().get_logs(
        from_block=record.block_number, to_block=record.block_number
    )
    anchorer = ledger.client.for_role("anchorer").operator.address
    assert event["args"]["anchorer"] == anchorer and event["args"]["contentId"] == "bafy-test"
    assert (event["args"]["batchId"], event["args"]["root"]) == (record.chain_batch_id, tree.root)
    size, head = ledger.notary.functions.logHead().call()
    leaves, _ = log_leaves(ledger.notary, 0)
    assert size == before + 1 and head == tlog.root(leaves)
    assert leaves[-1] == tlog.leaf_hash(
        leaf_data(record.chain_batch_id, "0x" + tree.root.hex(), 3, 100, 200, "bafy-test")
    )
    assert ledger.find_anchor(tree.root) == record
    assert not ledger.is_recorded(tree.root)  # nothing is stored per batch until someone asks


def test_a_recorded_batch_is_what_the_log_holds_and_verify_answers_for_it(ledger: Ledger) -> None:
    leaves = [keccak(os.urandom(4)) for _ in range(3)]
    tree = MerkleTree(leaves)
    record = ledger.anchor(tree.root, 3, 100, 200, "bafy-test")
    leaf = leaves[0]
    assert not ledger.verify(tree.root, leaf, tree.proof(leaf))  # anchored, not recorded
    assert ledger.record_anchors([tree.root, tree.root]) == 1
    assert ledger.record_anchors([tree.root]) == 0  # already recorded: nothing sent
    batch_id, count, first, last = ledger.notary.functions.getRecord(tree.root).call()
    assert (batch_id, count, first, last) == (record.chain_batch_id, 3, 100, 200)
    assert ledger.verify(tree.root, leaf, tree.proof(leaf))


def test_record_refuses_a_batch_the_log_does_not_hold(ledger: Ledger, client: ChainClient) -> None:
    """The notary takes nothing on the recorder's word: another count, a path to a node the log
    never had, or a batch never anchored is refused (DataNotaryNotInLog), and nothing is recorded."""
    root = keccak(os.urandom(4))
    record = ledger.anchor(root, 3, 100, 200, "bafy-test")
    leaves, _ = log_leaves(ledger.notary, 0)
    _, path = tlog.frontier_path(leaves, record.chain_batch_id)
    stranger = outsider(client)
    notary = stranger.w3.eth.contract(address=ledger.notary.address, abi=ledger.notary.abi)
    forged = [
        (record.chain_batch_id, root, 4, 100, 200, "bafy-test", path),  # another count
        (record.chain_batch_id, root, 3, 100, 200, "bafy-other", path),  # another content id
        (record.chain_batch_id, root, 3, 100, 200, "bafy-test", [*path, keccak(b"x")]),  # a longer path
        (record.chain_batch_id + 1, root, 3, 100, 200, "bafy-test", path),  # a batch not anchored
    ]
    for arguments in forged:
        assert (
            error_of(lambda a=arguments: stranger.transact(notary.functions.recordAnchor(*a))) == "DataNotaryNotInLog"
        )
    assert not ledger.is_recorded(root)
    stranger.transact(notary.functions.recordAnchor(record.chain_batch_id, root, 3, 100, 200, "bafy-test", path))
    assert ledger.is_recorded(root)  # anyone may record what the log holds


def test_revert_when_caller_is_not_anchorer(ledger: Ledger, client: ChainClient) -> None:
    stranger = outsider(client)
    notary = stranger.w3.eth.contract(address=ledger.notary.address, abi=ledger.notary.abi)
    root = keccak(os.urandom(4))
    count = ledger.notary.functions.batchCount().call()
    call = notary.functions.anchor(root, 1, 1, 1, "")
    assert error_of(lambda: stranger.transact(call)) == "AccessControlUnauthorizedAccount"
    assert ledger.notary.functions.batchCount().call() == count
    assert ledger.find_anchor(root) is None


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
    count_before = ledger.notary.functions.batchCount().call()
    assert error_of(lambda: ledger.anchor(root, count, first, last, "")) == error
    assert ledger.notary.functions.batchCount().call() == count_before


def test_a_root_anchored_twice_is_found_and_recorded_as_its_earliest_batch(ledger: Ledger) -> None:
    root = keccak(os.urandom(4))
    first = ledger.anchor(root, 1, 1, 1, "")
    second = ledger.anchor(root, 2, 1, 2, "")
    assert second.chain_batch_id == first.chain_batch_id + 1  # a new batch: the log has both
    assert ledger.find_anchor(root) == first
    ledger.record_anchors([root])
    assert ledger.notary.functions.getRecord(root).call()[0] == first.chain_batch_id


def test_find_anchor_with_the_batch_takes_only_an_anchor_of_that_batch(ledger: Ledger) -> None:
    """An anchor of the same root with other fields (a stray one by another anchorer) is not the
    batch's: the batcher, which looks with the batch's fields, would anchor it again."""
    root = keccak(os.urandom(4))
    stray = ledger.anchor(root, 1, 1, 1, "bafy-stray")
    assert ledger.find_anchor(root, (1, 1, 1, "bafy-mine")) is None
    assert ledger.find_anchor(root, (1, 1, 1, "bafy-stray")) == stray == ledger.find_anchor(root)
    mine = ledger.anchor(root, 1, 1, 1, "bafy-mine")
    assert ledger.find_anchor(root, (1, 1, 1, "bafy-mine")) == mine


def test_unknown_roots_are_not_recorded_and_verify_refuses_them(ledger: Ledger) -> None:
    with pytest.raises(ContractCustomError) as info:
        ledger.notary.functions.getRecord(keccak(b"never")).call()
    assert ledger.client.errors.name_of(info.value) == "DataNotaryNotRecorded"
    leaf = keccak(b"leaf")
    assert not ledger.verify(leaf, leaf, [])  # a valid single-leaf tree, but never anchored
    assert ledger.find_anchor(leaf) is None
    assert ledger.record_anchors([leaf]) == 0  # nothing to record: the log has no such batch
    assert not ledger.is_recorded(leaf)


def test_admin_can_grant_roles_and_outsiders_cannot(ledger: Ledger, client: ChainClient, admin: ChainClient) -> None:
    stranger = outsider(client)
    role = ledger.notary.functions.ANCHORER_ROLE().call()
    notary_as_stranger = stranger.w3.eth.contract(address=ledger.notary.address, abi=ledger.notary.abi)
    grant = notary_as_stranger.functions.grantRole(role, stranger.operator.address)
    assert error_of(lambda: stranger.transact(grant)) == "AccessControlUnauthorizedAccount"
    with role_granted(admin, ledger.notary, role, stranger.operator.address):
        root = keccak(os.urandom(4))
        stranger.transact(notary_as_stranger.functions.anchor(root, 1, 1, 1, ""))
        assert ledger.find_anchor(root) is not None
    assert error_of(lambda: stranger.transact(notary_as_stranger.functions.anchor(keccak(root), 1, 1, 1, ""))) == (
        "AccessControlUnauthorizedAccount"
    )


def test_anchoring_costs_the_same_for_any_batch_size(ledger: Ledger) -> None:
    """No storage per batch: the gas does not depend on how many readings the root covers. (It
    depends on the batch's place in the log, so both are estimated for the same next place.)"""
    anchorer = ledger.client.for_role("anchorer")
    cid = "bafkrei" + "a" * 52
    sender = {"from": anchorer.operator.address}
    small = ledger.notary.functions.anchor(keccak(os.urandom(4)), 1, 1, 1, cid).estimate_gas(sender)
    large = ledger.notary.functions.anchor(keccak(os.urandom(4)), 10_000, 1, 2, cid).estimate_gas(sender)
    assert abs(small - large) < 200
    assert large <= 60_000  # at most 6 gas per reading for a batch of 10,000


def test_values_beyond_the_packed_fields_are_refused_before_sending(ledger: Ledger) -> None:
    with pytest.raises(Exception, match="uint32|out of range|bounds|Could not identify"):
        ledger.notary.functions.anchor(keccak(b"big"), 2**32, 1, 1, "").build_transaction(
            {"from": ledger.client.operator.address}
        )
