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

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.deploy import Deployment
from ledger_service.core.compiler import Artifact
from ledger_service.core.device_state import Metadata
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey


@dataclass
class Generated:
    """What was sent: transactions (one event each) and blocks mined."""

    events: int
    transactions: int
    blocks: int
    seconds: float


def _rpc(http: httpx.Client, url: str, calls: list[tuple[str, list[object]]]) -> list[object]:
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    answers = orjson.loads(
        http.post(url, content=orjson.dumps(body), headers={"content-type": "application/json"}).content
    )
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
    """Emits `events` project events, `per_block` a block, each from the account whose role allows it
    (registrations and device changes from the registrar, which owns the devices it registers;
    anchors from the anchorer); each block's calls are grouped by contract into transactions of up
    to `per_tx` calls (through `multicall`)."""
    w3 = client.w3
    registry = w3.eth.contract(address=deployment.address_of("DeviceRegistry"), abi=artifacts["DeviceRegistry"].abi)
    notary = w3.eth.contract(address=deployment.address_of("DataNotary"), abi=artifacts["DataNotary"].abi)
    senders = {
        registry.address: client.for_role("registrar").operator,
        notary.address: client.for_role("anchorer").operator,
    }
    owner = senders[registry.address].address
    devices: list[bytes] = []
    key = DeviceKey.generate(KeyType.SECP256K1).public_key.as_tuple()
    salt = os.urandom(8)

    def calldata(index: int) -> tuple[str, str]:
        kind = index % 50
        if kind == 0 or not devices:
            device_id = keccak(salt + b"device" + index.to_bytes(8, "big"))
            devices.append(device_id)
            meta = Metadata(model=f"sensor-{index % 7}", firmware_hash=keccak(b"fw"), metadata_cid="").as_tuple()
            return registry.address, registry.encode_abi("registerDevice", [device_id, owner, key, meta])
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
    nonces = {to: w3.eth.get_transaction_count(account.address) for to, account in senders.items()}
    gas_price = w3.eth.gas_price * 2
    blocks = 0
    first_nonces = dict(nonces)
    with httpx.Client(timeout=120) as http:
        _rpc(http, url, [("evm_setAutomine", [False])])
        try:
            sent = 0
            while sent < events:
                count = min(per_block, events - sent)
                by_target: dict[str, list[str]] = {}
                for to, data in (calldata(sent + k) for k in range(count)):
                    by_target.setdefault(to, []).append(data)
                raw = []
                for to, datas in by_target.items():
                    for start in range(0, len(datas), per_tx):
                        group = datas[start : start + per_tx]
                        if len(group) == 1:
                            data = group[0]
                        else:
                            target = registry if to == registry.address else notary
                            data = target.encode_abi("multicall", [[bytes.fromhex(d[2:]) for d in group]])
                        tx = {
                            "to": to, "data": data, "nonce": nonces[to], "gas": 100_000 + 130_000 * len(group),
                            "gasPrice": gas_price, "chainId": deployment.chain_id, "value": 0,
                        }  # fmt: skip
                        signed = Account.sign_transaction(tx, senders[to].key)
                        raw.append(("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()]))
                        nonces[to] += 1
                _rpc(http, url, raw)
                _rpc(http, url, [("evm_mine", [])])
                blocks += 1
                sent += count
                if progress is not None:
                    progress(count)
        finally:
            _rpc(http, url, [("evm_setAutomine", [True])])
    sent_transactions = sum(nonces[to] - first_nonces[to] for to in nonces)
    return Generated(events, sent_transactions, blocks, time.perf_counter() - started)
