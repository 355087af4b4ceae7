"""Gas per anchor with the transparency log, next to the notary before the log and to EAS, on one anvil.

    .venv/bin/python bench/log_gas.py [--anchors 256]

Three contracts, each measured the same way: one call first (so no figure pays for the first write
of a counter), then `--anchors` transactions, each anchoring a new random hash; the figure is the
transaction's gasUsed.

- **before the log**: DataNotary as it was at commit BEFORE_LOG (read from git and compiled here);
- **with the log**: today's DataNotary, which appends each batch to its RFC 9162 log and stores
  nothing per batch, called as the service calls it (`anchorAs`, with the log's next batch id);
- **recordAnchor**: what a batch costs when a contract must check its readings on chain (the
  oracle's evidence, a checkpoint's): recording it once against the log's frontier, for batches
  picked at random from the run above, each with the path built against the log as it is;
- **EAS.timestamp(bytes32)**: the Ethereum Attestation Service's timestamp of one bare hash, from
  the artifact published in the npm package (fetched with `npm pack` into build/bench).

Anchors carry 1,000 readings and a 59-character CID, as the service sends them. The log's cost
varies with the batch id (the subtrees an append completes are read back), so min, median, mean
and max are printed; the mean over a run of consecutive anchors is the amortized figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from web3 import Web3  # noqa: E402

from ledger_service.core.chain.node import ManagedAnvil  # noqa: E402
from ledger_service.core.chain.notary_log import NotaryLog  # noqa: E402
from ledger_service.core.compiler import Compiler, compile_contracts  # noqa: E402
from ledger_service.core.settings import PROJECT_ROOT  # noqa: E402

BEFORE_LOG = "b463acbb119cc94b41226ed0fde2b389b3b396e2"
EAS_PACKAGE = "@ethereum-attestation-service/eas-contracts@1.9.0"
CID = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
CACHE = PROJECT_ROOT / "build" / "bench"


def _notary_before_log() -> dict[str, Any]:
    """Compiles DataNotary and its interface as they were at BEFORE_LOG."""
    workdir = Path(tempfile.mkdtemp(prefix="notary-before-log-"))
    for path in ("contracts/DataNotary.sol", "contracts/interfaces/IDataNotary.sol"):
        text = subprocess.run(["git", "show", f"{BEFORE_LOG}:{path}"], cwd=PROJECT_ROOT, check=True,
                              capture_output=True, text=True).stdout  # fmt: skip
        target = workdir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    artifacts, _ = Compiler(workdir / "build", contracts_dir=workdir / "contracts").compile()
    notary = artifacts["DataNotary"]
    return {"abi": notary.abi, "bytecode": notary.bytecode}


def _eas_artifacts() -> tuple[dict[str, Any], dict[str, Any]]:
    """EAS and SchemaRegistry as published (npm pack, no install, no dependencies)."""
    package = CACHE / "eas" / "package"
    if not package.exists():
        package.parent.mkdir(parents=True, exist_ok=True)
        print(f"fetching {EAS_PACKAGE}")
        tarball = subprocess.run(["npm", "pack", "--silent", EAS_PACKAGE], cwd=package.parent, check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1]  # fmt: skip
        subprocess.run(["tar", "xzf", tarball], cwd=package.parent, check=True)
    base = package / "artifacts" / "contracts"
    eas = json.loads((base / "EAS.sol" / "EAS.json").read_text())
    registry = json.loads((base / "SchemaRegistry.sol" / "SchemaRegistry.json").read_text())
    return eas, registry


def _deploy(w3: Web3, artifact: dict[str, Any], *args: Any) -> Any:
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact())
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def _gas_of(w3: Web3, calls: Any, count: int) -> list[int]:
    w3.eth.wait_for_transaction_receipt(next(calls).transact())  # the first call writes the counters
    return [int(w3.eth.wait_for_transaction_receipt(next(calls).transact())["gasUsed"]) for _ in range(count)]


def _anchors(notary: Any) -> Any:
    while True:
        yield notary.functions.anchor(os.urandom(32), 1000, 1_765_000_000, 1_765_000_060, CID)


def _next_anchors(notary: Any) -> Any:
    """`anchorAs` with the log's next batch id, as the service sends its anchors."""
    while True:
        next_id = notary.functions.batchCount().call()
        yield notary.functions.anchorAs(next_id, os.urandom(32), 1000, 1_765_000_000, 1_765_000_060, CID)


def _timestamps(eas: Any) -> Any:
    while True:
        yield eas.functions.timestamp(os.urandom(32))


def _records(w3: Web3, notary: Any, count: int) -> list[int]:
    """Gas of recording `count` batches picked at random from the notary's log."""
    log = NotaryLog(notary, 0)
    leaves, events = log.read()
    gas = []
    for index in random.Random(7).sample(range(len(leaves)), min(count, len(leaves))):
        call = log.record_call(bytes(events[index]["root"]))
        assert call is not None
        gas.append(int(w3.eth.wait_for_transaction_receipt(call.transact())["gasUsed"]))
    return gas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", type=int, default=256, help="anchors (and timestamps) per contract")
    args = parser.parse_args()
    before = _notary_before_log()
    today = compile_contracts(CACHE / "contracts")["DataNotary"]
    eas_artifact, registry_artifact = _eas_artifacts()
    with ManagedAnvil(state_dir=None) as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        w3.eth.default_account = w3.eth.accounts[0]
        admin = w3.eth.default_account
        with_log = _deploy(w3, {"abi": today.abi, "bytecode": today.bytecode}, admin)
        eas = _deploy(w3, eas_artifact, _deploy(w3, registry_artifact).address)
        rows = {
            "DataNotary before the log": _gas_of(w3, _anchors(_deploy(w3, before, admin)), args.anchors),
            "DataNotary with the log": _gas_of(w3, _next_anchors(with_log), args.anchors),
            "EAS.timestamp(bytes32)": _gas_of(w3, _timestamps(eas), args.anchors),
        }
        rows["recordAnchor (when needed)"] = _records(w3, with_log, 64)
    print(f"Gas per transaction, {args.anchors} transactions each (anvil, same run)")
    print(f"  {'':28} {'min':>8} {'median':>8} {'mean':>9} {'max':>8}")
    for name, gas in rows.items():
        median, mean = statistics.median(gas), statistics.fmean(gas)
        print(f"  {name:28} {min(gas):>8,} {median:>8,.0f} {mean:>9,.1f} {max(gas):>8,}")


if __name__ == "__main__":
    main()
