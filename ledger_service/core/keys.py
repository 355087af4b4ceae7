"""Device keys: secp256k1 (Ethereum) and P-256 (secp256r1, as in secure elements and TPMs).

Both sign the same 32-byte EIP-712 digest. secp256k1 signatures are 65 bytes r ‖ s ‖ v with
v in {27, 28}; P-256 signatures are 64 bytes r ‖ s. Both must have a low s (s <= n/2): the
contracts refuse the other half, so the service refuses it too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import coincurve
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature
from eth_utils import is_address, keccak, to_checksum_address

from ledger_service.core.enums import KeyType
from ledger_service.core.hashing import keccak256

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


class KeyError_(ValueError):
    """A key or signature is malformed."""


def _low_s(s: int, n: int) -> bool:
    return 0 < s <= n // 2


@dataclass(frozen=True)
class PublicKey:
    """A device's public key: an address for secp256k1, a point (x, y) for P-256."""

    key_type: KeyType
    signer: str | None = None
    x: int | None = None
    y: int | None = None

    def __post_init__(self) -> None:
        if self.key_type is KeyType.SECP256K1:
            if not self.signer or not is_address(self.signer) or int(self.signer, 16) == 0:
                raise KeyError_("a secp256k1 key is a non-zero 20-byte address")
            if self.x is not None or self.y is not None:
                raise KeyError_("a secp256k1 key has no x or y")
            object.__setattr__(self, "signer", to_checksum_address(self.signer))
        elif self.key_type is KeyType.P256:
            if self.signer is not None or self.x is None or self.y is None:
                raise KeyError_("a P-256 key is a point (x, y) and has no signer address")
            try:
                ec.EllipticCurvePublicNumbers(self.x, self.y, ec.SECP256R1()).public_key()
            except ValueError as exc:
                raise KeyError_("the point (x, y) is not on the P-256 curve") from exc
        else:  # pragma: no cover - the enum has no other members
            raise KeyError_(f"unknown key type {self.key_type}")

    @cached_property
    def _p256(self) -> ec.EllipticCurvePublicKey:
        assert self.x is not None and self.y is not None
        return ec.EllipticCurvePublicNumbers(self.x, self.y, ec.SECP256R1()).public_key()

    @cached_property
    def _signer_bytes(self) -> bytes:
        assert self.signer is not None
        return bytes.fromhex(self.signer[2:])

    def verify(self, digest: bytes, signature: bytes) -> bool:
        """True when `signature` over `digest` is by this key, in the form the contracts accept."""
        if self.key_type is KeyType.SECP256K1:
            return recover_secp256k1(digest, signature) == self._signer_bytes
        return verify_p256(self._p256, digest, signature)

    def as_tuple(self) -> tuple[int, str, bytes, bytes]:
        """The key as the `DeviceRegistry.PublicKey` struct tuple."""
        return (
            int(self.key_type),
            self.signer or "0x" + "00" * 20,
            (self.x or 0).to_bytes(32, "big"),
            (self.y or 0).to_bytes(32, "big"),
        )

    @classmethod
    def from_tuple(cls, value: Any) -> PublicKey:
        """The key from a `DeviceRegistry.PublicKey` struct: a tuple (calls) or a mapping (events)."""
        if isinstance(value, Mapping):
            value = (value["keyType"], value["signer"], value["x"], value["y"])
        key_type = KeyType(int(value[0]))
        if key_type is KeyType.SECP256K1:
            return cls(key_type, signer=str(value[1]))
        return cls(key_type, x=int.from_bytes(value[2], "big"), y=int.from_bytes(value[3], "big"))

    def to_json(self) -> dict[str, Any]:
        """The key as JSON: {type, address} or {type, x, y} with 0x-hex coordinates."""
        if self.key_type is KeyType.SECP256K1:
            return {"type": self.key_type.label, "address": self.signer}
        return {"type": self.key_type.label, "x": f"0x{self.x:064x}", "y": f"0x{self.y:064x}"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PublicKey:
        """The key from its JSON form."""
        key_type = KeyType.parse(str(data.get("type", "")))
        if key_type is KeyType.SECP256K1:
            return cls(key_type, signer=str(data.get("address", "")))
        try:
            return cls(key_type, x=_coordinate(data.get("x")), y=_coordinate(data.get("y")))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, KeyError_):
                raise
            raise KeyError_(f"P-256 coordinates are 0x + 64 hex digits: {exc}") from exc


def _coordinate(value: Any) -> int:
    text = str(value)
    if not text.startswith("0x") or len(text) != 66:
        raise KeyError_("P-256 coordinates are 0x + 64 hex digits")
    return int(text, 16)


def recover_secp256k1(digest: bytes, signature: bytes) -> bytes | None:
    """The 20-byte address that made a 65-byte (r, s, v) signature over `digest`, or None."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    s = int.from_bytes(signature[32:64], "big")
    if not _low_s(s, SECP256K1_N) or int.from_bytes(signature[:32], "big") == 0:
        return None
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([signature[64] - 27]), digest, hasher=None
        )
    except ValueError:
        return None
    return keccak256(public.format(compressed=False)[1:])[12:]


def verify_p256(public: ec.EllipticCurvePublicKey, digest: bytes, signature: bytes) -> bool:
    """True when a 64-byte (r, s) P-256 signature over `digest` is by `public`, with a low s."""
    if len(signature) != 64:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < P256_N) or not _low_s(s, P256_N):
        return False
    try:
        public.verify(encode_dss_signature(r, s), digest, _PREHASHED)
    except CryptoInvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class DeviceKey:
    """A device's private key, able to sign reading digests."""

    key_type: KeyType
    secret: int

    @classmethod
    def generate(cls, key_type: KeyType) -> DeviceKey:
        """A new random key."""
        if key_type is KeyType.SECP256K1:
            while True:
                secret = int.from_bytes(os.urandom(32), "big")
                if 0 < secret < SECP256K1_N:
                    return cls(key_type, secret)
        private = ec.generate_private_key(ec.SECP256R1())
        return cls(key_type, private.private_numbers().private_value)

    @cached_property
    def _p256(self) -> ec.EllipticCurvePrivateKey:
        return ec.derive_private_key(self.secret, ec.SECP256R1())

    @cached_property
    def _secp256k1(self) -> coincurve.PrivateKey:
        return coincurve.PrivateKey(self.secret.to_bytes(32, "big"))

    @cached_property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        if self.key_type is KeyType.SECP256K1:
            point = self._secp256k1.public_key.format(compressed=False)[1:]
            return PublicKey(self.key_type, signer="0x" + keccak(point)[12:].hex())
        numbers = self._p256.public_key().public_numbers()
        return PublicKey(self.key_type, x=numbers.x, y=numbers.y)

    def sign(self, digest: bytes) -> bytes:
        """A signature over `digest` in the form the contracts accept (low s)."""
        if len(digest) != 32:
            raise KeyError_("the digest must be 32 bytes")
        if self.key_type is KeyType.SECP256K1:
            compact = self._secp256k1.sign_recoverable(digest, hasher=None)
            return compact[:64] + bytes([compact[64] + 27])
        r, s = decode_dss_signature(self._p256.sign(digest, _PREHASHED))
        if s > P256_N // 2:
            s = P256_N - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def to_json(self) -> dict[str, Any]:
        """The key file's content: type, private key and public key."""
        return {
            "type": self.key_type.label,
            "private_key": f"0x{self.secret:064x}",
            "public": self.public_key.to_json(),
        }

    def save(self, path: Path) -> None:
        """Writes the key file, readable by its owner only; refuses to overwrite."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.to_json(), handle, indent=2)
            handle.write("\n")

    @classmethod
    def load(cls, path: Path) -> DeviceKey:
        """Reads a key file written by `save`."""
        data = json.loads(path.read_text())
        key = cls(KeyType.parse(data["type"]), int(data["private_key"], 16))
        if data.get("public") and PublicKey.from_json(data["public"]) != key.public_key:
            raise KeyError_(f"{path}: the public key does not match the private key")
        return key
