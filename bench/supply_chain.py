"""Gas of the supply-chain calls on a fresh anvil.

    .venv/bin/python bench/supply_chain.py [--samples 20]

Reports the median gas of: registering an item (with one and with three sensor devices),
attaching a device (the caller's own; another owner's after its approval), detaching one,
proposing a handover, accepting it, recording a checkpoint without evidence and with evidence
checked on chain (the signed reading's signature in DeviceRegistry, its device's attachment
period, its Merkle proof against DataNotary: 10 and 17 siblings, batches of 1,000 and 100,000
readings), recalling, confirming delivery, minting and transferring the asset token, and the
escrow: designating the buyer, opening (no rule, one protecting rule) and settling. Conditions are
set only by SensorOracle: their cost is in bench/oracle.py's evidence reports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account  # noqa: E402
from eth_utils import keccak  # noqa: E402

from ledger_service.core.chain.client import ChainClient, connect  # noqa: E402
from ledger_service.core.chain.deploy import deploy  # noqa: E402
from ledger_service.core.chain.ledger import Ledger  # noqa: E402
from ledger_service.core.chain.node import ManagedAnvil  # noqa: E402
from ledger_service.core.compiler import compile_contracts  # noqa: E402
from ledger_service.core.enums import Action, KeyType
from ledger_service.core.keys import DeviceKey  # noqa: E402
from ledger_service.core.merkle import MerkleTree  # noqa: E402
from ledger_service.core.readings import Reading, reading_leaf  # noqa: E402
from ledger_service.core.settings import Settings  # noqa: E402
from ledger_service.core.supply_chain import Evidence, Location, SupplyChainContract  # noqa: E402
from ledger_service.services.content import LocalContentStore  # noqa: E402
from oracles.contract import SensorOracleContract  # noqa: E402
from oracles.rules import RuleSpec  # noqa: E402
from tokenization.assets import AssetTokens  # noqa: E402
from tokenization.escrow import ShipmentEscrowContract  # noqa: E402

HERE = Location.of(52.37, 4.89, "8712345000004")


def evidence(ledger: Ledger, device: bytes, key: DeviceKey, timestamp: int, readings: int) -> Evidence:
    """A signed reading of `device` taken at `timestamp` (inside the attachment of the sample's item,
    and not ahead of the chain), anchored among `readings` leaves."""
    reading = Reading(device, readings, timestamp, "temperature", 512, 2, "Cel")
    signature = key.sign(reading.digest(ledger.domain))
    leaf = reading_leaf(reading.digest(ledger.domain), signature)
    leaves = [os.urandom(32) for _ in range(readings - 1)]
    leaves.insert(readings // 2, leaf)
    tree = MerkleTree(leaves)
    ledger.anchor(tree.root, readings, timestamp, timestamp, "bafy-bench")
    return Evidence(reading, signature, tree.root, tree.proof(leaf))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-supply-"))
    settings = Settings(_env_file=None, data_dir=workdir)  # type: ignore[call-arg]
    artifacts = compile_contracts(settings.build_dir)
    gas: dict[str, list[int]] = defaultdict(list)
    with ManagedAnvil(state_dir=None) as node:
        client = connect(settings, node.url)
        deployment, _ = deploy(client, artifacts, settings.manifest_path)
        ledger = Ledger(client, deployment, artifacts)
        supply = SupplyChainContract(client, deployment, artifacts)
        tokens = AssetTokens(client, deployment, artifacts, LocalContentStore(workdir / "content"))
        receiver = ChainClient(node.url, Account.create())
        receiver.ensure_funded()
        receiving = supply.as_account(receiver)
        oracle = SensorOracleContract(client, deployment, artifacts)
        escrow = ShipmentEscrowContract(client, deployment, artifacts)
        buying = escrow.as_account(receiver)
        devices, keys = [], []
        for _ in range(3):
            device = os.urandom(32)
            key = DeviceKey.generate(KeyType.SECP256K1)
            ledger.register_device(device, key.public_key)
            devices.append(device)
            keys.append(key)
        operator = client.operator.address
        for sample in range(args.samples):
            print(f"  sample {sample + 1}/{args.samples}", end="\r", flush=True)
            item = os.urandom(32)
            gas["registerItem (1 device)"].append(
                supply.register_item(item, operator, keccak(item), "bafy-x", devices[:1])["gasUsed"]
            )
            gas["registerItem (3 devices)"].append(
                supply.register_item(os.urandom(32), operator, keccak(item), "bafy-x", devices)["gasUsed"]
            )
            gas["attachDevice (own device)"].append(supply.attach_device(item, devices[1])["gasUsed"])
            gas["detachDevice"].append(supply.detach_device(item, devices[1])["gasUsed"])
            theirs = os.urandom(32)
            ledger.register_device(
                theirs, DeviceKey.generate(KeyType.SECP256K1).public_key, owner=receiver.operator.address
            )
            gas["approveAttachment"].append(receiving.approve_attachment(item, theirs)["gasUsed"])
            gas["attachDevice (another owner's, approved)"].append(supply.attach_device(item, theirs)["gasUsed"])
            rule_id, _ = oracle.add_rule(
                RuleSpec(item, "temperature", unit="Cel", upper=800, scale=2, actions=Action.MARK_OUT_OF_COMPLIANCE)
            )
            gas["ShipmentEscrow.designateBuyer"].append(
                escrow.designate_buyer(item, receiver.operator.address)["gasUsed"]
            )
            deadline = int(client.w3.eth.get_block("latest")["timestamp"]) + 86_400
            gas["ShipmentEscrow.open (1 protecting rule)"].append(
                buying.open(item, deadline, 10**15, [rule_id])["gasUsed"]
            )
            expires = int(client.w3.eth.get_block("latest")["timestamp"]) + 3600
            gas["proposeTransfer"].append(
                supply.propose_transfer(item, receiver.operator.address, HERE, expires)["gasUsed"]
            )
            gas["acceptTransfer"].append(receiving.accept_transfer(item, HERE)["gasUsed"])
            gas["recordCheckpoint (no evidence)"].append(receiving.record_checkpoint(item, HERE, 200)["gasUsed"])
            # evidence dated now: inside this item's attachment, not ahead of the block (CLOCK_TOLERANCE)
            taken = int(client.w3.eth.get_block("latest")["timestamp"])
            proofs = {size: evidence(ledger, devices[0], keys[0], taken, size) for size in (1_000, 100_000)}
            for size, proof in proofs.items():
                label = f"recordCheckpoint (evidence, batch of {size:,}: {len(proof.proof)} siblings)"
                gas[label].append(receiving.record_checkpoint(item, HERE, 200, proof)["gasUsed"])
            before = client.w3.eth.get_transaction_count(operator)
            tokens.mint(item, operator)
            mint_receipt = client.w3.eth.get_transaction_receipt(client.w3.eth.get_block("latest")["transactions"][-1])
            assert client.w3.eth.get_transaction_count(operator) == before + 1
            gas["AssetToken.mint"].append(mint_receipt["gasUsed"])
            token_id = int.from_bytes(item, "big")
            transfer = client.transact(
                tokens.contract.functions.transferFrom(operator, receiver.operator.address, token_id)
            )
            gas["AssetToken.transferFrom"].append(transfer["gasUsed"])
            gas["confirmDelivery"].append(receiving.confirm_delivery(item, HERE)["gasUsed"])
            gas["ShipmentEscrow.settle (1 protecting rule)"].append(escrow.settle(item)["gasUsed"])
            other = os.urandom(32)
            supply.register_item(other, operator, keccak(other), "", [])
            escrow.designate_buyer(other, receiver.operator.address)
            gas["ShipmentEscrow.open (no rule)"].append(buying.open(other, deadline, 10**15)["gasUsed"])
            gas["recallItem"].append(supply.recall(other, "contamination")["gasUsed"])
            gas["ShipmentEscrow.settle (no rule)"].append(escrow.settle(other)["gasUsed"])
    print()
    width = max(len(name) for name in gas)
    print(f"{'call':<{width}}  median gas  (n={args.samples})")
    for name, values in gas.items():
        print(f"{name:<{width}}  {statistics.median(values):>10,.0f}")


if __name__ == "__main__":
    main()
