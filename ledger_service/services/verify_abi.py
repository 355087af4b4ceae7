"""The contract functions and the event a verifier needs, written out: `provenance verify` runs with
no compiled artifacts, as a third party's verifier would (docs/proof-format.md)."""

from __future__ import annotations

from typing import Any

from ledger_service.core.log_leaf import BATCH_ANCHORED_TOPIC

__all__ = ["BATCH_ANCHORED_TOPIC", "NOTARY_ABI", "REGISTRY_ABI"]


def _fn(name: str, inputs: list[tuple[str, str]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "function", "name": name, "stateMutability": "view",
            "inputs": [{"name": n, "type": t} for n, t in inputs], "outputs": outputs}  # fmt: skip


_READING = {"name": "reading", "type": "tuple", "components": [
    {"name": n, "type": t} for n, t in (
        ("deviceId", "bytes32"), ("sequence", "uint64"), ("timestamp", "uint64"), ("metric", "string"),
        ("value", "int256"), ("scale", "int8"), ("unit", "string"), ("payloadHash", "bytes32"))]}  # fmt: skip
_KEY_RECORD = {"name": "", "type": "tuple", "components": [
    {"name": "key", "type": "tuple", "components": [
        {"name": "keyType", "type": "uint8"}, {"name": "signer", "type": "address"},
        {"name": "x", "type": "bytes32"}, {"name": "y", "type": "bytes32"}]},
    {"name": "validFrom", "type": "uint64"}, {"name": "validFromBlock", "type": "uint64"},
    {"name": "validUntil", "type": "uint64"}, {"name": "validUntilBlock", "type": "uint64"}]}  # fmt: skip
_BOOL = [{"name": "", "type": "bool"}]
NOTARY_ABI = [
    _fn("logHead", [], [{"name": "size", "type": "uint256"}, {"name": "root", "type": "bytes32"}]),
    {
        "type": "event",
        "name": "BatchAnchored",
        "anonymous": False,
        "inputs": [
            {"name": n, "type": t, "indexed": i}
            for n, t, i in (
                ("batchId", "uint256", True),
                ("root", "bytes32", True),
                ("anchorer", "address", True),
                ("readingCount", "uint64", False),
                ("firstTimestamp", "uint64", False),
                ("lastTimestamp", "uint64", False),
                ("contentId", "string", False),
            )
        ],
    },
]
REGISTRY_ABI = [
    {**_fn("verifySignedReading", [("signature", "bytes")], _BOOL),
     "inputs": [_READING, {"name": "signature", "type": "bytes"}]},
    _fn("keyCount", [("deviceId", "bytes32")], [{"name": "", "type": "uint256"}]),
    _fn("getKey", [("deviceId", "bytes32"), ("index", "uint256")], [_KEY_RECORD]),
    _fn("getDevice", [("deviceId", "bytes32")], [{"name": "", "type": "tuple", "components": [
        {"name": "owner", "type": "address"}, {"name": "status", "type": "uint8"},
        {"name": "registeredAt", "type": "uint64"},
        {"name": "metadata", "type": "tuple", "components": [
            {"name": "model", "type": "string"}, {"name": "firmwareHash", "type": "bytes32"},
            {"name": "metadataCid", "type": "string"}]}]}]),
    _fn("verifyReadingAt", [("deviceId", "bytes32"), ("digest", "bytes32"), ("signature", "bytes"),
                            ("timestamp", "uint64")], _BOOL),
]  # fmt: skip
