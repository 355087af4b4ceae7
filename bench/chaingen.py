"""Fills a chain with project events fast: signed raw transactions sent in JSON-RPC batches,
many per block (anvil's automine off, one `evm_mine` per block).

The mix is what a busy deployment sees: device registrations, key rotations, suspensions and
reactivations, metadata updates, and (most of it) batch anchors. Each transaction emits one event.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson
from eth_account import Account
from eth_utils import keccak

from ledger_service.chain.client import ChainClient
from ledger_service.chain.deploy import Deployment
from ledger_service.compiler import Artifact
from ledger_service.keys import DeviceKey, KeyType
from ledger_service.registry import Metadata


@dataclass
class Generated:
    """What was sent: transactions (one event each) and blocks mined."""

    events: int
    blocks: int
    seconds: float


def _rpc(http: httpx.Client, url: str, calls: list[tuple[str, list[object]]]) -> list[object]:
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    answers = orjson.loads(http.post(url, content=orjson.dumps(body), headers={"content-type": "application/json"}).content)
    if isinstance(answers, dict):
        raise RuntimeError(f"batch refused: {answers}")
    results = []
    for answer in sorted(answers, key=lambda a: a["id"]):
        if "error" in answer:
            raise RuntimeError(f"{calls[answer['id']][0]}: {answer['error']}")
        results.append(answer.get("result"))
    return results


def generate(
    client: ChainClient,
    deployment: Deployment,
    artifacts: dict[str, Artifact],
    events: int,
    per_block: int = 100,
    per_tx: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Generated:
    """Emits `events` project events from the operator: `per_tx` calls a transaction (through
    `multicall` when above one), about `per_block` events a block."""
    w3 = client.w3
    registry = w3.eth.contract(address=deployment.address_of("DeviceRegistry"), abi=artifacts["DeviceRegistry"].abi)
    notary = w3.eth.contract(address=deployment.address_of("DataNotary"), abi=artifacts["DataNotary"].abi)
    operator = client.operator
    devices: list[bytes] = []
    key = DeviceKey.generate(KeyType.SECP256K1).public_key.as_tuple()
    salt = os.urandom(8)

    def calldata(index: int) -> tuple[str, str]:
        kind = index % 50
        if kind == 0 or not devices:
            device_id = keccak(salt + b"device" + index.to_bytes(8, "big"))
            devices.append(device_id)
            meta = Metadata(model=f"sensor-{index % 7}", firmware_hash=keccak(b"fw"), metadata_cid="").as_tuple()
            return registry.address, registry.encode_abi("registerDevice", [device_id, operator.address, key, meta])
        device_id = devices[index % len(devices)]
        if kind == 1:
            fresh = DeviceKey.generate(KeyType.SECP256K1).public_key.as_tuple()
            return registry.address, registry.encode_abi("rotateKey", [device_id, fresh])
        if kind == 2:
            meta = Metadata(model=f"sensor-v{index}", firmware_hash=keccak(b"fw2"), metadata_cid="").as_tuple()
            return registry.address, registry.encode_abi("updateDeviceMetadata", [device_id, meta])
        root = keccak(salt + index.to_bytes(8, "big"))
        cid = "bafkrei" + keccak(root).hex()[:52]
        return notary.address, notary.encode_abi("anchor", [root, 100, 1_700_000_000, 1_700_000_100, cid])

    url = client.rpc_url
    started = time.perf_counter()
    nonce = w3.eth.get_transaction_count(operator.address)
    gas_price = w3.eth.gas_price * 2
    blocks = 0
    with httpx.Client(timeout=120) as http:
        _rpc(http, url, [("evm_setAutomine", [False])])
        try:
            sent = 0
            while sent < events:
                raw = []
                emitted = 0
                while emitted < per_block and sent + emitted < events:
                    calls = [calldata(sent + emitted + k) for k in range(min(per_tx, events - sent - emitted))]
                    emitted += len(calls)
                    by_target: dict[str, list[str]] = {}
                    for to, data in calls:
                        by_target.setdefault(to, []).append(data)
                    for to, datas in by_target.items():
                        if len(datas) == 1:
                            data = datas[0]
                        else:
                            target = registry if to == registry.address else notary
                            data = target.encode_abi("multicall", [[bytes.fromhex(d[2:]) for d in datas]])
                        tx = {
                            "to": to, "data": data, "nonce": nonce, "gas": 150_000 + 120_000 * len(datas),
                            "gasPrice": gas_price, "chainId": deployment.chain_id, "value": 0,
                        }  # fmt: skip
                        signed = Account.sign_transaction(tx, operator.key)
                        raw.append(("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()]))
                        nonce += 1
                count = emitted
                _rpc(http, url, raw)
                _rpc(http, url, [("evm_mine", [])])
                blocks += 1
                sent += count
                if progress is not None:
                    progress(count)
        finally:
            _rpc(http, url, [("evm_setAutomine", [True])])
    return Generated(events=events, blocks=blocks, seconds=time.perf_counter() - started)
