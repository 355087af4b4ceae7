"""A device's key: secp256k1 (Ethereum) or P-256 (secure elements, TPMs), its key file, its signatures.

Key files are the service's format (`provenance device keygen` writes the same): JSON with `type`
(`secp256k1` or `p256`), `private_key` (0x + 64 hex digits) and `public` ({type, address} or
{type, x, y}), readable by the owner only. Signatures have a low s, as the contracts require:
secp256k1 is 65 bytes r ‖ s ‖ v (v 27 or 28), P-256 is 64 bytes r ‖ s.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import coincurve
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from provenance_device.keccak import keccak256

SECP256K1 = "secp256k1"
P256 = "p256"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


class InvalidKey(ValueError):
    """A key file or key that cannot be used."""


def _key_type(text: str) -> str:
    name = str(text).lower().replace("-", "")
    if name not in (SECP256K1, P256):
        raise InvalidKey(f"unknown key type {text!r}: use secp256k1 or p256")
    return name


@dataclass(frozen=True)
class DeviceKey:
    """A private key of either type, able to sign 32-byte digests."""

    key_type: str
    secret: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_type", _key_type(self.key_type))
        order = SECP256K1_N if self.key_type == SECP256K1 else P256_N
        if not 0 < self.secret < order:
            raise InvalidKey("the private key is out of the curve's range")

    @classmethod
    def generate(cls, key_type: str = SECP256K1) -> DeviceKey:
        """A new random key."""
        if _key_type(key_type) == P256:
            return cls(P256, ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value)
        while True:
            secret = int.from_bytes(os.urandom(32), "big")
            if 0 < secret < SECP256K1_N:
                return cls(SECP256K1, secret)

    @cached_property
    def _secp256k1(self) -> coincurve.PrivateKey:
        return coincurve.PrivateKey(self.secret.to_bytes(32, "big"))

    @cached_property
    def _p256(self) -> ec.EllipticCurvePrivateKey:
        return ec.derive_private_key(self.secret, ec.SECP256R1())

    @cached_property
    def public(self) -> dict[str, str]:
        """The public key as the service's JSON: {type, address} or {type, x, y}."""
        if self.key_type == SECP256K1:
            point = self._secp256k1.public_key.format(compressed=False)[1:]
            return {"type": SECP256K1, "address": "0x" + keccak256(point)[12:].hex()}
        numbers = self._p256.public_key().public_numbers()
        return {"type": P256, "x": f"0x{numbers.x:064x}", "y": f"0x{numbers.y:064x}"}

    @property
    def default_device_id(self) -> bytes:
        """The id the registry gives the device when none is chosen: the address left-padded to 32
        bytes (secp256k1), or keccak256(x ‖ y) of the point (P-256)."""
        if self.key_type == SECP256K1:
            return bytes(12) + bytes.fromhex(self.public["address"][2:])
        return keccak256(bytes.fromhex(self.public["x"][2:]) + bytes.fromhex(self.public["y"][2:]))

    def sign(self, digest: bytes) -> bytes:
        """A low-s signature over the 32-byte `digest`."""
        if len(digest) != 32:
            raise InvalidKey("the digest must be 32 bytes")
        if self.key_type == SECP256K1:
            compact = self._secp256k1.sign_recoverable(digest, hasher=None)  # libsecp256k1 gives a low s
            return compact[:64] + bytes([compact[64] + 27])
        r, s = decode_dss_signature(self._p256.sign(digest, _PREHASHED))
        if s > P256_N // 2:
            s = P256_N - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def to_json(self) -> dict[str, Any]:
        """The key file's content."""
        return {"type": self.key_type, "private_key": f"0x{self.secret:064x}", "public": self.public}

    def save(self, path: Path) -> None:
        """Writes the key file, readable by its owner only; never overwrites one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.to_json(), handle, indent=2)
            handle.write("\n")

    @classmethod
    def load(cls, path: Path) -> DeviceKey:
        """Reads a key file; refuses one whose public key is not its private key's."""
        try:
            data = json.loads(Path(path).read_text())
            key = cls(data["type"], int(data["private_key"], 16))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidKey(f"{path}: not a device key file ({exc})") from exc
        stated = data.get("public")
        if stated and {k: str(v).lower() for k, v in stated.items()} != key.public:
            raise InvalidKey(f"{path}: the public key does not match the private key")
        return key
