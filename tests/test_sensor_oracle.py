"""SensorOracle, ShipmentEscrow and token freezes on anvil: rules fired by evidence and by committee
reports (ECDSA and BLS), their actions, and every refusal."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_utils import keccak
from web3.logs import DISCARD

from ledger_service.chain.client import ChainClient
from ledger_service.chain.ledger import Ledger
from ledger_service.keys import DeviceKey, KeyType
from ledger_service.merkle import MerkleTree
from ledger_service.readings import Reading, reading_leaf
from ledger_service.runtime import ChainContext
from ledger_service.supply_chain import Condition, Location, SupplyChainContract
from oracles import bls
from oracles.contract import (
    CommitteeMember,
    CommitteeReport,
    SensorOracleContract,
    SignedReading,
    sign_bls,
    sign_ecdsa,
)
from oracles.rules import Action, Comparison, Path, RuleKind, RuleSpec
from tests.test_contracts import error_of, outsider
from tokenization.assets import AssetTokens, token_id_of
from tokenization.escrow import Outcome, ShipmentEscrowContract

ETHER = 10**18
ALL_ACTIONS = Action.MARK_OUT_OF_COMPLIANCE | Action.FREEZE_TOKEN | Action.SETTLE_ESCROW


@dataclass
class Shipment:
    item_id: bytes
    device_id: bytes
    key: DeviceKey
    next_sequence: int = 1


@pytest.fixture(scope="module")
def oracle(chain: ChainContext) -> SensorOracleContract:
    """SensorOracle called by its admin (committee, device rules; anyone may submit reports)."""
    return SensorOracleContract(chain.client.for_role("admin"), chain.deployment, chain.artifacts)


@pytest.fixture(scope="module")
def supply(chain: ChainContext) -> SupplyChainContract:
    return SupplyChainContract(chain.client, chain.deployment, chain.artifacts)


@pytest.fixture(scope="module")
def escrow(chain: ChainContext) -> ShipmentEscrowContract:
    return ShipmentEscrowContract(chain.client, chain.deployment, chain.artifacts)


@pytest.fixture(scope="module")
def stranger(chain: ChainContext) -> ChainClient:
    return outsider(chain.client)


@pytest.fixture(scope="module")
def committee(oracle: SensorOracleContract) -> list[CommitteeMember]:
    """Four members, quorum three (added unless a previous module did)."""
    members = [CommitteeMember.generate() for _ in range(4)]
    for member in members:
        oracle.add_member(member)
    oracle.set_quorum(3)
    return members


def now(chain: ChainContext) -> int:
    return int(chain.client.w3.eth.get_block("latest")["timestamp"])


def new_shipment(supply: SupplyChainContract, ledger: Ledger) -> Shipment:
    key = DeviceKey.generate(KeyType.SECP256K1)
    device = os.urandom(32)
    ledger.register_device(device, key.public_key)
    item_id = os.urandom(32)
    supply.register_item(item_id, supply.client.operator.address, keccak(b"vaccines"), "bafy-lot", [device])
    return Shipment(item_id, device, key)


def take_readings(
    ledger: Ledger, shipment: Shipment, values: list[int], start: int, step: int = 10, metric: str = "temperature"
) -> list[tuple[Reading, bytes]]:
    readings = []
    for i, value in enumerate(values):
        reading = Reading(shipment.device_id, shipment.next_sequence, start + i * step, metric, value, 2, "Cel")
        shipment.next_sequence += 1
        readings.append((reading, shipment.key.sign(reading.digest(ledger.domain))))
    return readings


def anchor(ledger: Ledger, readings: list[tuple[Reading, bytes]], anchored: bool = True) -> list[SignedReading]:
    """Anchors the readings as one batch (with some other readings) and returns their evidence."""
    leaves = [reading_leaf(r.digest(ledger.domain), s) for r, s in readings]
    tree = MerkleTree(leaves + [os.urandom(32) for _ in range(3)])
    if anchored:
        ledger.anchor(tree.root, len(leaves) + 3, 1, 2, "bafy-batch")
    return [SignedReading(r, s, tree.root, tree.proof(leaf)) for (r, s), leaf in zip(readings, leaves, strict=True)]


def cold_chain_rule(shipment: Shipment, **overrides: Any) -> RuleSpec:
    """Above 8.00 °C for three readings spanning 20 s."""
    spec = RuleSpec(
        item_id=shipment.item_id,
        metric="temperature",
        comparison=Comparison.ABOVE,
        upper=800,
        scale=2,
        min_readings=3,
        min_duration=20,
        actions=ALL_ACTIONS,
    )
    return replace(spec, **overrides)


def fired(oracle: SensorOracleContract, receipt: Any) -> Any:
    return oracle.contract.events.RuleFired().process_receipt(receipt, errors=DISCARD)[0]["args"]


def test_breach_evidence_marks_freezes_and_refunds_exactly_once(
    chain: ChainContext,
    ledger: Ledger,
    oracle: SensorOracleContract,
    supply: SupplyChainContract,
    escrow: ShipmentEscrowContract,
    stranger: ChainClient,
) -> None:
    shipment = new_shipment(supply, ledger)
    tokens = AssetTokens(chain.client, chain.deployment, chain.artifacts, content=None)  # type: ignore[arg-type]
    token_id = token_id_of(shipment.item_id)
    chain.client.transact(tokens.contract.functions.mint(chain.client.operator.address, shipment.item_id, "ipfs://x"))
    buyer = outsider(chain.client)
    seller = outsider(chain.client).operator.address
    escrow.as_account(buyer).open(shipment.item_id, seller, now(chain) + 86_400, ETHER)

    rule_id, _ = oracle.add_rule(cold_chain_rule(shipment))
    readings = take_readings(ledger, shipment, [500, 850, 900, 950, 400], now(chain) + 1)
    evidence = anchor(ledger, readings)

    receipt = oracle.as_account(stranger).submit_evidence(rule_id, evidence[1:4])  # anyone may submit
    event = fired(oracle, receipt)
    assert event["ruleId"] == rule_id and event["itemId"] == shipment.item_id
    assert event["deviceId"] == shipment.device_id and event["path"] == Path.EVIDENCE
    assert event["value"] == 850 and event["evidenceRoot"] == evidence[1].root
    assert event["submitter"] == stranger.operator.address
    assert supply.get_item(shipment.item_id).condition is Condition.OUT_OF_COMPLIANCE
    assert tokens.contract.functions.isFrozen(token_id).call()
    assert escrow.escrow_of(shipment.item_id).outcome is Outcome.REFUNDED_ON_BREACH  # type: ignore[union-attr]
    assert escrow.credit_of(buyer.operator.address) == ETHER
    assert escrow.credit_of(seller) == 0
    assert oracle.rule(rule_id).fired_at > 0

    # exactly once: the same report, a later window of the same breach, or any other report
    for again in (evidence[1:4], evidence[2:5][:2] + evidence[1:2]):
        assert error_of(lambda e=again: oracle.submit_evidence(rule_id, e)) == "OracleRuleAlreadyFired"
    assert error_of(lambda: escrow.settle(shipment.item_id)) == "EscrowAlreadySettled"

    balance = chain.client.w3.eth.get_balance(buyer.operator.address)
    receipt = escrow.as_account(buyer).withdraw()
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert chain.client.w3.eth.get_balance(buyer.operator.address) == balance + ETHER - fee
    assert error_of(lambda: escrow.as_account(buyer).withdraw()) == "EscrowNothingToWithdraw"
    # the frozen token cannot move
    assert (
        error_of(
            lambda: chain.client.transact(
                tokens.contract.functions.transferFrom(chain.client.operator.address, seller, token_id)
            )
        )
        == "AssetTokenFrozen"
    )


def test_readings_of_other_metrics_between_the_breaches_are_passed_through(
    chain: ChainContext, ledger: Ledger, oracle: SensorOracleContract, supply: SupplyChainContract
) -> None:
    """A device that reports temperature and humidity in turn: the humidity readings sit between
    the hot ones in its sequence; they are proven but not compared, and do not count."""
    shipment = new_shipment(supply, ledger)
    rule_id, _ = oracle.add_rule(cold_chain_rule(shipment, actions=Action.MARK_OUT_OF_COMPLIANCE))
    start = now(chain) + 1
    readings = []
    for i, value in enumerate([900, 910, 920]):
        readings += take_readings(ledger, shipment, [value], start + 20 * i)
        readings += take_readings(ledger, shipment, [30], start + 20 * i + 5, metric="humidity")
    evidence = anchor(ledger, readings)
    # two hot readings and two humidity ones are not three hot readings
    assert error_of(lambda: oracle.submit_evidence(rule_id, evidence[:4])) == "OracleDebounceNotMet"
    # a stretch must start with the rule's metric
    assert error_of(lambda: oracle.submit_evidence(rule_id, evidence[1:])) == "OracleWrongMetric"
    receipt = oracle.submit_evidence(rule_id, evidence[:5])
    event = fired(oracle, receipt)
    assert event["value"] == 900 and event["observedAt"] == start
    assert supply.get_item(shipment.item_id).condition is Condition.OUT_OF_COMPLIANCE


def test_evidence_refusals(
    chain: ChainContext, ledger: Ledger, oracle: SensorOracleContract, supply: SupplyChainContract
) -> None:
    shipment = new_shipment(supply, ledger)
    early = take_readings(ledger, shipment, [900, 900, 900], now(chain) - 600)  # before the rule existed
    rule_id, _ = oracle.add_rule(cold_chain_rule(shipment, actions=Action.MARK_OUT_OF_COMPLIANCE))
    good = take_readings(ledger, shipment, [900, 910, 920, 930], now(chain) + 1)
    evidence = anchor(ledger, good + early)
    hot, stale = evidence[:4], evidence[4:]

    def refused(readings: list[SignedReading], rule: int = rule_id) -> str | None:
        return error_of(lambda: oracle.submit_evidence(rule, readings))

    # a forged reading: its value changed after the device signed it
    forged = replace(hot[1], reading=replace(hot[1].reading, value=990))
    assert refused([hot[0], forged, hot[2]]) == "OracleInvalidSignature"
    # signed by another key than the device's
    other_key = DeviceKey.generate(KeyType.SECP256K1)
    impostor = replace(hot[1], signature=other_key.sign(hot[1].reading.digest(ledger.domain)))
    assert refused([hot[0], impostor, hot[2]]) == "OracleInvalidSignature"
    # a replayed reading, taken before the rule (say, on an earlier trip)
    assert refused(stale) == "OracleStaleReading"
    # a proof against a root that was never anchored
    assert refused(anchor(ledger, good[:3], anchored=False)) == "OracleNotAnchored"
    # a proof of another leaf
    assert refused([hot[0], replace(hot[1], proof=hot[2].proof), hot[2]]) == "OracleNotAnchored"
    # too few readings, too short a time, not consecutive, repeated
    assert refused(hot[:2]) == "OracleDebounceNotMet"
    assert refused([]) == "OracleDebounceNotMet"
    rule_long, _ = oracle.add_rule(cold_chain_rule(shipment, min_duration=3600))
    assert refused(hot[:4], rule_long) == "OracleDebounceNotMet"
    assert refused([hot[0], hot[2], hot[3]]) == "OracleNotConsecutive"
    assert refused([hot[0], hot[1], hot[1], hot[2]]) == "OracleNotConsecutive"
    # a value that does not cross the threshold
    cool = anchor(ledger, take_readings(ledger, shipment, [900, 700, 900], now(chain) + 100))
    assert refused(cool) == "OracleNoBreach"
    # another metric
    humid = anchor(ledger, take_readings(ledger, shipment, [900, 900, 900], now(chain) + 200, metric="humidity"))
    assert refused(humid) == "OracleWrongMetric"
    # a device not attached to the item, and readings of two devices
    other = new_shipment(supply, ledger)
    foreign = anchor(ledger, take_readings(ledger, other, [900, 900, 900], now(chain) + 1))
    assert refused(foreign) == "OracleDeviceNotAttached"
    assert refused([hot[0], foreign[1], hot[2]]) == "OracleMixedDevices"
    # a rule naming one device refuses the others
    single, _ = oracle.add_rule(cold_chain_rule(other, device_id=other.device_id))
    supply.attach_device(other.item_id, shipment.device_id)
    assert refused(hot[:3], single) == "OracleWrongDevice"
    # unknown, disabled, wrong path
    assert refused(hot[:3], 10**9) == "OracleUnknownRule"
    oracle.disable_rule(rule_long)
    assert refused(hot[:3], rule_long) == "OracleRuleDisabled"
    heartbeat, _ = oracle.add_rule(RuleSpec(shipment.item_id, "", kind=RuleKind.HEARTBEAT, upper=60))
    assert refused(hot[:3], heartbeat) == "OracleWrongPath"
    # nothing changed through all of that
    assert supply.get_item(shipment.item_id).condition is Condition.COMPLIANT
    assert oracle.rule(rule_id).fired_at == 0
    # and the genuine report still works
    event = fired(oracle, oracle.submit_evidence(rule_id, hot[:3]))
    assert event["ruleId"] == rule_id
    assert supply.get_item(shipment.item_id).condition is Condition.OUT_OF_COMPLIANCE


def test_rule_management_and_its_refusals(
    chain: ChainContext, ledger: Ledger, oracle: SensorOracleContract, supply: SupplyChainContract
) -> None:
    shipment = new_shipment(supply, ledger)
    stranger = outsider(chain.client)
    assert error_of(lambda: oracle.as_account(stranger).add_rule(cold_chain_rule(shipment))) == "OracleNotRuleManager"
    # a manufacturer manages the rules of its own items, not of others'
    maker = outsider(chain.client)
    admin = chain.client.for_role("admin")
    admin.transact(supply.functions.grantRole(keccak(b"MANUFACTURER_ROLE"), maker.operator.address))
    own = os.urandom(32)
    supply.as_account(maker).register_item(own, maker.operator.address, keccak(b"lot"), "", [shipment.device_id])
    rule_id, receipt = oracle.as_account(maker).add_rule(cold_chain_rule(shipment, item_id=own))
    added = oracle.contract.events.RuleAdded().process_receipt(receipt)[0]["args"]
    assert added["manager"] == maker.operator.address and added["rule"]["metric"] == "temperature"
    assert oracle.rule(rule_id).armed
    assert error_of(lambda: oracle.as_account(maker).add_rule(cold_chain_rule(shipment))) == "OracleNotRuleManager"
    assert error_of(lambda: oracle.as_account(stranger).disable_rule(rule_id)) == "OracleNotRuleManager"
    oracle.as_account(maker).disable_rule(rule_id)
    assert not oracle.rule(rule_id).armed
    assert error_of(lambda: oracle.disable_rule(rule_id)) == "OracleRuleDisabled"

    bad = {
        "unknown action": cold_chain_rule(shipment, actions=8),
        "escrow without marking": cold_chain_rule(shipment, actions=Action.SETTLE_ESCROW),
        "no metric": cold_chain_rule(shipment, metric=""),
        "inverted band": cold_chain_rule(shipment, comparison=Comparison.OUTSIDE, lower=900, upper=200),
        "no debounce": cold_chain_rule(shipment, min_readings=0),
        "heartbeat without limit": RuleSpec(shipment.item_id, "", kind=RuleKind.HEARTBEAT, upper=0),
        "aggregate without window": cold_chain_rule(shipment, kind=RuleKind.AGGREGATE, min_duration=0),
        "no target": cold_chain_rule(shipment, item_id=bytes(32), actions=Action.NONE),
        "device rule acting on items": cold_chain_rule(shipment, item_id=bytes(32), device_id=shipment.device_id),
    }
    for name, spec in bad.items():
        assert error_of(lambda s=spec: oracle.add_rule(s)) == "OracleInvalidRule", name
    assert error_of(lambda: oracle.add_rule(cold_chain_rule(shipment, item_id=os.urandom(32)))) == "OracleItemNotActive"
    unknown_device = cold_chain_rule(shipment, device_id=os.urandom(32))
    assert error_of(lambda: oracle.add_rule(unknown_device)) == "OracleUnknownDevice"
    device_rule = cold_chain_rule(shipment, item_id=bytes(32), device_id=shipment.device_id, actions=Action.NONE)
    assert error_of(lambda: oracle.as_account(stranger).add_rule(device_rule)) == "AccessControlUnauthorizedAccount"
    device_rule_id, _ = oracle.add_rule(device_rule)
    # a device rule fires on the device's readings with no item involved, and only emits the event
    readings = anchor(ledger, take_readings(ledger, shipment, [900, 900, 900], now(chain) + 1))
    event = fired(oracle, oracle.submit_evidence(device_rule_id, readings))
    assert event["itemId"] == bytes(32) and event["actions"] == 0
    assert supply.get_item(shipment.item_id).condition is Condition.COMPLIANT


def _heartbeat(oracle: SensorOracleContract, shipment: Shipment, chain: ChainContext) -> tuple[int, CommitteeReport]:
    rule_id, _ = oracle.add_rule(
        RuleSpec(shipment.item_id, "", kind=RuleKind.HEARTBEAT, upper=300, actions=Action.MARK_OUT_OF_COMPLIANCE)
    )
    observed = now(chain)
    report = CommitteeReport(rule_id, shipment.device_id, 0, observed - 900, observed, oracle.config_version())
    return rule_id, report


def test_silent_device_fires_heartbeat_rule_through_ecdsa_committee(
    chain: ChainContext,
    ledger: Ledger,
    oracle: SensorOracleContract,
    supply: SupplyChainContract,
    committee: list[CommitteeMember],
    stranger: ChainClient,
) -> None:
    shipment = new_shipment(supply, ledger)
    rule_id, report = _heartbeat(oracle, shipment, chain)
    digest = oracle.committee_digest(report)
    submit = oracle.as_account(stranger)

    def refused(rep: CommitteeReport, signatures: list[bytes]) -> str | None:
        return error_of(lambda: submit.submit_committee_ecdsa(rep, signatures))

    assert refused(report, sign_ecdsa(committee[:2], digest)) == "OracleQuorumNotMet"
    outsider_member = CommitteeMember.generate()
    assert refused(report, sign_ecdsa([*committee[:2], outsider_member], digest)) == "OracleNotMember"
    twice = sign_ecdsa(committee[:2], digest)
    assert refused(report, [twice[0], twice[0], twice[1]]) == "OracleSignersNotSorted"
    assert refused(report, list(reversed(sign_ecdsa(committee[:3], digest)))) == "OracleSignersNotSorted"
    # signatures over another report do not carry over (here: a shorter silence)
    other = replace(report, window_start=report.window_start + 1)
    assert refused(other, sign_ecdsa(committee, digest)) == "OracleNotMember"
    # a silence within the limit is no breach; a report from the future or an old committee is refused
    calm = replace(report, window_start=report.observed_at - 300)
    assert refused(calm, sign_ecdsa(committee, oracle.committee_digest(calm))) == "OracleNoBreach"
    future = replace(report, observed_at=report.observed_at + 3600)
    assert refused(future, sign_ecdsa(committee, oracle.committee_digest(future))) == "OracleInvalidReportTime"
    old = replace(report, config_version=report.config_version - 1)
    assert refused(old, sign_ecdsa(committee, oracle.committee_digest(old))) == "OracleStaleCommittee"
    assert supply.get_item(shipment.item_id).condition is Condition.COMPLIANT

    receipt = submit.submit_committee_ecdsa(report, sign_ecdsa(committee[1:], digest))
    event = fired(oracle, receipt)
    assert event["path"] == Path.COMMITTEE_ECDSA and event["reportId"] == digest and event["value"] == 900
    assert supply.get_item(shipment.item_id).condition is Condition.OUT_OF_COMPLIANCE
    assert refused(report, sign_ecdsa(committee, digest)) == "OracleRuleAlreadyFired"


def test_silent_device_fires_heartbeat_rule_through_bls_committee(
    chain: ChainContext,
    ledger: Ledger,
    oracle: SensorOracleContract,
    supply: SupplyChainContract,
    committee: list[CommitteeMember],
) -> None:
    shipment = new_shipment(supply, ledger)
    rule_id, report = _heartbeat(oracle, shipment, chain)
    digest = oracle.committee_digest(report)
    positions = {address: i for i, address in enumerate(oracle.members())}

    def refused(signer_map: int, key: bls.G2Affine, signature: bls.G1Affine) -> str | None:
        return error_of(lambda: oracle.submit_committee_bls(report, signer_map, key, signature))

    signer_map, key, signature = sign_bls(committee[:2], positions, digest)
    assert refused(signer_map, key, signature) == "OracleQuorumNotMet"
    signer_map, key, signature = sign_bls(committee[:3], positions, digest)
    assert refused(signer_map | (1 << 200), key, signature) == "OracleUnknownSigners"
    # the map claims a member who did not sign
    assert (
        refused(signer_map | (1 << positions[committee[3].address]), key, signature)
        == "OracleInvalidAggregateSignature"
    )
    # one signature in the aggregate is by a key outside the committee
    intruder = CommitteeMember.generate()
    forged_sig = bls.aggregate_g1(
        [m.bls_key.sign(bls.REPORT_DOMAIN, digest) for m in committee[:2]]
        + [intruder.bls_key.sign(bls.REPORT_DOMAIN, digest)]
    )
    forged_key = bls.aggregate_g2([m.bls_key.public_g2 for m in committee[:2]] + [intruder.bls_key.public_g2])
    assert refused(signer_map, forged_key, forged_sig) == "OracleInvalidAggregateSignature"
    # the right signers' signature with a G2 key that does not match their G1 keys
    assert refused(signer_map, forged_key, signature) == "OracleInvalidAggregateSignature"
    # a signature of another message
    assert (
        refused(signer_map, key, sign_bls(committee[:3], positions, keccak(b"x"))[2])
        == "OracleInvalidAggregateSignature"
    )

    receipt = oracle.submit_committee_bls(report, signer_map, key, signature)
    event = fired(oracle, receipt)
    assert event["path"] == Path.COMMITTEE_BLS and event["ruleId"] == rule_id
    assert supply.get_item(shipment.item_id).condition is Condition.OUT_OF_COMPLIANCE
    assert refused(signer_map, key, signature) == "OracleRuleAlreadyFired"


def test_aggregate_rule_through_bls_with_the_whole_committee(
    chain: ChainContext,
    ledger: Ledger,
    oracle: SensorOracleContract,
    supply: SupplyChainContract,
    committee: list[CommitteeMember],
) -> None:
    shipment = new_shipment(supply, ledger)
    spec = cold_chain_rule(shipment, kind=RuleKind.AGGREGATE, min_duration=3600, actions=Action.NONE)
    rule_id, _ = oracle.add_rule(spec)
    observed = now(chain)
    positions = {address: i for i, address in enumerate(oracle.members())}
    short = CommitteeReport(rule_id, shipment.device_id, 850, observed - 60, observed, oracle.config_version())
    assert (
        error_of(
            lambda: oracle.submit_committee_bls(short, *sign_bls(committee, positions, oracle.committee_digest(short)))
        )
        == "OracleDebounceNotMet"
    )
    mean = replace(short, window_start=observed - 3600)
    receipt = oracle.submit_committee_bls(mean, *sign_bls(committee, positions, oracle.committee_digest(mean)))
    assert fired(oracle, receipt)["value"] == 850


def test_committee_membership_needs_admin_and_proof_of_possession(
    chain: ChainContext, oracle: SensorOracleContract, committee: list[CommitteeMember]
) -> None:
    stranger = outsider(chain.client)
    newcomer = CommitteeMember.generate()
    assert error_of(lambda: oracle.as_account(stranger).add_member(newcomer)) == "AccessControlUnauthorizedAccount"
    assert error_of(lambda: oracle.as_account(stranger).set_quorum(1)) == "AccessControlUnauthorizedAccount"
    assert error_of(lambda: oracle.as_account(stranger).remove_member(committee[0].address)) == (
        "AccessControlUnauthorizedAccount"
    )
    # rogue key: a key whose owner cannot sign for it (the G1 key of someone else's, a made-up G2)
    victim = committee[0].bls_key
    pop_for_other_signer = victim.proof_of_possession(oracle.pop_message(committee[0].address, victim.public_g1))
    assert error_of(lambda: oracle.add_member(newcomer, pop_for_other_signer)) == "OracleInvalidProofOfPossession"
    rogue = CommitteeMember(newcomer.account, replace(newcomer.bls_key, public_g2=victim.public_g2))
    assert error_of(lambda: oracle.add_member(rogue)) == "OracleInvalidProofOfPossession"
    off_curve = CommitteeMember(newcomer.account, replace(newcomer.bls_key, public_g1=(1, 3)))
    assert error_of(lambda: oracle.add_member(off_curve, (1, 2))) == "OracleInvalidBlsKey"
    assert error_of(lambda: oracle.add_member(committee[0])) == "OracleMemberExists"
    assert error_of(lambda: oracle.set_quorum(0)) == "OracleInvalidQuorum"
    assert error_of(lambda: oracle.set_quorum(len(oracle.members()) + 1)) == "OracleInvalidQuorum"

    version = oracle.config_version()
    receipt = oracle.add_member(newcomer)
    added = oracle.contract.events.CommitteeMemberAdded().process_receipt(receipt)[0]["args"]
    assert added["signer"] == newcomer.address and added["configVersion"] == version + 1
    assert bls.decode_key(added["blsKey"]) == (newcomer.bls_key.public_g1, newcomer.bls_key.public_g2)
    oracle.remove_member(newcomer.address)
    assert newcomer.address not in oracle.members() and oracle.config_version() == version + 2
    assert error_of(lambda: oracle.remove_member(newcomer.address)) == "OracleNotMember"


def test_escrow_pays_the_seller_on_compliant_delivery_and_refuses_bad_terms(
    chain: ChainContext, ledger: Ledger, supply: SupplyChainContract, escrow: ShipmentEscrowContract
) -> None:
    shipment = new_shipment(supply, ledger)
    buyer = escrow.as_account(outsider(chain.client))
    seller = outsider(chain.client).operator.address
    deadline = now(chain) + 86_400
    assert error_of(lambda: buyer.open(os.urandom(32), seller, deadline, ETHER)) == "EscrowUnknownItem"
    assert error_of(lambda: buyer.open(shipment.item_id, seller, deadline, 0)) == "EscrowInvalidTerms"
    assert error_of(lambda: buyer.open(shipment.item_id, seller, now(chain) - 1, ETHER)) == "EscrowInvalidTerms"
    assert error_of(lambda: escrow.settle(shipment.item_id)) == "EscrowNotFound"
    buyer.open(shipment.item_id, seller, deadline, ETHER)
    assert error_of(lambda: buyer.open(shipment.item_id, seller, deadline, ETHER)) == "EscrowExists"
    assert error_of(lambda: escrow.settle(shipment.item_id)) == "EscrowNotSettleable"

    supply.confirm_delivery(shipment.item_id, Location.of(51.9, 4.5))
    receipt = buyer.settle(shipment.item_id)
    settled = escrow.contract.events.EscrowSettled().process_receipt(receipt)[0]["args"]
    assert settled["payee"] == seller and settled["outcome"] == Outcome.PAID_TO_SELLER and settled["amount"] == ETHER
    assert escrow.credit_of(seller) == ETHER
    # a delivered item cannot be paid for again
    assert error_of(lambda: buyer.open(shipment.item_id, seller, deadline, ETHER)) == "EscrowItemNotOpen"


def test_token_freeze_is_for_freezers_and_admins_lift_it(
    chain: ChainContext, ledger: Ledger, supply: SupplyChainContract
) -> None:
    shipment = new_shipment(supply, ledger)
    tokens = AssetTokens(chain.client, chain.deployment, chain.artifacts, content=None)  # type: ignore[arg-type]
    token_id = token_id_of(shipment.item_id)
    contract = tokens.contract
    stranger = outsider(chain.client)
    foreign = chain.client.w3.eth.contract(address=contract.address, abi=contract.abi)
    assert error_of(lambda: stranger.transact(foreign.functions.freeze(token_id, bytes(32)))) == (
        "AccessControlUnauthorizedAccount"
    )
    admin = chain.client.for_role("admin")
    admin.transact(contract.functions.grantRole(keccak(b"FREEZER_ROLE"), chain.client.operator.address))
    assert error_of(lambda: chain.client.transact(contract.functions.freeze(token_id, bytes(32)))) == (
        "AssetTokenUnknownToken"
    )
    chain.client.transact(contract.functions.mint(chain.client.operator.address, shipment.item_id, "ipfs://y"))
    chain.client.transact(contract.functions.freeze(token_id, keccak(b"report")))
    assert contract.functions.isFrozen(token_id).call()
    assert not contract.functions.isTransferable(token_id).call()
    assert (
        error_of(lambda: stranger.transact(foreign.functions.unfreeze(token_id))) == "AccessControlUnauthorizedAccount"
    )
    admin.transact(contract.functions.unfreeze(token_id))
    assert contract.functions.isTransferable(token_id).call()
    assert error_of(lambda: admin.transact(contract.functions.unfreeze(token_id))) == "AssetTokenNotFrozen"


def test_off_chain_bls_matches_the_contract() -> None:
    key = bls.BlsKey.generate()
    message = keccak(b"report")
    signature = key.sign(bls.REPORT_DOMAIN, message)
    assert bls.verify(bls.REPORT_DOMAIN, message, key.public_g2, signature)
    assert not bls.verify(bls.REPORT_DOMAIN, keccak(b"other"), key.public_g2, signature)
    x, y = bls.hash_to_g1(bls.REPORT_DOMAIN, message)
    assert (y * y - x**3 - 3) % bls.P == 0
    assert bls.decode_key(bls.encode_key(key)) == (key.public_g1, key.public_g2)
    with pytest.raises(ValueError):
        bls.BlsKey.from_secret(0)
