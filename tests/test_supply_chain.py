"""SupplyChain and AssetToken on anvil: the lifecycle of an item and its token, and every refusal."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from ledger_service.chain.client import ChainClient
from ledger_service.chain.ledger import Ledger
from ledger_service.content import LocalContentStore
from ledger_service.keys import DeviceKey, KeyType
from ledger_service.merkle import MerkleTree
from ledger_service.runtime import ChainContext
from ledger_service.supply_chain import (
    Condition,
    Evidence,
    ItemStatus,
    Location,
    SupplyChainContract,
    reading_leaf_of,
)
from tests.test_contracts import error_of, outsider
from tokenization.assets import AssetTokens, token_id_of

HAMBURG = Location.of(53.5461, 9.9661, "4012345000009")
ROTTERDAM = Location.of(51.9036, 4.4996, "8712345000004")


@pytest.fixture(scope="module")
def manufacturer(chain: ChainContext) -> SupplyChainContract:
    return SupplyChainContract(chain.client, chain.deployment, chain.artifacts)


@pytest.fixture(scope="module")
def parties(chain: ChainContext) -> dict[str, ChainClient]:
    return {name: outsider(chain.client) for name in ("carrier", "warehouse", "stranger")}


def now(chain: ChainContext) -> int:
    return int(chain.client.w3.eth.get_block("latest")["timestamp"])


def new_item(manufacturer: SupplyChainContract, ledger: Ledger, custodian: str) -> tuple[bytes, bytes]:
    device = os.urandom(32)
    ledger.register_device(device, DeviceKey.generate(KeyType.SECP256K1).public_key)
    item_id = os.urandom(32)
    manufacturer.register_item(item_id, custodian, keccak(b"lot description"), "bafy-item", [device])
    return item_id, device


def anchored_evidence(ledger: Ledger, readings: int = 4) -> Evidence:
    """Evidence for one of `readings` (digest, signature hash) pairs anchored as a batch."""
    pairs = [(os.urandom(32), os.urandom(32)) for _ in range(readings)]
    leaves = [reading_leaf_of(d, s) for d, s in pairs]
    tree = MerkleTree(leaves)
    ledger.anchor(tree.root, readings, 1_700_000_000, 1_700_000_100, "bafy-batch")
    chosen = readings // 2
    return Evidence(tree.root, pairs[chosen][0], pairs[chosen][1], tree.proof(leaves[chosen]))


def events(receipt: Any, contract: SupplyChainContract, name: str) -> list[Any]:
    return list(getattr(contract.contract.events, name)().process_receipt(receipt))


def test_lifecycle_handover_checkpoints_breach_and_delivery(
    chain: ChainContext, ledger: Ledger, manufacturer: SupplyChainContract, parties: dict[str, ChainClient]
) -> None:
    operator = chain.client.operator.address
    item_id, device = new_item(manufacturer, ledger, operator)
    item = manufacturer.get_item(item_id)
    assert item.status is ItemStatus.ACTIVE and item.custodian == operator and item.manufacturer == operator
    assert manufacturer.devices_of(item_id) == [device]

    carrier = manufacturer.as_account(parties["carrier"])
    receipt = manufacturer.propose_transfer(item_id, parties["carrier"].operator.address, HAMBURG, now(chain) + 3600)
    proposed = events(receipt, manufacturer, "TransferProposed")[0]["args"]
    assert proposed["transferId"] == 1 and Location.from_tuple(proposed["location"]) == HAMBURG
    receipt = carrier.accept_transfer(item_id, HAMBURG)
    accepted = events(receipt, manufacturer, "TransferAccepted")[0]["args"]
    assert Location.from_tuple(accepted["location"]) == HAMBURG
    assert accepted["previousCustodian"] == operator and accepted["newCustodian"] == parties["carrier"].operator.address
    assert manufacturer.get_item(item_id).custodian == parties["carrier"].operator.address
    assert manufacturer.pending_transfer(item_id) is None

    evidence = anchored_evidence(ledger)
    receipt = carrier.record_checkpoint(item_id, ROTTERDAM, 200, evidence)
    checkpoint = events(receipt, manufacturer, "CheckpointRecorded")[0]["args"]
    assert checkpoint["evidenceLeaf"] == evidence.leaf and checkpoint["statusCode"] == 200
    carrier.record_checkpoint(item_id, ROTTERDAM, 201)  # no evidence: nothing to check

    receipt = manufacturer.set_condition(item_id, Condition.OUT_OF_COMPLIANCE, evidence)
    changed = events(receipt, manufacturer, "ConditionChanged")[0]["args"]
    assert changed["newCondition"] == Condition.OUT_OF_COMPLIANCE and changed["evidenceRoot"] == evidence.root
    assert manufacturer.get_item(item_id).condition is Condition.OUT_OF_COMPLIANCE

    warehouse = manufacturer.as_account(parties["warehouse"])
    carrier.propose_transfer(item_id, parties["warehouse"].operator.address, ROTTERDAM, now(chain) + 3600)
    warehouse.accept_transfer(item_id)
    receipt = warehouse.confirm_delivery(item_id, ROTTERDAM)
    assert (
        events(receipt, manufacturer, "ItemDelivered")[0]["args"]["custodian"] == parties["warehouse"].operator.address
    )
    assert manufacturer.get_item(item_id).status is ItemStatus.DELIVERED
    assert manufacturer.get_item(item_id).transfer_count == 2
    # delivered is final
    assert (
        error_of(lambda: warehouse.propose_transfer(item_id, operator, ROTTERDAM, now(chain) + 60))
        == "SupplyChainItemClosed"
    )
    assert error_of(lambda: warehouse.record_checkpoint(item_id, ROTTERDAM, 1)) == "SupplyChainItemClosed"


def test_handover_refusals(
    chain: ChainContext, ledger: Ledger, manufacturer: SupplyChainContract, parties: dict[str, ChainClient]
) -> None:
    operator = chain.client.operator.address
    carrier_address = parties["carrier"].operator.address
    item_id, _ = new_item(manufacturer, ledger, operator)
    stranger = manufacturer.as_account(parties["stranger"])
    carrier = manufacturer.as_account(parties["carrier"])

    assert (
        error_of(lambda: stranger.propose_transfer(item_id, carrier_address, HAMBURG, now(chain) + 60))
        == "SupplyChainNotCustodian"
    )
    assert (
        error_of(lambda: manufacturer.propose_transfer(item_id, operator, HAMBURG, now(chain) + 60))
        == "SupplyChainInvalidReceiver"
    )
    assert (
        error_of(lambda: manufacturer.propose_transfer(item_id, "0x" + "00" * 20, HAMBURG, now(chain) + 60))
        == "SupplyChainInvalidReceiver"
    )
    assert (
        error_of(lambda: manufacturer.propose_transfer(item_id, carrier_address, HAMBURG, now(chain) - 1))
        == "SupplyChainInvalidExpiry"
    )
    assert error_of(lambda: carrier.accept_transfer(item_id)) == "SupplyChainNoPendingTransfer"

    manufacturer.propose_transfer(item_id, carrier_address, HAMBURG, now(chain) + 60)
    assert (
        error_of(lambda: manufacturer.propose_transfer(item_id, carrier_address, HAMBURG, now(chain) + 60))
        == "SupplyChainTransferPending"
    )
    assert error_of(lambda: stranger.accept_transfer(item_id)) == "SupplyChainNotReceiver"
    assert error_of(lambda: manufacturer.accept_transfer(item_id)) == "SupplyChainNotReceiver"
    assert error_of(lambda: stranger.cancel_transfer(item_id)) == "SupplyChainNotTransferParty"
    carrier.cancel_transfer(item_id)  # the receiver refuses
    assert manufacturer.pending_transfer(item_id) is None
    assert error_of(lambda: carrier.accept_transfer(item_id)) == "SupplyChainNoPendingTransfer"

    manufacturer.propose_transfer(item_id, carrier_address, HAMBURG, now(chain) + 60)
    carrier.accept_transfer(item_id)
    assert error_of(lambda: carrier.accept_transfer(item_id)) == "SupplyChainNoPendingTransfer"  # no double acceptance

    # an expired proposal cannot be accepted
    carrier.propose_transfer(item_id, operator, HAMBURG, now(chain) + 2)
    time.sleep(3)  # real time: moving the shared chain's clock ahead would date keys in the future
    chain.client.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert error_of(lambda: manufacturer.accept_transfer(item_id)) == "SupplyChainTransferExpired"
    manufacturer.as_account(parties["carrier"]).cancel_transfer(item_id)  # the custodian withdraws it

    # hold blocks handovers until released
    manufacturer.hold(item_id)
    assert (
        error_of(lambda: carrier.propose_transfer(item_id, operator, HAMBURG, now(chain) + 60))
        == "SupplyChainItemOnHold"
    )
    assert error_of(lambda: stranger.release(item_id)) == "SupplyChainNotManufacturer"
    manufacturer.release(item_id)
    carrier.propose_transfer(item_id, operator, HAMBURG, now(chain) + 60)

    # a recall cancels the pending transfer and closes the item
    assert error_of(lambda: carrier.recall(item_id, "contamination")) == "SupplyChainNotManufacturer"
    receipt = manufacturer.recall(item_id, "contamination")
    assert len(events(receipt, manufacturer, "TransferCancelled")) == 1
    assert manufacturer.get_item(item_id).status is ItemStatus.RECALLED
    assert error_of(lambda: manufacturer.accept_transfer(item_id)) == "SupplyChainItemClosed"
    assert (
        error_of(lambda: carrier.propose_transfer(item_id, operator, HAMBURG, now(chain) + 60))
        == "SupplyChainItemClosed"
    )
    assert error_of(lambda: manufacturer.recall(item_id, "again")) == "SupplyChainItemClosed"


def test_registration_devices_and_evidence_refusals(
    chain: ChainContext, ledger: Ledger, manufacturer: SupplyChainContract, parties: dict[str, ChainClient]
) -> None:
    operator = chain.client.operator.address
    stranger = manufacturer.as_account(parties["stranger"])
    assert (
        error_of(lambda: stranger.register_item(os.urandom(32), operator, bytes(32)))
        == "AccessControlUnauthorizedAccount"
    )
    assert error_of(lambda: manufacturer.register_item(bytes(32), operator, bytes(32))) == "SupplyChainZeroItemId"
    assert (
        error_of(lambda: manufacturer.register_item(os.urandom(32), operator, bytes(32), "", [os.urandom(32)]))
        == "SupplyChainUnknownDevice"
    )
    item_id, device = new_item(manufacturer, ledger, operator)
    assert error_of(lambda: manufacturer.register_item(item_id, operator, bytes(32))) == "SupplyChainItemExists"
    assert error_of(lambda: manufacturer.attach_device(item_id, device)) == "SupplyChainDeviceAlreadyAttached"
    assert error_of(lambda: stranger.attach_device(item_id, device)) == "SupplyChainNotManufacturer"
    manufacturer.detach_device(item_id, device)
    assert manufacturer.devices_of(item_id) == []
    assert error_of(lambda: manufacturer.detach_device(item_id, device)) == "SupplyChainDeviceNotAttached"

    # checkpoints: custodian or oracle only; evidence must be anchored and prove its leaf
    assert error_of(lambda: stranger.record_checkpoint(item_id, HAMBURG, 1)) == "SupplyChainNotCheckpointer"
    evidence = anchored_evidence(ledger)
    unanchored = Evidence(keccak(b"never anchored"), evidence.digest, evidence.signature_hash, evidence.proof)
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, unanchored))
        == "SupplyChainEvidenceNotAnchored"
    )
    wrong_leaf = Evidence(evidence.root, keccak(b"not in the batch"), evidence.signature_hash, evidence.proof)
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, wrong_leaf))
        == "SupplyChainEvidenceNotAnchored"
    )
    # the root itself, or an inner node, cannot pass for a reading: the contract computes the leaf
    single = anchored_evidence(ledger, readings=1)
    as_root = Evidence(single.root, single.root, single.root, [])
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, as_root))
        == "SupplyChainEvidenceNotAnchored"
    )
    manufacturer.record_checkpoint(item_id, HAMBURG, 1, single)  # one-reading batch: its leaf is the root
    manufacturer.record_checkpoint(item_id, HAMBURG, 1, evidence)

    # conditions: oracle role only, a real change, anchored evidence
    assert (
        error_of(lambda: stranger.set_condition(item_id, Condition.OUT_OF_COMPLIANCE))
        == "AccessControlUnauthorizedAccount"
    )
    assert error_of(lambda: manufacturer.set_condition(item_id, Condition.COMPLIANT)) == "SupplyChainSameCondition"
    assert (
        error_of(lambda: manufacturer.set_condition(item_id, Condition.OUT_OF_COMPLIANCE, unanchored))
        == "SupplyChainEvidenceNotAnchored"
    )
    assert manufacturer.get_item(item_id).condition is Condition.COMPLIANT


def test_asset_token_follows_the_item(
    chain: ChainContext,
    ledger: Ledger,
    manufacturer: SupplyChainContract,
    parties: dict[str, ChainClient],
    tmp_path: Path,
) -> None:
    operator = chain.client.operator.address
    content = LocalContentStore(tmp_path / "content")
    tokens = AssetTokens(chain.client, chain.deployment, chain.artifacts, content)
    item_id, device = new_item(manufacturer, ledger, operator)
    token_id, uri = tokens.mint(item_id, operator, "bafy-item")
    assert token_id == token_id_of(item_id) and uri.startswith("ipfs://")
    token = tokens.token(token_id)
    assert token.owner == operator and token.transferable and not token.frozen
    metadata = tokens.metadata(token_id)
    assert metadata["properties"]["devices"] == ["0x" + device.hex()]
    assert metadata["properties"]["content_hash"] == "0x" + keccak(b"lot description").hex()
    assert error_of(lambda: tokens.mint(item_id, operator)) == "ERC721InvalidSender"  # one token per item

    buyer = parties["carrier"].operator.address
    tokens.transfer(token_id, buyer)
    assert tokens.token(token_id).owner == buyer
    buyer_tokens = AssetTokens(parties["carrier"], chain.deployment, chain.artifacts, content)

    manufacturer.set_condition(item_id, Condition.OUT_OF_COMPLIANCE)
    assert not tokens.token(token_id).transferable
    assert error_of(lambda: buyer_tokens.transfer(token_id, operator)) == "AssetTokenItemOutOfCompliance"
    manufacturer.set_condition(item_id, Condition.COMPLIANT)
    buyer_tokens.transfer(token_id, operator)

    manufacturer.recall(item_id, "recall")
    assert tokens.token(token_id).frozen
    assert error_of(lambda: tokens.transfer(token_id, buyer)) == "AssetTokenFrozen"
    history = tokens.history(token_id)
    assert [(h.from_address, h.to_address) for h in history] == [
        ("0x" + "00" * 20, operator), (operator, buyer), (buyer, operator),
    ]  # fmt: skip

    # minting is for the minter role, for existing items that are not recalled
    stranger_tokens = AssetTokens(parties["stranger"], chain.deployment, chain.artifacts, content)
    other_item, _ = new_item(manufacturer, ledger, operator)
    assert error_of(lambda: stranger_tokens.mint(other_item, operator)) == "AccessControlUnauthorizedAccount"
    mint = tokens.contract.functions.mint
    assert error_of(lambda: tokens.client.transact(mint(operator, os.urandom(32), "x"))) == "AssetTokenUnknownItem"
    assert error_of(lambda: tokens.client.transact(mint(operator, item_id, "x"))) == "AssetTokenFrozen"


def test_gas_of_the_supply_chain_calls(
    chain: ChainContext, ledger: Ledger, manufacturer: SupplyChainContract, parties: dict[str, ChainClient]
) -> None:
    """The numbers bench/supply_chain.py reports, kept from growing by accident."""
    operator = chain.client.operator.address
    device = os.urandom(32)
    ledger.register_device(device, DeviceKey.generate(KeyType.SECP256K1).public_key)
    item_id = os.urandom(32)
    register = manufacturer.register_item(item_id, operator, keccak(b"x"), "bafy-item", [device])
    propose = manufacturer.propose_transfer(item_id, parties["carrier"].operator.address, HAMBURG, now(chain) + 600)
    accept = manufacturer.as_account(parties["carrier"]).accept_transfer(item_id)
    carrier = manufacturer.as_account(parties["carrier"])
    plain = carrier.record_checkpoint(item_id, ROTTERDAM, 200)
    proven = carrier.record_checkpoint(item_id, ROTTERDAM, 200, anchored_evidence(ledger))
    receipts = {"register": register, "propose": propose, "accept": accept, "checkpoint": plain}
    receipts["checkpoint+evidence"] = proven
    gas = {name: r["gasUsed"] for name, r in receipts.items()}
    assert gas["register"] < 200_000
    assert gas["propose"] < 70_000 and gas["accept"] < 50_000
    assert gas["checkpoint"] < 40_000 and gas["checkpoint+evidence"] < gas["checkpoint"] + 20_000


def test_unknown_items_are_refused_by_views(chain: ChainContext, manufacturer: SupplyChainContract) -> None:
    from web3.exceptions import ContractCustomError

    with pytest.raises(ContractCustomError):
        manufacturer.get_item(os.urandom(32))
    assert manufacturer.functions.exists(os.urandom(32)).call() is False
