"""BLS signatures over BN254 as `contracts/BN254.sol` checks them, computed with py_ecc.

Signatures and the first half of each key are G1 points, the second half of each key a G2
point. Messages map to G1 by the same try-and-increment as the contract: x = keccak256(domain ||
message) mod p, then x + 1, ... until x^3 + 3 is a square, y = (x^3 + 3)^((p + 1) / 4).
Aggregation is point addition: the sum of signatures verifies under the sum of keys.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import py_ecc.optimized_bn128 as curve
from eth_utils import keccak

P: int = curve.field_modulus
R: int = curve.curve_order

#: Domains of the two messages the contract hashes to G1 (its BLS_REPORT_DOMAIN, BLS_POP_DOMAIN).
REPORT_DOMAIN = keccak(b"provenance-ledger/bls/report/v1")
POP_DOMAIN = keccak(b"provenance-ledger/bls/pop/v1")

G1Affine = tuple[int, int]
#: A G2 point in the precompile's order: ((x imaginary, x real), (y imaginary, y real)).
G2Affine = tuple[tuple[int, int], tuple[int, int]]

_SQRT_EXPONENT = (P + 1) // 4


def hash_to_g1(domain: bytes, message: bytes) -> G1Affine:
    """The G1 point `message` maps to under `domain` (both 32 bytes), as the contract computes it."""
    if len(domain) != 32 or len(message) != 32:
        raise ValueError("domain and message are 32 bytes each")
    x = int.from_bytes(keccak(domain + message), "big") % P
    while True:
        y2 = (x * x * x + 3) % P
        y = pow(y2, _SQRT_EXPONENT, P)
        if y * y % P == y2:
            return (x, y)
        x = (x + 1) % P


def _g1(point: G1Affine) -> Any:
    return (curve.FQ(point[0]), curve.FQ(point[1]), curve.FQ.one())


def _affine_g1(point: Any) -> G1Affine:
    if curve.is_inf(point):
        return (0, 0)
    x, y = curve.normalize(point)
    return (int(x.n), int(y.n))


def _affine_g2(point: Any) -> G2Affine:
    x, y = curve.normalize(point)
    return ((int(x.coeffs[1]), int(x.coeffs[0])), (int(y.coeffs[1]), int(y.coeffs[0])))


def _g2(point: G2Affine) -> Any:
    (x_im, x_re), (y_im, y_re) = point
    return (curve.FQ2([x_re, x_im]), curve.FQ2([y_re, y_im]), curve.FQ2.one())


@dataclass(frozen=True)
class BlsKey:
    """A BLS key pair: the secret and both halves of the public key."""

    secret: int
    public_g1: G1Affine
    public_g2: G2Affine

    @classmethod
    def generate(cls) -> BlsKey:
        """A new random key."""
        return cls.from_secret(secrets.randbelow(R - 1) + 1)

    @classmethod
    def from_secret(cls, secret: int) -> BlsKey:
        """The key pair of `secret` (1 <= secret < r)."""
        if not 0 < secret < R:
            raise ValueError("a BLS secret is between 1 and the group order")
        return cls(
            secret,
            _affine_g1(curve.multiply(curve.G1, secret)),
            _affine_g2(curve.multiply(curve.G2, secret)),
        )

    def sign(self, domain: bytes, message: bytes) -> G1Affine:
        """The signature of `message` under `domain`."""
        return _affine_g1(curve.multiply(_g1(hash_to_g1(domain, message)), self.secret))

    def proof_of_possession(self, pop_message: bytes) -> G1Affine:
        """The signature of the contract's `popMessage(signer, key)` that registration asks for."""
        return self.sign(POP_DOMAIN, pop_message)


def aggregate_g1(points: Iterable[G1Affine]) -> G1Affine:
    """The sum of G1 points (signatures, or keys' first halves)."""
    total = curve.Z1
    for point in points:
        total = curve.add(total, _g1(point))
    return _affine_g1(total)


def aggregate_g2(points: Iterable[G2Affine]) -> G2Affine:
    """The sum of G2 points (keys' second halves)."""
    total = curve.Z2
    for point in points:
        total = curve.add(total, _g2(point))
    if curve.is_inf(total):
        raise ValueError("the keys add up to the point at infinity")
    return _affine_g2(total)


def verify(domain: bytes, message: bytes, public_g2: G2Affine, signature: G1Affine) -> bool:
    """Checks a signature off chain with a pairing (slow in pure Python: about a second)."""
    point = hash_to_g1(domain, message)
    return curve.pairing(_g2(public_g2), _g1(point)) == curve.pairing(curve.G2, _g1(signature))


def g1_tuple(point: G1Affine) -> tuple[int, int]:
    """`BN254.G1Point` for a contract call."""
    return (point[0], point[1])


def g2_tuple(point: G2Affine) -> tuple[list[int], list[int]]:
    """`BN254.G2Point` for a contract call."""
    return ([point[0][0], point[0][1]], [point[1][0], point[1][1]])


def encode_key(key: BlsKey) -> bytes:
    """The 192-byte public key as the contract's `CommitteeMemberAdded` event carries it."""
    words = [*key.public_g1, *key.public_g2[0], *key.public_g2[1]]
    return b"".join(w.to_bytes(32, "big") for w in words)


def decode_key(data: bytes) -> tuple[G1Affine, G2Affine]:
    """The two halves of a public key from its 192-byte encoding."""
    if len(data) != 192:
        raise ValueError("a BLS public key is 192 bytes")
    w = [int.from_bytes(data[i : i + 32], "big") for i in range(0, 192, 32)]
    return (w[0], w[1]), ((w[2], w[3]), (w[4], w[5]))


#: The G2 generator negated, in the precompile's order (as `BN254.sol` has it).
NEG_G2: G2Affine = (
    (
        11559732032986387107991004021392285783925812861821192530917403151452391805634,
        10857046999023057135944570762232829481370756359578518086990519993285655852781,
    ),
    (
        17805874995975841540914202342111839520379459829704422454583296818431106115052,
        13392588948715843804641432497768002650278120570034223513918757245338268106653,
    ),
)
_PAIRING = "0x0000000000000000000000000000000000000008"


def pairing_input(domain: bytes, message: bytes, public_g2: G2Affine, signature: G1Affine) -> bytes:
    """The ecPairing precompile's input for e(signature, -g2) * e(H(message), key) == 1."""
    point = hash_to_g1(domain, message)
    words = [
        *signature, *NEG_G2[0], *NEG_G2[1],
        *point, *public_g2[0], *public_g2[1],
    ]  # fmt: skip
    return b"".join(w.to_bytes(32, "big") for w in words)


def verify_with_precompile(call: Any, domain: bytes, message: bytes, public_g2: G2Affine, signature: G1Affine) -> bool:
    """Checks a signature with the chain's pairing precompile (milliseconds, where `verify` takes
    seconds): `call` is `w3.eth.call`."""
    if any(not 0 <= c < P for c in signature):
        return False
    try:
        out = bytes(call({"to": _PAIRING, "data": "0x" + pairing_input(domain, message, public_g2, signature).hex()}))
    except Exception:  # noqa: BLE001 - the precompile fails on points off the curve: not a valid signature
        return False
    return len(out) == 32 and int.from_bytes(out, "big") == 1
