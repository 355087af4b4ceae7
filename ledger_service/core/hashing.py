"""keccak256 straight on pycryptodome: the hash on ingest's hot path (digests, leaves, addresses)."""

from __future__ import annotations

from Crypto.Hash import keccak as _keccak


def keccak256(data: bytes) -> bytes:
    """keccak256 of `data` (Ethereum's hash, not SHA3-256)."""
    return _keccak.new(data=data, digest_bits=256).digest()
