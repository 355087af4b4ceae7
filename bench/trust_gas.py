"""Gas of what the trust work changed, on a fresh anvil: the deployment with its role wiring (the
deployer grants every role to its own account, binds the oracle, then renounces all it held), and
the device calls that keep suspension periods.

    .venv/bin/python bench/trust_gas.py [--samples 8]

Prints the creation gas of the contracts, the gas and transaction count of the wiring, and the
median gas of suspendDevice (first and later), reactivateDevice and verifySignedReading /
verifyReadingAt (secp256k1) for a device with 0 and 5 past suspensions, for a reading dated after
them and one dated before them. Figures in docs/device-time.md and docs/threat-model.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger_service.core.chain.client import connect  # noqa: E402
from ledger_service.core.chain.deploy import deploy  # noqa: E402
from ledger_service.core.chain.ledger import Ledger  # noqa: E402
from ledger_service.core.chain.node import ManagedAnvil  # noqa: E402
from ledger_service.core.compiler import compile_contracts  # noqa: E402
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey  # noqa: E402
from ledger_service.core.readings import Reading  # noqa: E402
from ledger_service.core.settings import Settings  # noqa: E402


class _Wiring(logging.Handler):
    """Catches the deploy's own account of its gas."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, Any] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "deployment wired":
            self.figures = {k: getattr(record, k) for k in ("creation_gas", "wiring_gas", "wiring_txs")}


def _verify_gas(ledger: Ledger, reading: Reading, signature: bytes) -> tuple[int, int]:
    registry = ledger.registry.functions
    digest = reading.digest(ledger.domain)
    signed = registry.verifySignedReading(reading.as_tuple(), signature).estimate_gas()
    at = registry.verifyReadingAt(reading.device_id, digest, signature, reading.timestamp).estimate_gas()
    return int(signed), int(at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="trust-gas-"))
    settings = Settings(_env_file=None, data_dir=workdir)  # type: ignore[call-arg]
    artifacts = compile_contracts(settings.build_dir)
    catcher = _Wiring()
    logging.getLogger("ledger_service.core.chain.deploy").addHandler(catcher)
    logging.getLogger("ledger_service.core.chain.deploy").setLevel(logging.INFO)
    rows: dict[str, list[int]] = {}
    with ManagedAnvil(state_dir=None) as node:
        client = connect(settings, node.url)
        deployment, _ = deploy(client, artifacts, settings.manifest_path)
        ledger = Ledger(client, deployment, artifacts)
        w3 = client.w3
        for _ in range(args.samples):
            key = DeviceKey.generate(KeyType.SECP256K1)
            device = os.urandom(32)
            ledger.register_device(device, key.public_key)
            early = int(w3.eth.get_block("latest")["timestamp"])
            before = Reading(device, 1, early, "temperature", 2150, 2, "Cel")
            signed, at = _verify_gas(ledger, before, key.sign(before.digest(ledger.domain)))
            rows.setdefault("verifySignedReading, no suspension", []).append(signed)
            rows.setdefault("verifyReadingAt, no suspension", []).append(at)
            for index in range(5):
                w3.provider.make_request("evm_increaseTime", [10])  # type: ignore[arg-type]
                suspended = ledger.suspend_device(device)
                rows.setdefault("suspendDevice, first" if index == 0 else "suspendDevice, later", []).append(
                    int(suspended["gasUsed"])
                )
                w3.provider.make_request("evm_increaseTime", [10])  # type: ignore[arg-type]
                rows.setdefault("reactivateDevice", []).append(int(ledger.reactivate_device(device)["gasUsed"]))
            w3.provider.make_request("evm_increaseTime", [10])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            late = int(w3.eth.get_block("latest")["timestamp"])
            after = Reading(device, 2, late, "temperature", 2150, 2, "Cel")
            signed, at = _verify_gas(ledger, after, key.sign(after.digest(ledger.domain)))
            rows.setdefault("verifySignedReading, 5 suspensions, dated after", []).append(signed)
            rows.setdefault("verifyReadingAt, 5 suspensions, dated after", []).append(at)
            signed, at = _verify_gas(ledger, before, key.sign(before.digest(ledger.domain)))
            rows.setdefault("verifySignedReading, 5 suspensions, dated before", []).append(signed)
    print(f"deployment: creation {catcher.figures.get('creation_gas'):,} gas; wiring "
          f"{catcher.figures.get('wiring_gas'):,} gas in {catcher.figures.get('wiring_txs')} transactions")  # fmt: skip
    print(f"{'call':<52} {'median gas':>11}   (eth_estimateGas for views, 21,000 base included)")
    for name, values in rows.items():
        print(f"{name:<52} {int(statistics.median(values)):>11,}")


if __name__ == "__main__":
    main()
