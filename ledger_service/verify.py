"""Checks a proof bundle: offline (digest, signature, leaf, Merkle path) and against a chain
(anchor transaction, block, event, confirmations, and the contracts' own verdicts).

Standalone: it needs the bundle and, for the chain checks, a JSON-RPC URL; no database, no
service. docs/proof-format.md describes each check so that others can write their own verifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from ledger_service.keys import KeyError_, PublicKey
from ledger_service.merkle import process_proof
from ledger_service.proofs import PROOF_FORMAT
from ledger_service.readings import Domain, Reading, leaf_values, reading_leaf

BATCH_ANCHORED_TOPIC = keccak(text="BatchAnchored(uint256,bytes32,address,uint64,uint64,uint64,string)")
_READING_TUPLE = "(bytes32,uint64,uint64,string,int256,int8,string,bytes32)"
_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "verify",
        "stateMutability": "view",
        "inputs": [{"name": "root", "type": "bytes32"}, {"name": "leaf", "type": "bytes32"},
                   {"name": "proof", "type": "bytes32[]"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {
        "type": "function",
        "name": "verifySignedReading",
        "stateMutability": "view",
        "inputs": [
            {"name": "reading", "type": "tuple", "components": [
                {"name": n, "type": t} for n, t in (
                    ("deviceId", "bytes32"), ("sequence", "uint64"), ("timestamp", "uint64"), ("metric", "string"),
                    ("value", "int256"), ("scale", "int8"), ("unit", "string"), ("payloadHash", "bytes32"))]},
            {"name": "signature", "type": "bytes"},
        ],
        "outputs": [{"name": "", "type": "bool"}],
    },
]  # fmt: skip


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str


def _b(text: str) -> bytes:
    return bytes(HexBytes(text))


def _reading(bundle: dict[str, Any]) -> Reading:
    message = bundle["eip712"]["message"]
    return Reading(
        device_id=_b(message["deviceId"]),
        sequence=int(message["sequence"]),
        timestamp=int(message["timestamp"]),
        metric=str(message["metric"]),
        value=int(message["value"]),
        scale=int(message["scale"]),
        unit=str(message["unit"]),
        payload_hash=_b(message["payloadHash"]),
    )


def offline_checks(bundle: dict[str, Any]) -> Iterator[Check]:
    """Checks that need nothing but the bundle. Stops at the first failure of a check later ones build on."""
    fmt = bundle.get("format")
    yield Check("format", fmt == PROOF_FORMAT, f"{fmt}")
    try:
        reading = _reading(bundle)
        domain_json = bundle["eip712"]["domain"]
        domain = Domain(int(domain_json["chainId"]), str(domain_json["verifyingContract"]))
        digest = reading.digest(domain)
        signature = _b(bundle["reading"]["signature"])
    except (KeyError, TypeError, ValueError) as exc:
        yield Check("reading", False, f"the bundle's reading is malformed: {exc}")
        return
    same_fields = all(bundle["reading"].get(k) == v for k, v in reading.message().items())
    yield Check("reading", same_fields, "the reading matches its EIP-712 message" if same_fields else "they differ")
    ok = "0x" + digest.hex() == bundle.get("digest")
    yield Check("digest", ok, f"EIP-712 digest 0x{digest.hex()}" + ("" if ok else f" != {bundle.get('digest')}"))
    try:
        key = PublicKey.from_json(bundle["key"])
        signed = key.verify(digest, signature)
        detail = f"{key.key_type.label} key {key.to_json().get('address') or key.to_json()['x']}"
    except (KeyError, TypeError, KeyError_) as exc:
        signed, detail = False, f"no usable signing key in the bundle: {exc}"
    yield Check("signature", signed, detail if signed else f"not a valid signature by the {detail}")
    leaf = reading_leaf(digest, signature)
    values_ok = ["0x" + v.hex() for v in leaf_values(digest, signature)] == bundle["leaf"]["values"]
    leaf_ok = values_ok and "0x" + leaf.hex() == bundle["leaf"]["hash"] == bundle.get("reading_id")
    yield Check("leaf", leaf_ok, f"leaf 0x{leaf.hex()}" + ("" if leaf_ok else " does not match the bundle"))
    root = process_proof(leaf, [_b(p) for p in bundle["merkle"]["proof"]])
    path_ok = "0x" + root.hex() == bundle["merkle"]["root"]
    yield Check("merkle-path", path_ok, f"{len(bundle['merkle']['proof'])} siblings lead to 0x{root.hex()}")


def chain_checks(bundle: dict[str, Any], rpc_url: str, min_confirmations: int, call: bool) -> Iterator[Check]:
    """Checks against a chain: the anchor transaction, its block and event, depth, and contract calls."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    anchor = bundle["anchor"]
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:  # noqa: BLE001 - any connection failure is a failed check
        yield Check("chain", False, f"no answer from {rpc_url}: {exc}")
        return
    yield Check("chain-id", chain_id == anchor["chain_id"], f"chain {chain_id}, bundle says {anchor['chain_id']}")
    try:
        receipt = w3.eth.get_transaction_receipt(anchor["transaction_hash"])
    except Exception as exc:  # noqa: BLE001
        yield Check("transaction", False, f"{anchor['transaction_hash']} not found: {exc}")
        return
    in_block = (
        receipt["status"] == 1
        and int(receipt["blockNumber"]) == anchor["block_number"]
        and HexBytes(receipt["blockHash"]).to_0x_hex() == anchor["block_hash"]
    )
    yield Check(
        "transaction",
        in_block,
        f"mined in block {receipt['blockNumber']} ({HexBytes(receipt['blockHash']).to_0x_hex()})",
    )
    root = _b(bundle["merkle"]["root"])
    notary = to_checksum_address(anchor["notary"])
    events = [
        entry
        for entry in receipt["logs"]
        if entry["address"] == notary
        and len(entry["topics"]) >= 3
        and bytes(entry["topics"][0]) == BATCH_ANCHORED_TOPIC
        and bytes(entry["topics"][2]) == root
    ]
    event_ok = bool(events) and int.from_bytes(bytes(events[0]["topics"][1]), "big") == anchor["batch_id"]
    yield Check(
        "anchor-event",
        event_ok,
        f"BatchAnchored(batch {anchor['batch_id']}, root {bundle['merkle']['root']}) by {notary}",
    )
    depth = int(w3.eth.block_number) - int(receipt["blockNumber"]) + 1
    yield Check("confirmations", depth >= min_confirmations, f"{depth} confirmations (need {min_confirmations})")
    if not call:
        return
    notary_contract = w3.eth.contract(address=notary, abi=_ABI)
    proof = [_b(p) for p in bundle["merkle"]["proof"]]
    leaf = _b(bundle["leaf"]["hash"])
    yield _call(
        "notary-verify", "DataNotary.verify", lambda: notary_contract.functions.verify(root, leaf, proof).call()
    )
    registry = w3.eth.contract(address=to_checksum_address(anchor["registry"]), abi=_ABI)
    reading = _reading(bundle)
    signature = _b(bundle["reading"]["signature"])
    yield _call(
        "registry-verify",
        "DeviceRegistry.verifySignedReading",
        lambda: registry.functions.verifySignedReading(reading.as_tuple(), signature).call(),
    )


def _call(name: str, what: str, run: Callable[[], Any]) -> Check:
    try:
        return Check(name, bool(run()), what)
    except Exception as exc:  # noqa: BLE001 - a failed call is a failed check
        return Check(name, False, f"{what} failed: {exc}")


def verify_bundle(
    bundle: dict[str, Any], rpc_url: str | None, min_confirmations: int = 1, call: bool = True
) -> list[Check]:
    """Every check, offline first; the chain checks run only when the offline ones pass."""
    checks = list(offline_checks(bundle))
    if rpc_url and all(c.ok for c in checks):
        checks.extend(chain_checks(bundle, rpc_url, min_confirmations, call))
    return checks
