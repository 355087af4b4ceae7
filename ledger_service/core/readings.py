"""Signed sensor readings: EIP-712 typed data, digests, signatures and Merkle leaves.

A device signs the EIP-712 digest of a `Reading` under the domain of the `DeviceRegistry`
contract. The reading's Merkle leaf commits to both the digest and the signature, so an anchored
root proves what was signed and by which signature. See docs/proof-format.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from ledger_service.core.hashing import keccak256

DOMAIN_NAME = "ProvenanceLedger"
DOMAIN_VERSION = "1"
READING_TYPE = (
    "Reading(bytes32 deviceId,uint64 sequence,uint64 timestamp,string metric,"
    "int256 value,int8 scale,string unit,bytes32 payloadHash)"
)
READING_TYPEHASH = keccak(text=READING_TYPE)
DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
LEAF_TYPES = ("bytes32", "bytes32")
ZERO_HASH = b"\x00" * 32
#: The metric of an edge gateway's root reading: value the leaf count, payloadHash the root (docs/edge.md).
GATEWAY_ROOT_METRIC = "edge.root"
#: The registry metadata model that makes a device an edge gateway: only such a device may publish roots.
GATEWAY_MODEL = "provenance-edge-gateway"

EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Reading": [
        {"name": "deviceId", "type": "bytes32"},
        {"name": "sequence", "type": "uint64"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "metric", "type": "string"},
        {"name": "value", "type": "int256"},
        {"name": "scale", "type": "int8"},
        {"name": "unit", "type": "string"},
        {"name": "payloadHash", "type": "bytes32"},
    ],
}


@lru_cache(maxsize=4096)
def _string_hash(text: str) -> bytes:
    """keccak256 of a string member; metric and unit names repeat, so they are cached."""
    return keccak256(text.encode())


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain readings are signed under: the DeviceRegistry on one chain."""

    chain_id: int
    verifying_contract: str

    @cached_property
    def separator(self) -> bytes:
        """The domain separator."""
        return keccak(
            encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    DOMAIN_TYPEHASH,
                    keccak(text=DOMAIN_NAME),
                    keccak(text=DOMAIN_VERSION),
                    self.chain_id,
                    to_checksum_address(self.verifying_contract),
                ],
            )
        )

    def as_dict(self) -> dict[str, Any]:
        """The domain as EIP-712 JSON (a fresh copy; the checksummed address is computed once)."""
        return dict(self._as_dict)

    @cached_property
    def _as_dict(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True)
class Reading:
    """A sensor reading. `value` is fixed-point: the measured quantity is value / 10**scale."""

    device_id: bytes
    sequence: int
    timestamp: int
    metric: str
    value: int
    scale: int
    unit: str
    payload_hash: bytes = ZERO_HASH

    def struct_hash(self) -> bytes:
        """EIP-712 hashStruct of the reading (every member is one 32-byte word)."""
        return keccak256(
            READING_TYPEHASH
            + self.device_id
            + self.sequence.to_bytes(32, "big")
            + self.timestamp.to_bytes(32, "big")
            + _string_hash(self.metric)
            + self.value.to_bytes(32, "big", signed=True)
            + self.scale.to_bytes(32, "big", signed=True)
            + _string_hash(self.unit)
            + self.payload_hash
        )

    def digest(self, domain: Domain) -> bytes:
        """The EIP-712 digest the device signs."""
        return keccak256(b"\x19\x01" + domain.separator + self.struct_hash())

    def message(self) -> dict[str, Any]:
        """The reading as the EIP-712 `message` object."""
        return {
            "deviceId": "0x" + self.device_id.hex(),
            "sequence": self.sequence,
            "timestamp": self.timestamp,
            "metric": self.metric,
            "value": self.value,
            "scale": self.scale,
            "unit": self.unit,
            "payloadHash": "0x" + self.payload_hash.hex(),
        }

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        """The full EIP-712 typed-data document, as wallets and eth-account take it."""
        return {"types": EIP712_TYPES, "primaryType": "Reading", "domain": domain.as_dict(), "message": self.message()}

    def as_tuple(self) -> tuple[bytes, int, int, str, int, int, str, bytes]:
        """The reading as the Solidity `DeviceRegistry.Reading` struct tuple."""
        return (
            self.device_id,
            self.sequence,
            self.timestamp,
            self.metric,
            self.value,
            self.scale,
            self.unit,
            self.payload_hash,
        )


def leaf_values(digest: bytes, signature: bytes) -> list[bytes]:
    """The values hashed into a reading's leaf, typed as `LEAF_TYPES`: the digest and keccak(signature)."""
    return [digest, keccak256(signature)]


def reading_leaf(digest: bytes, signature: bytes) -> bytes:
    """The Merkle leaf of a signed reading; it is also the reading's id.

    This is `merkle.leaf_hash(LEAF_TYPES, leaf_values(...))`: abi.encode of two bytes32 values is
    their concatenation, so the hot path hashes the bytes directly.
    """
    return keccak256(keccak256(digest + keccak256(signature)))
