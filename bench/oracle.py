"""Oracle latency and gas on a fresh anvil.

    .venv/bin/python bench/oracle.py [--trials 30] [--batch-age 1.0] [--poll 0.05]

1. Latency: a cold-chain rule (above 8 °C for 3 readings) on a fresh item per trial; three
   breaching readings go through the service's ingest (verified, stored), the batcher (thread,
   sealing after --batch-age s) anchors them, the oracle daemon (thread, polling every --poll s)
   finds the breach and submits the evidence. Reported: time from the reading that completes the
   breach to the receipt of the transaction that fired the rule (median, p99), split into waiting
   for the anchor and proving on chain.
2. Gas of an evidence report by number of readings (1 to 16; batch of 1,000 readings, so 10
   siblings per proof), with the item marked out of compliance.
3. Gas of a committee report (heartbeat rule, item marked) for ECDSA and BLS at committee sizes
   4, 16 and 31, signed by a quorum of 2f + 1 (3, 11, 21); and of registering a member (BLS key
   with its proof of possession checked by a pairing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_utils import keccak  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from ledger_service.core.chain.client import connect  # noqa: E402
from ledger_service.core.chain.deploy import deploy  # noqa: E402
from ledger_service.core.chain.node import ManagedAnvil  # noqa: E402
from ledger_service.core.compiler import compile_contracts  # noqa: E402
from ledger_service.core.enums import Action, KeyType, RuleKind
from ledger_service.core.keys import DeviceKey  # noqa: E402
from ledger_service.core.merkle import MerkleTree  # noqa: E402
from ledger_service.core.models import Batch, OracleReport, StoredReading  # noqa: E402
from ledger_service.core.readings import Reading, reading_leaf  # noqa: E402
from ledger_service.core.settings import Settings  # noqa: E402
from ledger_service.services.container import Services  # noqa: E402
from ledger_service.services.tasks import dispatcher  # noqa: E402
from oracles.contract import (  # noqa: E402
    CommitteeMember,
    CommitteeReport,
    SensorOracleContract,
    SignedReading,
    sign_bls,
    sign_ecdsa,
)
from oracles.daemon import OracleDaemon  # noqa: E402
from oracles.rules import RuleSpec  # noqa: E402
from oracles.tasks import report_dispatcher  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def new_item(services: Services) -> tuple[bytes, bytes, DeviceKey]:
    key = DeviceKey.generate(KeyType.SECP256K1)
    device = os.urandom(32)
    services.ledger.register_device(device, key.public_key)
    services.registry.refresh(force=True)
    item = os.urandom(32)
    supply = services.supply_chain()
    supply.register_item(item, supply.client.operator.address, keccak(item), "", [device])
    return item, device, key


def latency(services: Services, oracle: SensorOracleContract, trials: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"total": [], "anchor": [], "prove": []}
    for trial in range(trials):
        item, device, key = new_item(services)
        oracle.add_rule(
            RuleSpec(
                item,
                "temperature",
                unit="Cel",
                upper=800,
                scale=2,
                min_readings=3,
                actions=Action.MARK_OUT_OF_COMPLIANCE,
            )
        )
        started = int(time.time())
        last_id = ""
        for sequence in range(1, 4):
            reading = Reading(device, sequence, started + sequence, "temperature", 950, 2, "Cel")
            last_id = services.ingestor.ingest(reading, key.sign(reading.digest(services.ledger.domain))).reading.id
        crossed = time.time()
        deadline = crossed + 120
        while time.time() < deadline:
            with Session(services.engine) as session:
                report = session.exec(
                    select(OracleReport).where(
                        OracleReport.item_id == "0x" + item.hex(), OracleReport.status == "fired"
                    )
                ).first()
                if report is not None:
                    stored = session.get(StoredReading, last_id)
                    batch = session.get(Batch, stored.batch_id) if stored and stored.batch_id else None
                    break
            time.sleep(0.005)
        else:
            raise SystemExit(f"trial {trial}: the rule did not fire within 120 s")
        assert report.submitted_at is not None and batch is not None and batch.anchored_at is not None
        results["total"].append(report.submitted_at - crossed)
        results["anchor"].append(batch.anchored_at - crossed)
        results["prove"].append(report.submitted_at - batch.anchored_at)
        print(f"\r  latency trial {trial + 1}/{trials}: {results['total'][-1] * 1000:,.0f} ms", end="", flush=True)
    print()
    return results


def evidence_gas(services: Services, oracle: SensorOracleContract, counts: list[int]) -> dict[int, int]:
    gas = {}
    for count in counts:
        item, device, key = new_item(services)
        rule_id, _ = oracle.add_rule(
            RuleSpec(
                item,
                "temperature",
                unit="Cel",
                upper=800,
                scale=2,
                min_readings=count,
                actions=Action.MARK_OUT_OF_COMPLIANCE,
            )
        )
        start = int(time.time()) + 1
        signed = []
        for sequence in range(1, count + 1):
            reading = Reading(device, sequence, start + sequence, "temperature", 950, 2, "Cel")
            signed.append((reading, key.sign(reading.digest(services.ledger.domain))))
        leaves = [reading_leaf(r.digest(services.ledger.domain), s) for r, s in signed]
        tree = MerkleTree(leaves + [os.urandom(32) for _ in range(1000 - count)])
        services.ledger.anchor(tree.root, 1000, start, start + count, "bafy-bench")
        evidence = [
            SignedReading(r, s, tree.root, tree.proof(leaf)) for (r, s), leaf in zip(signed, leaves, strict=True)
        ]
        gas[count] = int(oracle.submit_evidence(rule_id, evidence)["gasUsed"])
        print(f"  evidence report, {count:>2} readings: {gas[count]:>9,} gas")
    return gas


def committee_gas(services: Services, oracle: SensorOracleContract, sizes: list[int]) -> dict[tuple[int, str], int]:
    gas: dict[tuple[int, str], int] = {}
    admin = oracle.as_account(oracle.client.for_role("admin"))  # the committee is the admin's to change
    members: list[CommitteeMember] = []
    add_gas: list[int] = []
    for size in sizes:
        while len(members) < size:
            member = CommitteeMember.generate()
            add_gas.append(int(admin.add_member(member)["gasUsed"]))
            members.append(member)
        faulty = (size - 1) // 3
        quorum = 2 * faulty + 1
        admin.set_quorum(quorum)
        positions = {address: i for i, address in enumerate(oracle.members())}
        for scheme in ("ecdsa", "bls"):
            item, device, _ = new_item(services)
            rule_id, _ = oracle.add_rule(
                RuleSpec(item, "", kind=RuleKind.HEARTBEAT, upper=60, actions=Action.MARK_OUT_OF_COMPLIANCE)
            )
            # the silence must lie inside the device's attachment: move this bench's own chain on
            attached = services.supply_chain().attachments_of(item, device)[-1].attached_at
            w3 = services.ledger.client.w3
            w3.provider.make_request("evm_increaseTime", [601])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            observed = int(w3.eth.get_block("latest")["timestamp"])
            report = CommitteeReport(rule_id, device, 0, attached, observed, oracle.config_version())
            digest = oracle.committee_digest(report)
            signers = members[:quorum]
            if scheme == "ecdsa":
                receipt = oracle.submit_committee_ecdsa(report, sign_ecdsa(signers, digest))
            else:
                receipt = oracle.submit_committee_bls(report, *sign_bls(signers, positions, digest))
            gas[(size, scheme)] = int(receipt["gasUsed"])
            print(f"  committee of {size:>2}, quorum {quorum:>2}, {scheme:<5}: {gas[(size, scheme)]:>9,} gas")
    print(f"  addMember (BLS key + proof of possession): median {statistics.median(add_gas):,.0f} gas")
    return gas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--batch-age", type=float, default=1.0)
    parser.add_argument("--poll", type=float, default=0.05)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-oracle-"))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=workdir, batch_age=args.batch_age, batch_poll=0.05,
    )  # fmt: skip
    artifacts = compile_contracts(settings.build_dir)
    with ManagedAnvil(state_dir=None) as node:
        client = connect(settings, node.url)
        deployment, _ = deploy(client, artifacts, settings.manifest_path)
        services = Services.build(settings, client, deployment, artifacts)
        oracle = SensorOracleContract(client, deployment, artifacts)
        stop = threading.Event()
        batcher = services.batcher(dispatch=dispatcher(services))
        daemon = OracleDaemon(services, report_dispatcher(services), name="bench", rule_refresh=0.5)
        threads = [
            threading.Thread(target=batcher.run, args=(stop, settings.batch_poll), daemon=True),
            threading.Thread(target=daemon.run, args=(stop, args.poll), daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            print(f"latency: batch age {args.batch_age}s, daemon poll {args.poll}s, {args.trials} trials")
            times = latency(services, oracle, args.trials)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
        print("gas:")
        evidence = evidence_gas(services, oracle, [1, 2, 4, 8, 16])
        committee_gas(services, oracle, [4, 16, 31])
        services.close()
    print()
    for name, values in times.items():
        print(
            f"{name:>6}: median {statistics.median(values) * 1000:7,.0f} ms   "
            f"p99 {percentile(values, 0.99) * 1000:7,.0f} ms"
        )
    per_reading = (evidence[16] - evidence[1]) / 15
    print(f"evidence: {evidence[1]:,} gas for one reading, about {per_reading:,.0f} per further reading")


if __name__ == "__main__":
    main()
