"""The EIP-712 `Reading` a device signs, and the JSON body that carries it (`POST /v1/readings`, MQTT).

The encoding is the service's (ledger_service/core/readings.py, docs/proof-format.md); it is written
again here so that a device needs neither eth-abi nor the service. tests/unit/test_device_library.py
checks both give the same digest for random readings.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from provenance_device.keccak import keccak256

READING_TYPE = (
    b"Reading(bytes32 deviceId,uint64 sequence,uint64 timestamp,string metric,"
    b"int256 value,int8 scale,string unit,bytes32 payloadHash)"
)
DOMAIN_TYPE = b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
DOMAIN_NAME = b"ProvenanceLedger"
DOMAIN_VERSION = b"1"
ZERO_HASH = b"\x00" * 32
INT256_MIN, INT256_MAX = -(2**255), 2**255 - 1
UINT63_MAX = 2**63 - 1


class InvalidReading(ValueError):
    """A reading or domain the service would refuse; nothing is signed."""


def _word(value: int, signed: bool = False) -> bytes:
    return value.to_bytes(32, "big", signed=signed)


def hex_bytes(text: str, size: int, what: str) -> bytes:
    """`0x` + 2*size hex digits as bytes."""
    if not isinstance(text, str) or not text.startswith("0x") or len(text) != 2 + 2 * size:
        raise InvalidReading(f"{what} must be 0x + {2 * size} hex digits")
    try:
        return bytes.fromhex(text[2:])
    except ValueError as exc:
        raise InvalidReading(f"{what} must be 0x + {2 * size} hex digits") from exc


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain: the DeviceRegistry contract on one chain (`GET /v1/domain` names both)."""

    chain_id: int
    verifying_contract: str

    def __post_init__(self) -> None:
        hex_bytes(self.verifying_contract, 20, "verifying_contract")
        if not 0 < self.chain_id < 2**256:
            raise InvalidReading("chain_id must be a positive uint256")

    @classmethod
    def fetch(cls, api_url: str, timeout: float = 10.0) -> Domain:
        """The domain the service at `api_url` takes readings under (its `GET /health`)."""
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as response:
            health = json.load(response)
        return cls(int(health["chain_id"]), str(health["contracts"]["DeviceRegistry"]))

    @cached_property
    def separator(self) -> bytes:
        """The domain separator."""
        contract = hex_bytes(self.verifying_contract, 20, "verifying_contract")
        return keccak256(
            keccak256(DOMAIN_TYPE)
            + keccak256(DOMAIN_NAME)
            + keccak256(DOMAIN_VERSION)
            + _word(self.chain_id)
            + contract.rjust(32, b"\x00")
        )


@dataclass(frozen=True)
class Reading:
    """One sensor reading; the measured quantity is value / 10**scale."""

    device_id: bytes
    sequence: int
    timestamp: int
    metric: str
    value: int
    scale: int = 0
    unit: str = ""
    payload_hash: bytes = field(default=ZERO_HASH)

    def __post_init__(self) -> None:
        checks = (
            (len(self.device_id) == 32, "device_id is 32 bytes"),
            (0 <= self.sequence <= UINT63_MAX, "sequence is 0 to 2^63-1"),
            (0 <= self.timestamp <= UINT63_MAX, "timestamp is 0 to 2^63-1 (Unix seconds)"),
            (1 <= len(self.metric) <= 64, "metric is 1 to 64 characters"),
            (INT256_MIN <= self.value <= INT256_MAX, "value fits an int256"),
            (-128 <= self.scale <= 127, "scale fits an int8"),
            (len(self.unit) <= 32, "unit is at most 32 characters"),
            (len(self.payload_hash) == 32, "payload_hash is 32 bytes"),
        )
        for ok, rule in checks:
            if not ok:
                raise InvalidReading(rule)

    def struct_hash(self) -> bytes:
        """EIP-712 hashStruct of the reading."""
        return keccak256(
            keccak256(READING_TYPE)
            + self.device_id
            + _word(self.sequence)
            + _word(self.timestamp)
            + keccak256(self.metric.encode())
            + _word(self.value, signed=True)
            + _word(self.scale, signed=True)
            + keccak256(self.unit.encode())
            + self.payload_hash
        )

    def digest(self, domain: Domain) -> bytes:
        """The 32-byte EIP-712 digest the device signs."""
        return keccak256(b"\x19\x01" + domain.separator + self.struct_hash())

    def body(self, signature: bytes) -> dict[str, Any]:
        """The reading with its signature as the JSON body the service takes."""
        return {
            "device_id": "0x" + self.device_id.hex(),
            "sequence": self.sequence,
            "timestamp": self.timestamp,
            "metric": self.metric,
            "value": self.value,
            "scale": self.scale,
            "unit": self.unit,
            "payload_hash": "0x" + self.payload_hash.hex(),
            "signature": "0x" + signature.hex(),
        }

    def reading_id(self, domain: Domain, signature: bytes) -> str:
        """The id the service gives this reading signed with `signature`: its Merkle leaf,
        keccak256(keccak256(digest ‖ keccak256(signature))), as 0x-hex (docs/proof-format.md)."""
        return "0x" + keccak256(keccak256(self.digest(domain) + keccak256(signature))).hex()

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Reading:
        """The reading a JSON body carries (its signature aside)."""
        try:
            return cls(
                device_id=hex_bytes(body["device_id"], 32, "device_id"),
                sequence=int(body["sequence"]),
                timestamp=int(body["timestamp"]),
                metric=str(body["metric"]),
                value=int(body["value"]),
                scale=int(body.get("scale", 0)),
                unit=str(body.get("unit", "")),
                payload_hash=hex_bytes(body.get("payload_hash", "0x" + ZERO_HASH.hex()), 32, "payload_hash"),
            )
        except (KeyError, TypeError) as exc:
            raise InvalidReading(f"not a reading body: {exc}") from exc
