"""Keccak-256 (Ethereum's hash, the original Keccak padding, not FIPS 202 SHA3-256) in pure Python.

A device has no pycryptodome or eth-hash to lean on, and Python's hashlib offers only SHA3. Signing
a reading hashes a few hundred bytes, so a plain implementation of Keccak-f[1600] is fast enough
(under half a millisecond per 136-byte block in CPython). Where pycryptodome is installed (a gateway,
the service), `keccak256` uses it instead; `pure_keccak256` is always this module's own.
Checked against pycryptodome in tests/unit/test_device_library.py.
"""

from __future__ import annotations

RATE = 136  # bytes absorbed per permutation for a 256-bit output
_MASK = (1 << 64) - 1

_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip

# Rotation offsets r[x][y], lane index x + 5y
_ROTATIONS = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def _permute(lanes: list[int]) -> None:
    """Keccak-f[1600] on 25 lanes, in place."""
    for constant in _ROUND_CONSTANTS:
        # theta
        columns = [lanes[x] ^ lanes[x + 5] ^ lanes[x + 10] ^ lanes[x + 15] ^ lanes[x + 20] for x in range(5)]
        for x in range(5):
            d = columns[(x - 1) % 5] ^ _rotl(columns[(x + 1) % 5], 1)
            for y in range(0, 25, 5):
                lanes[x + y] ^= d
        # rho and pi
        moved = [0] * 25
        for x in range(5):
            for y in range(5):
                moved[y + 5 * ((2 * x + 3 * y) % 5)] = _rotl(lanes[x + 5 * y], _ROTATIONS[x][y])
        # chi
        for y in range(0, 25, 5):
            row = moved[y : y + 5]
            for x in range(5):
                lanes[x + y] = row[x] ^ ((~row[(x + 1) % 5]) & row[(x + 2) % 5])
        # iota
        lanes[0] ^= constant


def pure_keccak256(data: bytes) -> bytes:
    """The 32-byte Keccak-256 hash of `data`, computed here."""
    padded = bytearray(data)
    padded.append(0x01)
    padded.extend(b"\x00" * (-len(padded) % RATE))
    padded[-1] |= 0x80
    lanes = [0] * 25
    for start in range(0, len(padded), RATE):
        block = padded[start : start + RATE]
        for i in range(RATE // 8):
            lanes[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _permute(lanes)
    return b"".join(lane.to_bytes(8, "little") for lane in lanes[:4])


try:
    from Crypto.Hash import keccak as _fast
except ImportError:  # a device without pycryptodome
    keccak256 = pure_keccak256
else:

    def keccak256(data: bytes) -> bytes:
        """The 32-byte Keccak-256 hash of `data` (pycryptodome's, where it is installed)."""
        return _fast.new(data=data, digest_bits=256).digest()
