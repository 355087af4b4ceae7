"""SupplyChain and AssetToken on anvil: the lifecycle of an item and its token, devices attached for
periods with their owner's consent, evidence bound to the item and to time, and every refusal."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.enums import Condition, ItemStatus, KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.merkle import MerkleTree
from ledger_service.core.readings import Reading, reading_leaf
from ledger_service.core.supply_chain import Attachment, Evidence, Location, SupplyChainContract
from ledger_service.services.content import LocalContentStore
from tests.utils.accounts import outsider
from tests.utils.reverts import error_of
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


@dataclass
class Sensor:
    """A registered device and its key."""

    device_id: bytes
    key: DeviceKey
    sequence: int = 0


def new_sensor(ledger: Ledger, owner: str | None = None) -> Sensor:
    sensor = Sensor(os.urandom(32), DeviceKey.generate(KeyType.SECP256K1))
    ledger.register_device(sensor.device_id, sensor.key.public_key, owner=owner)
    return sensor


def new_item(manufacturer: SupplyChainContract, ledger: Ledger, custodian: str) -> tuple[bytes, Sensor]:
    sensor = new_sensor(ledger)
    item_id = os.urandom(32)
    manufacturer.register_item(item_id, custodian, keccak(b"lot description"), "bafy-item", [sensor.device_id])
    return item_id, sensor


def signed_evidence(ledger: Ledger, sensor: Sensor, timestamp: int, others: int = 3) -> Evidence:
    """A reading of `sensor` taken at `timestamp`, anchored in a batch with `others` other leaves."""
    sensor.sequence += 1
    reading = Reading(sensor.device_id, sensor.sequence, timestamp, "temperature", 512, 2, "Cel")
    signature = sensor.key.sign(reading.digest(ledger.domain))
    leaf = reading_leaf(reading.digest(ledger.domain), signature)
    tree = MerkleTree([leaf] + [os.urandom(32) for _ in range(others)])
    ledger.anchor(tree.root, others + 1, timestamp, timestamp, "bafy-batch")
    return Evidence(reading, signature, tree.root, tree.proof(leaf))


def block_time(chain: ChainContext, receipt: Any) -> int:
    return int(chain.client.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def next_second(chain: ChainContext) -> None:
    """Waits (real time) until a new block is stamped later than the latest one."""
    start = now(chain)
    while now(chain) <= start:
        time.sleep(0.3)
        chain.client.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def events(receipt: Any, contract: SupplyChainContract, name: str) -> list[Any]:
    return list(getattr(contract.contract.events, name)().process_receipt(receipt))


def test_lifecycle_handover_checkpoints_breach_and_delivery(
    chain: ChainContext, ledger: Ledger, manufacturer: SupplyChainContract, parties: dict[str, ChainClient]
) -> None:
    operator = chain.client.operator.address
    item_id, sensor = new_item(manufacturer, ledger, operator)
    item = manufacturer.get_item(item_id)
    assert item.status is ItemStatus.ACTIVE and item.custodian == operator and item.manufacturer == operator
    assert manufacturer.devices_of(item_id) == [sensor.device_id]

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

    evidence = signed_evidence(ledger, sensor, now(chain))
    receipt = carrier.record_checkpoint(item_id, ROTTERDAM, 200, evidence)
    checkpoint = events(receipt, manufacturer, "CheckpointRecorded")[0]["args"]
    assert checkpoint["evidenceLeaf"] == evidence.leaf(ledger.domain) and checkpoint["statusCode"] == 200
    carrier.record_checkpoint(item_id, ROTTERDAM, 201)  # no evidence: nothing to check

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


@pytest.mark.slow  # waits for the chain's clock in real time: left out of `make test-fast`
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
    item_id, sensor = new_item(manufacturer, ledger, operator)
    device = sensor.device_id
    assert error_of(lambda: manufacturer.register_item(item_id, operator, bytes(32))) == "SupplyChainItemExists"
    assert error_of(lambda: manufacturer.attach_device(item_id, device)) == "SupplyChainDeviceAlreadyAttached"
    assert error_of(lambda: stranger.attach_device(item_id, device)) == "SupplyChainNotManufacturer"

    # checkpoints: custodian only; evidence must be a signed reading of an attached device,
    # anchored, proving its leaf
    assert error_of(lambda: stranger.record_checkpoint(item_id, HAMBURG, 1)) == "SupplyChainNotCheckpointer"
    evidence = signed_evidence(ledger, sensor, now(chain))
    unanchored = Evidence(evidence.reading, evidence.signature, keccak(b"never anchored"), evidence.proof)
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, unanchored))
        == "SupplyChainEvidenceNotAnchored"
    )
    altered = Evidence(
        Reading(**{**evidence.reading.__dict__, "value": 300}), evidence.signature, evidence.root, evidence.proof
    )
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, altered))
        == "SupplyChainInvalidEvidenceSignature"
    )
    forged = Evidence(
        evidence.reading,
        DeviceKey.generate(KeyType.SECP256K1).sign(evidence.reading.digest(ledger.domain)),
        evidence.root,
        evidence.proof,
    )
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, forged))
        == "SupplyChainInvalidEvidenceSignature"
    )
    single = signed_evidence(ledger, sensor, now(chain), others=0)
    manufacturer.record_checkpoint(item_id, HAMBURG, 1, single)  # one-reading batch: its leaf is the root
    manufacturer.record_checkpoint(item_id, HAMBURG, 1, evidence)
    manufacturer.detach_device(item_id, device)
    assert manufacturer.devices_of(item_id) == []
    assert error_of(lambda: manufacturer.detach_device(item_id, device)) == "SupplyChainDeviceNotAttached"


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
    item_id, sensor = new_item(manufacturer, ledger, operator)
    device = sensor.device_id
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
    sensor = new_sensor(ledger)
    item_id = os.urandom(32)
    register = manufacturer.register_item(item_id, operator, keccak(b"x"), "bafy-item", [sensor.device_id])
    propose = manufacturer.propose_transfer(item_id, parties["carrier"].operator.address, HAMBURG, now(chain) + 600)
    accept = manufacturer.as_account(parties["carrier"]).accept_transfer(item_id)
    carrier = manufacturer.as_account(parties["carrier"])
    plain = carrier.record_checkpoint(item_id, ROTTERDAM, 200)
    proven = carrier.record_checkpoint(item_id, ROTTERDAM, 200, signed_evidence(ledger, sensor, now(chain)))
    receipts = {"register": register, "propose": propose, "accept": accept, "checkpoint": plain}
    receipts["checkpoint+evidence"] = proven
    gas = {name: r["gasUsed"] for name, r in receipts.items()}
    # registering keeps an attachment period per device and reads its owner from the registry
    assert gas["register"] < 215_000
    assert gas["propose"] < 70_000 and gas["accept"] < 50_000
    # evidence: the reading's digest, its signature checked in the registry, the attachment period
    assert gas["checkpoint"] < 40_000 and gas["checkpoint+evidence"] < gas["checkpoint"] + 40_000


def test_unknown_items_are_refused_by_views(chain: ChainContext, manufacturer: SupplyChainContract) -> None:
    from web3.exceptions import ContractCustomError

    with pytest.raises(ContractCustomError):
        manufacturer.get_item(os.urandom(32))
    assert manufacturer.functions.exists(os.urandom(32)).call() is False


@pytest.mark.slow  # waits for the chain's clock in real time: left out of `make test-fast`
def test_readings_outside_the_devices_attachment_periods_are_no_checkpoint_evidence(
    chain: ChainContext, ledger: Ledger, manufacturer: SupplyChainContract
) -> None:
    """Attack: a reading the device took before it was attached to the item (or after it was
    detached) is offered as the item's evidence."""
    operator = chain.client.operator.address
    sensor = new_sensor(ledger)
    registered_at = now(chain)
    next_second(chain)
    item_id = os.urandom(32)
    receipt = manufacturer.register_item(item_id, operator, keccak(b"lot"), "", [sensor.device_id])
    attached_at = block_time(chain, receipt)
    assert attached_at > registered_at
    before = signed_evidence(ledger, sensor, registered_at)  # a valid signature, key valid then
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, before))
        == "SupplyChainEvidenceNotAttached"
    )
    inside = signed_evidence(ledger, sensor, attached_at)
    manufacturer.record_checkpoint(item_id, HAMBURG, 1, inside)

    next_second(chain)
    detached_at = block_time(chain, manufacturer.detach_device(item_id, sensor.device_id))
    after = signed_evidence(ledger, sensor, detached_at)
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, after)) == "SupplyChainEvidenceNotAttached"
    )
    manufacturer.record_checkpoint(item_id, HAMBURG, 1, signed_evidence(ledger, sensor, detached_at - 1))

    next_second(chain)
    reattached_at = block_time(chain, manufacturer.attach_device(item_id, sensor.device_id))
    assert manufacturer.attachments_of(item_id, sensor.device_id) == [
        Attachment(attached_at, detached_at), Attachment(reattached_at, 0),
    ]  # fmt: skip
    gap = signed_evidence(ledger, sensor, detached_at)  # between the two periods
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, gap)) == "SupplyChainEvidenceNotAttached"
    )
    manufacturer.record_checkpoint(item_id, HAMBURG, 1, signed_evidence(ledger, sensor, reattached_at))
    assert manufacturer.device_history_of(item_id) == [sensor.device_id]


def test_checkpoint_evidence_from_a_device_not_attached_to_the_item_is_refused(
    chain: ChainContext, ledger: Ledger, manufacturer: SupplyChainContract
) -> None:
    """Attack: an anchored, validly signed reading of another item's device is offered as evidence."""
    operator = chain.client.operator.address
    item_id, _ = new_item(manufacturer, ledger, operator)
    _, foreign = new_item(manufacturer, ledger, operator)
    evidence = signed_evidence(ledger, foreign, now(chain))
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, evidence))
        == "SupplyChainEvidenceNotAttached"
    )
    loose = new_sensor(ledger)  # registered, attached to nothing
    assert (
        error_of(
            lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, signed_evidence(ledger, loose, now(chain)))
        )
        == "SupplyChainEvidenceNotAttached"
    )


def test_attaching_a_device_needs_its_owners_consent(
    chain: ChainContext, ledger: Ledger, manufacturer: SupplyChainContract, parties: dict[str, ChainClient]
) -> None:
    """Attack: a manufacturer attaches someone else's device to its item, so that device's readings
    would count as the item's evidence."""
    operator = chain.client.operator.address
    owner_client = parties["warehouse"]
    owner = manufacturer.as_account(owner_client)
    stranger = manufacturer.as_account(parties["stranger"])
    theirs = new_sensor(ledger, owner=owner_client.operator.address)
    assert (
        error_of(lambda: manufacturer.register_item(os.urandom(32), operator, bytes(32), "", [theirs.device_id]))
        == "SupplyChainNoOwnerConsent"
    )
    item_id, _ = new_item(manufacturer, ledger, operator)
    assert error_of(lambda: manufacturer.attach_device(item_id, theirs.device_id)) == "SupplyChainNoOwnerConsent"
    assert error_of(lambda: stranger.approve_attachment(item_id, theirs.device_id)) == "SupplyChainNotDeviceOwner"
    assert error_of(lambda: manufacturer.approve_attachment(item_id, theirs.device_id)) == "SupplyChainNotDeviceOwner"
    assert error_of(lambda: owner.approve_attachment(item_id, os.urandom(32))) == "SupplyChainUnknownDevice"
    assert manufacturer.attachments_of(item_id, theirs.device_id) == []

    # an approval withdrawn counts for nothing
    owner.approve_attachment(item_id, theirs.device_id)
    owner.approve_attachment(item_id, theirs.device_id, approved=False)
    assert error_of(lambda: manufacturer.attach_device(item_id, theirs.device_id)) == "SupplyChainNoOwnerConsent"
    # an approval is for one item and used up by the attachment
    other_item, _ = new_item(manufacturer, ledger, operator)
    receipt = owner.approve_attachment(item_id, theirs.device_id)
    approved = events(receipt, manufacturer, "AttachmentApproved")[0]["args"]
    assert approved["owner"] == owner_client.operator.address and approved["approved"] is True
    assert error_of(lambda: manufacturer.attach_device(other_item, theirs.device_id)) == "SupplyChainNoOwnerConsent"
    manufacturer.attach_device(item_id, theirs.device_id)
    manufacturer.detach_device(item_id, theirs.device_id)
    assert error_of(lambda: manufacturer.attach_device(item_id, theirs.device_id)) == "SupplyChainNoOwnerConsent"
    assert len(manufacturer.attachments_of(item_id, theirs.device_id)) == 1


def test_no_account_sets_an_items_condition(
    chain: ChainContext, ledger: Ledger, manufacturer: SupplyChainContract, parties: dict[str, ChainClient]
) -> None:
    """Attack: the deployer (admin, manufacturer) or any account marks an item out of compliance, or
    back, without evidence: only the bound SensorOracle contract can."""
    operator = chain.client.operator.address
    item_id, _ = new_item(manufacturer, ledger, operator)
    stranger = manufacturer.as_account(parties["stranger"])
    for caller in (manufacturer, stranger):
        calls = [caller.functions.setCondition(item_id, int(c), bytes(32), bytes(32)) for c in Condition]
        calls.append(caller.functions.setDetachLock(item_id, bytes(32), True))
        for call in calls:
            assert error_of(lambda c=call, who=caller: who.client.transact(c)) == "SupplyChainNotOracle"
    assert manufacturer.get_item(item_id).condition is Condition.COMPLIANT
    assert manufacturer.oracle() == chain.deployment.address_of("SensorOracle")
    # the binding is final, and only a contract naming this supply chain could have been bound
    deployer = manufacturer.as_account(chain.client.for_role("deployer"))
    rebind = deployer.functions.bindOracle(operator)
    assert error_of(lambda: deployer.client.transact(rebind)) == "SupplyChainOracleAlreadyBound"
    operator_bind = manufacturer.functions.bindOracle(operator)
    assert error_of(lambda: manufacturer.client.transact(operator_bind)) == "SupplyChainNotDeployer"
    stranger_bind = stranger.functions.bindOracle(parties["stranger"].operator.address)
    assert error_of(lambda: stranger.client.transact(stranger_bind)) == "SupplyChainNotDeployer"
    assert "ORACLE_ROLE" not in [f["name"] for f in manufacturer.contract.abi if f.get("type") == "function"]


def test_checkpoint_evidence_dated_in_the_future_is_refused(
    chain: ChainContext, ledger: Ledger, manufacturer: SupplyChainContract
) -> None:
    """Attack: a reading of the item's own device, pre-signed with a date a year ahead (inside the
    open attachment period) and anchored now, is offered as a checkpoint's evidence."""
    operator = chain.client.operator.address
    item_id, sensor = new_item(manufacturer, ledger, operator)
    ahead = signed_evidence(ledger, sensor, now(chain) + 365 * 86_400)
    assert (
        error_of(lambda: manufacturer.record_checkpoint(item_id, HAMBURG, 1, ahead))
        == "SupplyChainEvidenceFromTheFuture"
    )
    manufacturer.record_checkpoint(item_id, HAMBURG, 1, signed_evidence(ledger, sensor, now(chain)))
