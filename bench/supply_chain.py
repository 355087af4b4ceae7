"""Gas of the supply-chain calls on a fresh anvil.

    .venv/bin/python bench/supply_chain.py [--samples 20]

Reports the median gas of: registering an item (with one and with three sensor devices),
proposing a handover, accepting it, recording a checkpoint without evidence and with evidence
checked on chain against DataNotary (Merkle proofs of 10 and 17 siblings: batches of 1,000 and
100,000 readings), setting a condition with evidence, recalling, confirming delivery, and minting
and transferring the asset token.
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

from ledger_service.chain.client import ChainClient, connect  # noqa: E402
from ledger_service.chain.deploy import deploy  # noqa: E402
from ledger_service.chain.ledger import Ledger  # noqa: E402
from ledger_service.chain.node import ManagedAnvil  # noqa: E402
from ledger_service.compiler import compile_contracts  # noqa: E402
from ledger_service.content import LocalContentStore  # noqa: E402
from ledger_service.keys import DeviceKey, KeyType  # noqa: E402
from ledger_service.merkle import MerkleTree  # noqa: E402
from ledger_service.settings import Settings  # noqa: E402
from ledger_service.supply_chain import (  # noqa: E402
    Condition,
    Evidence,
    Location,
    SupplyChainContract,
    reading_leaf_of,
)
from tokenization.assets import AssetTokens  # noqa: E402

HERE = Location.of(52.37, 4.89, "8712345000004")


def evidence(ledger: Ledger, readings: int) -> Evidence:
    pairs = [(os.urandom(32), os.urandom(32)) for _ in range(readings)]
    leaves = [reading_leaf_of(d, s) for d, s in pairs]
    tree = MerkleTree(leaves)
    ledger.anchor(tree.root, readings, 1_700_000_000, 1_700_000_100, "bafy-bench")
    chosen = readings // 2
    return Evidence(tree.root, pairs[chosen][0], pairs[chosen][1], tree.proof(leaves[chosen]))


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
        devices = []
        for _ in range(3):
            device = os.urandom(32)
            ledger.register_device(device, DeviceKey.generate(KeyType.SECP256K1).public_key)
            devices.append(device)
        proofs = {size: evidence(ledger, size) for size in (1_000, 100_000)}
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
            expires = int(client.w3.eth.get_block("latest")["timestamp"]) + 3600
            gas["proposeTransfer"].append(
                supply.propose_transfer(item, receiver.operator.address, HERE, expires)["gasUsed"]
            )
            gas["acceptTransfer"].append(receiving.accept_transfer(item, HERE)["gasUsed"])
            gas["recordCheckpoint (no evidence)"].append(receiving.record_checkpoint(item, HERE, 200)["gasUsed"])
            for size, proof in proofs.items():
                label = f"recordCheckpoint (evidence, batch of {size:,}: {len(proof.proof)} siblings)"
                gas[label].append(receiving.record_checkpoint(item, HERE, 200, proof)["gasUsed"])
            gas["setCondition (evidence, batch of 1,000)"].append(
                supply.set_condition(item, Condition.OUT_OF_COMPLIANCE, proofs[1_000])["gasUsed"]
            )
            supply.set_condition(item, Condition.COMPLIANT)
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
            other = os.urandom(32)
            supply.register_item(other, operator, keccak(other), "", [])
            gas["recallItem"].append(supply.recall(other, "contamination")["gasUsed"])
    print()
    width = max(len(name) for name in gas)
    print(f"{'call':<{width}}  median gas  (n={args.samples})")
    for name, values in gas.items():
        print(f"{name:<{width}}  {statistics.median(values):>10,.0f}")


if __name__ == "__main__":
    main()
