"""SensorOracle, ShipmentEscrow and token freezes on anvil: rules fired by evidence and by committee
reports (ECDSA and BLS), their actions, and every refusal."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_utils import keccak
from web3.logs import DISCARD

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.enums import Action, Comparison, Condition, KeyType, Outcome, Path, RuleKind
from ledger_service.core.errors import TransactionReverted
from ledger_service.core.keys import DeviceKey
from ledger_service.core.readings import Reading
from ledger_service.core.supply_chain import Location, SupplyChainContract
from oracles import bls
from oracles.contract import (
    CommitteeMember,
    CommitteeReport,
    SensorOracleContract,
    SignedReading,
    sign_bls,
    sign_ecdsa,
)
from oracles.rules import RuleSpec
from tests.utils.accounts import outsider
from tests.utils.evidence import anchor
from tests.utils.factories import role_granted
from tests.utils.reverts import error_of
from tokenization.assets import AssetTokens, token_id_of
from tokenization.escrow import ShipmentEscrowContract

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


def cold_chain_rule(shipment: Shipment, **overrides: Any) -> RuleSpec:
    """Above 8.00 °C for three readings spanning 20 s."""
    spec = RuleSpec(
        item_id=shipment.item_id,
        metric="temperature",
        unit="Cel",
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
    seller = chain.client.operator.address  # the item's manufacturer
    seller_credit = escrow.credit_of(seller)
    rule_id, _ = oracle.add_rule(cold_chain_rule(shipment))
    escrow.designate_buyer(shipment.item_id, buyer.operator.address)
    escrow.as_account(buyer).open(shipment.item_id, now(chain) + 86_400, ETHER, [rule_id])
    assert escrow.rules_of(shipment.item_id) == [rule_id] and oracle.rule(rule_id).protections == 1

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
    assert escrow.credit_of(seller) == seller_credit
    assert oracle.rule(rule_id).fired_at > 0
    assert oracle.rule(rule_id).protections == 0  # settling released the rule and its devices
    assert supply.functions.detachLocksOf(shipment.item_id, bytes(32)).call() == 0

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
                tokens.contract.functions.transferFrom(
                    chain.client.operator.address, stranger.operator.address, token_id
                )
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
    assert refused(foreign) == "OracleNotAttachedThen"
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
    oracle.disable_rule(heartbeat)  # a silence rule left armed would fire for any later daemon on this chain
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
    with role_granted(admin, supply, keccak(b"MANUFACTURER_ROLE"), maker.operator.address):
        own = os.urandom(32)
        supply.as_account(maker).register_item(own, maker.operator.address, keccak(b"lot"), "", [])
        supply.approve_attachment(own, shipment.device_id)  # the device's owner consents
        supply.as_account(maker).attach_device(own, shipment.device_id)
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
        "no unit": cold_chain_rule(shipment, unit=""),
        "inverted band": cold_chain_rule(shipment, comparison=Comparison.OUTSIDE, lower=900, upper=200),
        "no debounce": cold_chain_rule(shipment, min_readings=0),
        "heartbeat without limit": RuleSpec(shipment.item_id, "", kind=RuleKind.HEARTBEAT, upper=0),
        "aggregate without window": cold_chain_rule(shipment, kind=RuleKind.AGGREGATE, min_duration=0),
        "no target": cold_chain_rule(shipment, item_id=bytes(32), actions=Action.NONE),
        "device rule acting on items": cold_chain_rule(shipment, item_id=bytes(32), device_id=shipment.device_id),
    }
    problems = {
        "unknown action": "UNKNOWN_ACTION", "escrow without marking": "SETTLING_WITHOUT_MARKING",
        "no metric": "NO_METRIC", "no unit": "NO_UNIT", "inverted band": "LOWER_ABOVE_UPPER",
        "no debounce": "NO_READINGS", "heartbeat without limit": "NO_SILENCE_LIMIT",
        "aggregate without window": "NO_WINDOW", "no target": "NO_TARGET",
        "device rule acting on items": "DEVICE_RULE_WITH_ACTIONS",
    }  # fmt: skip
    for name, spec in bad.items():
        with pytest.raises(TransactionReverted) as refused:
            oracle.add_rule(spec)
        assert refused.value.context["error"] == "OracleInvalidRule", name
        detail = refused.value.detail
        assert detail.endswith(f"OracleInvalidRule(problem={problems[name]})"), (name, detail)
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


def wait_until(chain: ChainContext, timestamp: int) -> int:
    """Waits (real time: moving the shared chain's clock would date keys in the future) until a
    new block is stamped at `timestamp` or later; returns the chain's time."""
    while now(chain) < timestamp:
        time.sleep(0.5)
        chain.client.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return now(chain)


def attached_at(supply: SupplyChainContract, shipment: Shipment) -> int:
    return supply.attachments_of(shipment.item_id, shipment.device_id)[-1].attached_at


def _heartbeat(
    oracle: SensorOracleContract, supply: SupplyChainContract, shipment: Shipment, chain: ChainContext
) -> tuple[int, CommitteeReport]:
    """A heartbeat rule (silent for more than 2 s) and the report of a silence since the device
    was attached."""
    rule_id, _ = oracle.add_rule(
        RuleSpec(shipment.item_id, "", kind=RuleKind.HEARTBEAT, upper=2, actions=Action.MARK_OUT_OF_COMPLIANCE)
    )
    since = attached_at(supply, shipment)
    observed = wait_until(chain, since + 4)
    report = CommitteeReport(rule_id, shipment.device_id, 0, since, observed, oracle.config_version())
    return rule_id, report


@pytest.mark.slow  # waits for the chain's clock in real time: left out of `make test-fast`
def test_silent_device_fires_heartbeat_rule_through_ecdsa_committee(
    chain: ChainContext,
    ledger: Ledger,
    oracle: SensorOracleContract,
    supply: SupplyChainContract,
    committee: list[CommitteeMember],
    stranger: ChainClient,
) -> None:
    shipment = new_shipment(supply, ledger)
    rule_id, report = _heartbeat(oracle, supply, shipment, chain)
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
    calm = replace(report, window_start=report.observed_at - 2)
    assert refused(calm, sign_ecdsa(committee, oracle.committee_digest(calm))) == "OracleNoBreach"
    future = replace(report, observed_at=report.observed_at + 3600)
    assert refused(future, sign_ecdsa(committee, oracle.committee_digest(future))) == "OracleInvalidReportTime"
    old = replace(report, config_version=report.config_version - 1)
    assert refused(old, sign_ecdsa(committee, oracle.committee_digest(old))) == "OracleStaleCommittee"
    # attack: a silence counted from before the device was attached to the item
    early = replace(report, window_start=report.window_start - 600)
    assert refused(early, sign_ecdsa(committee, oracle.committee_digest(early))) == "OracleNotAttachedThen"
    assert supply.get_item(shipment.item_id).condition is Condition.COMPLIANT

    receipt = submit.submit_committee_ecdsa(report, sign_ecdsa(committee[1:], digest))
    event = fired(oracle, receipt)
    assert event["path"] == Path.COMMITTEE_ECDSA and event["reportId"] == digest
    assert event["value"] == report.observed_at - report.window_start
    assert supply.get_item(shipment.item_id).condition is Condition.OUT_OF_COMPLIANCE
    assert refused(report, sign_ecdsa(committee, digest)) == "OracleRuleAlreadyFired"


@pytest.mark.slow  # waits for the chain's clock in real time: left out of `make test-fast`
def test_silent_device_fires_heartbeat_rule_through_bls_committee(
    chain: ChainContext,
    ledger: Ledger,
    oracle: SensorOracleContract,
    supply: SupplyChainContract,
    committee: list[CommitteeMember],
) -> None:
    shipment = new_shipment(supply, ledger)
    rule_id, report = _heartbeat(oracle, supply, shipment, chain)
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


@pytest.mark.slow  # waits for the chain's clock in real time: left out of `make test-fast`
def test_aggregate_rule_through_bls_with_the_whole_committee(
    chain: ChainContext,
    ledger: Ledger,
    oracle: SensorOracleContract,
    supply: SupplyChainContract,
    committee: list[CommitteeMember],
) -> None:
    shipment = new_shipment(supply, ledger)
    spec = cold_chain_rule(shipment, kind=RuleKind.AGGREGATE, min_duration=3, actions=Action.NONE)
    rule_id, _ = oracle.add_rule(spec)
    observed = wait_until(chain, attached_at(supply, shipment) + 4)
    positions = {address: i for i, address in enumerate(oracle.members())}
    short = CommitteeReport(rule_id, shipment.device_id, 850, observed - 1, observed, oracle.config_version())
    assert (
        error_of(
            lambda: oracle.submit_committee_bls(short, *sign_bls(committee, positions, oracle.committee_digest(short)))
        )
        == "OracleDebounceNotMet"
    )
    mean = replace(short, window_start=observed - 3)
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
    buyer_client = outsider(chain.client)
    buyer = escrow.as_account(buyer_client)
    seller = chain.client.operator.address  # the item's manufacturer
    deadline = now(chain) + 86_400
    assert error_of(lambda: buyer.open(os.urandom(32), deadline, ETHER)) == "EscrowUnknownItem"
    escrow.designate_buyer(shipment.item_id, buyer_client.operator.address)
    assert escrow.contract.functions.designatedBuyerOf(shipment.item_id).call() == buyer_client.operator.address
    assert error_of(lambda: buyer.open(shipment.item_id, deadline, 0)) == "EscrowInvalidTerms"
    assert error_of(lambda: buyer.open(shipment.item_id, now(chain) - 1, ETHER)) == "EscrowInvalidTerms"
    assert error_of(lambda: escrow.settle(shipment.item_id)) == "EscrowNotFound"
    before = escrow.credit_of(seller)
    receipt = buyer.open(shipment.item_id, deadline, ETHER)
    opened = escrow.contract.events.EscrowOpened().process_receipt(receipt)[0]["args"]
    assert opened["seller"] == seller and opened["ruleIds"] == []
    assert error_of(lambda: buyer.open(shipment.item_id, deadline, ETHER)) == "EscrowExists"
    assert error_of(lambda: escrow.settle(shipment.item_id)) == "EscrowNotSettleable"

    supply.confirm_delivery(shipment.item_id, Location.of(51.9, 4.5))
    receipt = buyer.settle(shipment.item_id)
    settled = escrow.contract.events.EscrowSettled().process_receipt(receipt)[0]["args"]
    assert settled["payee"] == seller and settled["outcome"] == Outcome.PAID_TO_SELLER and settled["amount"] == ETHER
    assert escrow.credit_of(seller) == before + ETHER
    # a delivered item cannot be paid for again
    assert error_of(lambda: buyer.open(shipment.item_id, deadline, ETHER)) == "EscrowItemNotOpen"


def test_escrow_cannot_be_squatted(
    chain: ChainContext, ledger: Ledger, supply: SupplyChainContract, escrow: ShipmentEscrowContract
) -> None:
    """Attack: someone other than the item's designated buyer opens its escrow first (with a tiny
    deposit and no protecting rules), so the real buyer cannot."""
    shipment = new_shipment(supply, ledger)
    squatter_client, buyer_client = outsider(chain.client), outsider(chain.client)
    squatter = escrow.as_account(squatter_client)
    deadline = now(chain) + 86_400
    assert error_of(lambda: squatter.open(shipment.item_id, deadline, 1)) == "EscrowNotDesignatedBuyer"
    assert (
        error_of(lambda: squatter.designate_buyer(shipment.item_id, squatter_client.operator.address))
        == "EscrowNotSeller"
    )
    escrow.designate_buyer(shipment.item_id, buyer_client.operator.address)
    assert error_of(lambda: squatter.open(shipment.item_id, deadline, 1)) == "EscrowNotDesignatedBuyer"
    assert escrow.escrow_of(shipment.item_id) is None
    escrow.as_account(buyer_client).open(shipment.item_id, deadline, ETHER)
    assert escrow.escrow_of(shipment.item_id).buyer == buyer_client.operator.address  # type: ignore[union-attr]
    # once open, the seller cannot swap the buyer either
    assert (
        error_of(lambda: escrow.designate_buyer(shipment.item_id, squatter_client.operator.address)) == "EscrowExists"
    )


@pytest.mark.slow  # waits for the chain's clock in real time: left out of `make test-fast`
def test_an_open_escrow_keeps_its_rules_enabled_and_their_devices_attached(
    chain: ChainContext,
    ledger: Ledger,
    oracle: SensorOracleContract,
    supply: SupplyChainContract,
    escrow: ShipmentEscrowContract,
) -> None:
    """Attack: the seller disables the rule protecting the buyer, or detaches the device it
    watches, while the escrow is open, so that a breach goes unproven and the seller is paid."""
    shipment = new_shipment(supply, ledger)
    spare = DeviceKey.generate(KeyType.SECP256K1)
    spare_id = os.urandom(32)
    ledger.register_device(spare_id, spare.public_key)
    supply.attach_device(shipment.item_id, spare_id)
    item_rule, _ = oracle.add_rule(cold_chain_rule(shipment))
    device_rule, _ = oracle.add_rule(cold_chain_rule(shipment, device_id=shipment.device_id))
    other = new_shipment(supply, ledger)
    foreign_rule, _ = oracle.add_rule(cold_chain_rule(other))
    silent_rule, _ = oracle.add_rule(cold_chain_rule(shipment, actions=Action.NONE))
    buyer_client = outsider(chain.client)
    buyer = escrow.as_account(buyer_client)
    escrow.designate_buyer(shipment.item_id, buyer_client.operator.address)
    deadline = now(chain) + 3
    # the protecting rules must be the item's and mark it when they fire
    for bad in (foreign_rule, silent_rule):
        assert error_of(lambda b=bad: buyer.open(shipment.item_id, deadline, ETHER, [b])) == "OracleCannotProtect"
    buyer.open(shipment.item_id, deadline, ETHER, [device_rule])
    assert error_of(lambda: oracle.disable_rule(device_rule)) == "OracleRuleProtected"
    assert error_of(lambda: supply.detach_device(shipment.item_id, shipment.device_id)) == "SupplyChainDeviceLocked"
    supply.detach_device(shipment.item_id, spare_id)  # the rule does not watch this one
    supply.attach_device(shipment.item_id, spare_id)
    oracle.disable_rule(item_rule)  # not named by the escrow
    assert oracle.rule(device_rule).armed
    assert supply.functions.isAttached(shipment.item_id, shipment.device_id).call()

    # the escrow settles (here: the deadline passed) and the protection ends
    wait_until(chain, deadline + 1)
    assert escrow.escrow_of(shipment.item_id) is not None
    receipt = escrow.settle(shipment.item_id)
    assert (
        escrow.contract.events.EscrowSettled().process_receipt(receipt)[0]["args"]["outcome"]
        == Outcome.REFUNDED_ON_EXPIRY
    )
    assert oracle.rule(device_rule).protections == 0
    supply.detach_device(shipment.item_id, shipment.device_id)
    oracle.disable_rule(device_rule)


def test_an_item_rule_locks_every_device_of_the_item(
    chain: ChainContext,
    ledger: Ledger,
    oracle: SensorOracleContract,
    supply: SupplyChainContract,
    escrow: ShipmentEscrowContract,
) -> None:
    shipment = new_shipment(supply, ledger)
    rule_id, _ = oracle.add_rule(cold_chain_rule(shipment))
    buyer_client = outsider(chain.client)
    escrow.designate_buyer(shipment.item_id, buyer_client.operator.address)
    escrow.as_account(buyer_client).open(shipment.item_id, now(chain) + 86_400, ETHER, [rule_id])
    assert error_of(lambda: oracle.disable_rule(rule_id)) == "OracleRuleProtected"
    assert error_of(lambda: supply.detach_device(shipment.item_id, shipment.device_id)) == "SupplyChainDeviceLocked"
    # nor can anyone but the escrow lift the protection
    lift = oracle.functions.unprotect(shipment.item_id, [rule_id])
    assert error_of(lambda: chain.client.transact(lift)) == "OracleNotEscrow"
    assert oracle.rule(rule_id).protections == 1


@pytest.mark.slow  # waits for the chain's clock in real time: left out of `make test-fast`
def test_late_delivery_refunds_the_buyer(
    chain: ChainContext, ledger: Ledger, supply: SupplyChainContract, escrow: ShipmentEscrowContract
) -> None:
    """Attack: the seller delivers after the deadline and settles at once, before anyone claims
    the expiry: the escrow refunds the buyer all the same."""
    shipment = new_shipment(supply, ledger)
    buyer_client = outsider(chain.client)
    escrow.designate_buyer(shipment.item_id, buyer_client.operator.address)
    deadline = now(chain) + 2
    escrow.as_account(buyer_client).open(shipment.item_id, deadline, ETHER)
    seller_credit = escrow.credit_of(chain.client.operator.address)
    wait_until(chain, deadline + 1)
    supply.confirm_delivery(shipment.item_id, Location.of(52.37, 4.89))
    assert supply.get_item(shipment.item_id).closed_at > deadline
    receipt = escrow.settle(shipment.item_id)
    settled = escrow.contract.events.EscrowSettled().process_receipt(receipt)[0]["args"]
    assert settled["outcome"] == Outcome.REFUNDED_ON_LATE_DELIVERY and settled["payee"] == buyer_client.operator.address
    assert escrow.credit_of(buyer_client.operator.address) == ETHER
    assert escrow.credit_of(chain.client.operator.address) == seller_credit


def test_readings_outside_the_attachment_period_do_not_fire_rules(
    chain: ChainContext, ledger: Ledger, oracle: SensorOracleContract, supply: SupplyChainContract
) -> None:
    """Attack: readings a device took before it was attached to the item (or after it was
    detached), hot ones from another shipment, are offered as the item's breach."""
    shipment = new_shipment(supply, ledger)
    key = DeviceKey.generate(KeyType.SECP256K1)
    late = Shipment(shipment.item_id, os.urandom(32), key)
    ledger.register_device(late.device_id, key.public_key)  # its key is valid before the rule exists
    rule_id, receipt = oracle.add_rule(cold_chain_rule(shipment, min_duration=0, actions=Action.MARK_OUT_OF_COMPLIANCE))
    created = int(chain.client.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    wait_until(chain, created + 1)
    attach = supply.attach_device(shipment.item_id, late.device_id)
    attached = int(chain.client.w3.eth.get_block(attach["blockNumber"])["timestamp"])
    before = anchor(ledger, take_readings(ledger, late, [900, 900, 900], created, step=0))
    assert attached > created
    assert error_of(lambda: oracle.submit_evidence(rule_id, before)) == "OracleNotAttachedThen"
    inside = take_readings(ledger, late, [900, 900, 900], attached, step=0)
    wait_until(chain, attached + 1)
    detach = supply.detach_device(shipment.item_id, late.device_id)
    detached = int(chain.client.w3.eth.get_block(detach["blockNumber"])["timestamp"])
    # a stretch that runs past the detachment is refused whole
    straddling = anchor(ledger, inside[1:] + take_readings(ledger, late, [900], detached))
    assert [r.reading.sequence for r in straddling] == [5, 6, 7]
    assert error_of(lambda: oracle.submit_evidence(rule_id, straddling)) == "OracleNotAttachedThen"
    after = anchor(ledger, take_readings(ledger, late, [900, 900, 900], detached, step=0))
    assert error_of(lambda: oracle.submit_evidence(rule_id, after)) == "OracleNotAttachedThen"
    inside_proven = anchor(ledger, inside)
    assert supply.get_item(shipment.item_id).condition is Condition.COMPLIANT
    assert oracle.rule(rule_id).armed
    # the readings taken while it was attached still prove the breach after the detachment
    event = fired(oracle, oracle.submit_evidence(rule_id, inside_proven))
    assert event["deviceId"] == late.device_id
    assert supply.get_item(shipment.item_id).condition is Condition.OUT_OF_COMPLIANCE


def test_a_unit_or_scale_mix_inside_a_stretch_is_refused(
    chain: ChainContext, ledger: Ledger, oracle: SensorOracleContract, supply: SupplyChainContract
) -> None:
    """Attack: a reading of the rule's metric in another unit (or scale) sits in the stretch: 900
    in hundredths of a kelvin, or tenths of a degree, is no excursion above 8.00 °C."""
    shipment = new_shipment(supply, ledger)
    rule_id, _ = oracle.add_rule(cold_chain_rule(shipment, min_duration=0, actions=Action.MARK_OUT_OF_COMPLIANCE))
    start = now(chain) + 1

    def reading(value: int, unit: str = "Cel", scale: int = 2) -> tuple[Reading, bytes]:
        r = Reading(shipment.device_id, shipment.next_sequence, start + shipment.next_sequence, "temperature",
                    value, scale, unit)  # fmt: skip
        shipment.next_sequence += 1
        return r, shipment.key.sign(r.digest(ledger.domain))

    kelvin = anchor(ledger, [reading(900), reading(29_000, unit="K"), reading(900)])
    assert error_of(lambda: oracle.submit_evidence(rule_id, kelvin)) == "OracleUnitMismatch"
    tenths = anchor(ledger, [reading(900), reading(90, scale=1), reading(900)])
    assert error_of(lambda: oracle.submit_evidence(rule_id, tenths)) == "OracleUnitMismatch"
    first = anchor(ledger, [reading(900, unit="Far"), reading(900), reading(900)])
    assert error_of(lambda: oracle.submit_evidence(rule_id, first)) == "OracleUnitMismatch"
    assert oracle.rule(rule_id).armed and supply.get_item(shipment.item_id).condition is Condition.COMPLIANT
    good = anchor(ledger, [reading(900), reading(910), reading(920)])
    fired(oracle, oracle.submit_evidence(rule_id, good))


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
    with role_granted(admin, contract, keccak(b"FREEZER_ROLE"), chain.client.operator.address):
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


def test_evidence_dated_in_the_future_is_refused(
    chain: ChainContext, ledger: Ledger, oracle: SensorOracleContract, supply: SupplyChainContract
) -> None:
    """Attack: the device key pre-signs hot readings dated a year ahead, inside today's open
    attachment period, and they are anchored now. Evidence cannot be older than the time it claims:
    the stretch is refused until the chain's clock has caught up (within CLOCK_TOLERANCE)."""
    shipment = new_shipment(supply, ledger)
    rule_id, _ = oracle.add_rule(cold_chain_rule(shipment, min_duration=0, actions=Action.MARK_OUT_OF_COMPLIANCE))
    ahead = now(chain) + 365 * 86_400
    stretch = anchor(ledger, take_readings(ledger, shipment, [900, 900, 900], ahead))
    assert error_of(lambda: oracle.submit_evidence(rule_id, stretch)) == "OracleReadingFromTheFuture"
    assert oracle.rule(rule_id).armed and supply.get_item(shipment.item_id).condition is Condition.COMPLIANT
    assert oracle.contract.functions.CLOCK_TOLERANCE().call() == 60
