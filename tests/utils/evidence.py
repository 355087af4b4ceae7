"""Readings anchored as one batch and proven to SensorOracle as evidence."""

from __future__ import annotations

import os
from typing import Any

from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.enums import Action
from ledger_service.core.keys import DeviceKey
from ledger_service.core.merkle import MerkleTree
from ledger_service.core.readings import Reading, reading_leaf
from oracles.contract import SensorOracleContract, SignedReading
from oracles.rules import RuleSpec


def anchor(ledger: Ledger, readings: list[tuple[Reading, bytes]], anchored: bool = True) -> list[SignedReading]:
    """Anchors the readings as one batch (with some other readings) and returns their evidence."""
    leaves = [reading_leaf(r.digest(ledger.domain), s) for r, s in readings]
    tree = MerkleTree(leaves + [os.urandom(32) for _ in range(3)])
    if anchored:
        ledger.anchor(tree.root, len(leaves) + 3, 1, 2, "bafy-batch")
    return [SignedReading(r, s, tree.root, tree.proof(leaf)) for (r, s), leaf in zip(readings, leaves, strict=True)]


def prove_breach(context: ChainContext, item_id: bytes, device_id: bytes, key: DeviceKey) -> Any:
    """Marks the item out of compliance the only way there is: a rule (one reading above 8.00 °C)
    and a hot reading of its attached device, anchored and proven to SensorOracle. Returns the
    submission's receipt."""
    ledger = Ledger(context.client, context.deployment, context.artifacts)
    oracle = SensorOracleContract(context.client, context.deployment, context.artifacts)
    spec = RuleSpec(item_id, "temperature", unit="Cel", upper=800, scale=2, actions=Action.MARK_OUT_OF_COMPLIANCE)
    _, receipt = oracle.add_rule(spec)
    taken = int(context.client.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    reading = Reading(device_id, 10**6 + int.from_bytes(os.urandom(4)), taken, "temperature", 950, 2, "Cel")
    evidence = anchor(ledger, [(reading, key.sign(reading.digest(ledger.domain)))])
    rule_id = int(oracle.contract.events.RuleAdded().process_receipt(receipt)[0]["args"]["ruleId"])
    return oracle.submit_evidence(rule_id, evidence)
