"""Proof sizes and verification times of the transparency log at 10^3, 10^6 and 10^8 readings.

    .venv/bin/python bench/log_proofs.py [--batch 1000] [--trials 2000]

A reading is proven in two steps: its path in its batch's tree (the anchored root), then the
batch's leaf in the log (the checkpoint). With `--batch` readings a batch, N readings make N/batch
log leaves; the log is built for real (random leaf data) and so is one batch tree of `--batch`
readings. Reported per N: the log's size, the proof sizes (hashes and bytes, JSON hex included),
the time to build the log's root once, and the median and p99 time to verify a reading's whole
proof (batch path + log inclusion) and a consistency proof from half the log.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger_service.core import tlog  # noqa: E402
from ledger_service.core.merkle import MerkleTree, verify  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1000, help="readings per batch")
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    readings = [os.urandom(32) for _ in range(args.batch)]
    batch = MerkleTree(readings)
    reading = readings[args.batch // 2]
    batch_proof = batch.proof(reading)
    print(f"batch of {args.batch} readings: a reading's path is {len(batch_proof)} hashes")
    print(f"{'readings':>12} {'log leaves':>11} {'root built':>11} {'proof hashes':>13} {'proof bytes':>12} "
          f"{'verify p50':>11} {'verify p99':>11} {'consistency p50':>16}")  # fmt: skip
    for total in (10**3, 10**6, 10**8):
        leaves = max(1, total // args.batch)
        hashes = [tlog.leaf_hash(os.urandom(90)) for _ in range(leaves)]
        started = time.perf_counter()
        log_root = tlog.root(hashes)
        built = time.perf_counter() - started
        index = leaves // 3
        inclusion = tlog.inclusion_proof(hashes, index)
        half = max(1, leaves // 2)
        consistency = tlog.consistency_proof(hashes, half) if half < leaves else []
        half_root = tlog.root(hashes[:half])
        proof_hashes = len(batch_proof) + len(inclusion)
        as_json = json.dumps({"batch_path": ["0x" + h.hex() for h in batch_proof],
                              "log_path": ["0x" + h.hex() for h in inclusion]})  # fmt: skip
        verify_times, consist = [], []
        for _ in range(args.trials):
            started = time.perf_counter()
            assert verify(batch.root, reading, batch_proof)
            assert tlog.verify_inclusion(hashes[index], index, leaves, inclusion, log_root)
            verify_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert half == leaves or tlog.verify_consistency(half, leaves, half_root, log_root, consistency)
            consist.append(time.perf_counter() - started)
        print(f"{total:>12,} {leaves:>11,} {built * 1000:>9.1f}ms {proof_hashes:>13} {len(as_json):>12,} "
              f"{statistics.median(verify_times) * 1e6:>9.1f}us {percentile(verify_times, 0.99) * 1e6:>9.1f}us "
              f"{statistics.median(consist) * 1e6:>14.1f}us")  # fmt: skip


if __name__ == "__main__":
    main()
