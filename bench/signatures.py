"""Signature checks per second at ingest, per key type, and the gas of on-chain verification.

    .venv/bin/python bench/signatures.py [--readings 5000]

Baselines measured in the same run: a bare secp256k1 recovery with coincurve (plus the keccak
that turns the key into an address) and a bare P-256 verification with `cryptography`. The
ingest figure is `Ingestor.verify` on a warm registry cache: EIP-712 digest, registry lookup,
status checks and the signature check, exactly what every posted reading goes through.
Gas is `eth_estimateGas` of `verifyReading` and `verifySignedReading` on anvil with the P256VERIFY
precompile (default hardfork, Osaka) and without it (Prague: OpenZeppelin's Solidity fallback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import coincurve
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from eth_utils import keccak

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger_service.core.chain.client import connect  # noqa: E402
from ledger_service.core.chain.deploy import deploy  # noqa: E402
from ledger_service.core.chain.ledger import Ledger  # noqa: E402
from ledger_service.core.chain.node import ManagedAnvil  # noqa: E402
from ledger_service.core.compiler import compile_contracts  # noqa: E402
from ledger_service.core.db import create_schema, make_engine  # noqa: E402
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey  # noqa: E402
from ledger_service.core.readings import Reading  # noqa: E402
from ledger_service.core.settings import Settings  # noqa: E402
from ledger_service.services.ingest import Ingestor  # noqa: E402
from ledger_service.services.registry import RegistryCache  # noqa: E402


def rate(count: int, run: Callable[[], None]) -> float:
    """Operations per second of `run`, which performs `count` operations."""
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def baseline_secp256k1(count: int) -> float:
    key = coincurve.PrivateKey()
    digests = [os.urandom(32) for _ in range(count)]
    signatures = [key.sign_recoverable(d, hasher=None) for d in digests]

    def run() -> None:
        for digest, signature in zip(digests, signatures, strict=True):
            public = coincurve.PublicKey.from_signature_and_message(signature, digest, hasher=None)
            keccak(public.format(compressed=False)[1:])

    return rate(count, run)


def baseline_p256(count: int) -> float:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key()
    algorithm = ec.ECDSA(Prehashed(hashes.SHA256()))
    digests = [os.urandom(32) for _ in range(count)]
    signatures = [private.sign(d, algorithm) for d in digests]

    def run() -> None:
        for digest, signature in zip(digests, signatures, strict=True):
            public.verify(signature, digest, algorithm)

    return rate(count, run)


def deployed(node: ManagedAnvil, workdir: Path) -> Ledger:
    settings = Settings(_env_file=None, data_dir=workdir)  # type: ignore[call-arg]
    artifacts = compile_contracts(settings.build_dir)
    client = connect(settings, node.url)
    deployment, _ = deploy(client, artifacts, settings.manifest_path)
    return Ledger(client, deployment, artifacts)


def signed_readings(ledger: Ledger, key_type: KeyType, count: int) -> tuple[list[tuple[Reading, bytes]], bytes]:
    key = DeviceKey.generate(key_type)
    device_id = os.urandom(32)
    ledger.register_device(device_id, key.public_key)
    now = int(time.time()) + 2
    readings = [Reading(device_id, i + 1, now, "temperature", 2000 + i, 2, "Cel") for i in range(count)]
    return [(r, key.sign(r.digest(ledger.domain))) for r in readings], device_id


def ingest_rate(ledger: Ledger, workdir: Path, key_type: KeyType, count: int) -> tuple[float, float]:
    """Readings per second through `Ingestor.verify`, and through verify + store (SQLite)."""
    items, _ = signed_readings(ledger, key_type, count)
    cache = RegistryCache(ledger.registry, ledger.deployment.contracts["DeviceRegistry"].block_number)
    cache.sync()
    engine = make_engine(f"sqlite:///{workdir / f'bench-{key_type.label}.db'}")
    create_schema(engine)
    ingestor = Ingestor(engine, ledger.domain, cache)
    ingestor.checks.verify(*items[0])  # warm: the device is cached from here on

    def verify_all() -> None:
        for reading, signature in items:
            ingestor.checks.verify(reading, signature)

    verified = rate(count, verify_all)
    stored_count = min(count, 2000)

    def ingest_all() -> None:
        for reading, signature in items[:stored_count]:
            ingestor.ingest(reading, signature)

    stored = rate(stored_count, ingest_all)
    engine.dispose()
    return verified, stored


def gas(ledger: Ledger, key_type: KeyType) -> tuple[int, int]:
    """Gas of verifyReading and verifySignedReading for one valid reading."""
    items, device_id = signed_readings(ledger, key_type, 1)
    reading, signature = items[0]
    digest = reading.digest(ledger.domain)
    sender = {"from": ledger.client.operator.address}
    assert ledger.verify_reading(device_id, digest, signature)
    plain = ledger.registry.functions.verifyReading(device_id, digest, signature).estimate_gas(sender)
    whole = ledger.registry.functions.verifySignedReading(reading.as_tuple(), signature).estimate_gas(sender)
    return int(plain), int(whole)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=5000, help="readings per key type")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        baselines = {KeyType.SECP256K1: baseline_secp256k1(args.readings), KeyType.P256: baseline_p256(args.readings)}
        with ManagedAnvil(state_dir=None) as node:
            ledger = deployed(node, workdir / "osaka")
            ingest = {kt: ingest_rate(ledger, workdir, kt, args.readings) for kt in KeyType}
            gas_precompile = {kt: gas(ledger, kt) for kt in KeyType}
        with ManagedAnvil(state_dir=None, extra_args=["--hardfork", "prague"]) as node:
            ledger = deployed(node, workdir / "prague")
            gas_fallback = {kt: gas(ledger, kt) for kt in KeyType}

    print(f"Signature checks per second, one core, {args.readings} readings per key type")
    print(f"{'key type':<10} {'bare check/s':>13} {'ingest verify/s':>16} {'ratio':>6} {'verify+store/s':>15}")
    for kt in KeyType:
        verified, stored = ingest[kt]
        ratio = verified / baselines[kt]
        print(f"{kt.label:<10} {baselines[kt]:>13,.0f} {verified:>16,.0f} {ratio:>6.0%} {stored:>15,.0f}")
        results[kt.label] = {"baseline_per_s": baselines[kt], "ingest_verify_per_s": verified,
                             "ratio": ratio, "verify_and_store_per_s": stored}  # fmt: skip
    print()
    print("Gas of on-chain verification (eth_estimateGas, includes the 21,000 base)")
    print(f"{'key type':<10} {'path':<22} {'verifyReading':>14} {'verifySignedReading':>20}")
    for kt in KeyType:
        for path, figures in (("precompile (Osaka)", gas_precompile[kt]), ("no precompile (Prague)", gas_fallback[kt])):
            if kt is KeyType.SECP256K1:
                path = "ecrecover" + (" (Osaka)" if "Osaka" in path else " (Prague)")
            print(f"{kt.label:<10} {path:<22} {figures[0]:>14,} {figures[1]:>20,}")
            results.setdefault("gas", {})[f"{kt.label} {path}"] = {  # type: ignore[union-attr]
                "verifyReading": figures[0], "verifySignedReading": figures[1]}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
