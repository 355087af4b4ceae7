// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title BN254
 * @notice BLS signatures over the BN254 (alt_bn128) curve with the EIP-196/197 precompiles:
 * signatures and one copy of each public key in G1, the other copy of the key in G2.
 *
 * A signature `sig = sk * H(m)` by keys `pkG1 = sk * g1`, `pkG2 = sk * g2` verifies when
 * `e(sig, g2) == e(H(m), pkG2)`; the same pairing call also checks that `pkG1` and `pkG2` hold one
 * secret (`e(pkG1, g2) == e(g1, pkG2)`), by folding both equations together with a random factor
 * derived from all inputs. Keys of many signers add up in G1 (cheap) and are given in G2 by the
 * caller, so an aggregate signature costs one pairing call of two pairs however many signed.
 *
 * Messages map to G1 by try-and-increment: `x = keccak256(domain, message) mod p`, then `x + 1`,
 * ... until `x^3 + 3` is a square; `y` is its square root `(x^3 + 3)^((p + 1) / 4)`. G1 has
 * cofactor 1, so every curve point is in the group. `oracles/bls.py` does the same off chain.
 */
library BN254 {
    /// @notice The base field's modulus.
    uint256 internal constant P = 21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// @notice The group order.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    // The G2 generator negated, in the precompile's order (x imaginary, x real, y imaginary, y real).
    uint256 private constant NEG_G2_X_IM = 11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 private constant NEG_G2_X_RE = 10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 private constant NEG_G2_Y_IM = 17805874995975841540914202342111839520379459829704422454583296818431106115052;
    uint256 private constant NEG_G2_Y_RE = 13392588948715843804641432497768002650278120570034223513918757245338268106653;

    /// @notice A G1 point in affine coordinates; (0, 0) is the point at infinity.
    struct G1Point {
        uint256 x;
        uint256 y;
    }

    /// @notice A G2 point in the precompile's order: x = x[0] * i + x[1], y = y[0] * i + y[1].
    struct G2Point {
        uint256[2] x;
        uint256[2] y;
    }

    /// @notice A precompile call failed (bad point encoding).
    error BN254PrecompileFailed(uint256 precompile);

    /// @notice The generator of G1.
    function g1() internal pure returns (G1Point memory) {
        return G1Point(1, 2);
    }

    /// @notice Returns `a + b`.
    function add(G1Point memory a, G1Point memory b) internal view returns (G1Point memory sum) {
        uint256[4] memory input = [a.x, a.y, b.x, b.y];
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x06, input, 0x80, sum, 0x40)
        }
        if (!ok) revert BN254PrecompileFailed(6);
    }

    /// @notice Returns `s * a`.
    function mul(G1Point memory a, uint256 s) internal view returns (G1Point memory product) {
        uint256[3] memory input = [a.x, a.y, s];
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x07, input, 0x60, product, 0x40)
        }
        if (!ok) revert BN254PrecompileFailed(7);
    }

    /// @notice Returns `-a`.
    function neg(G1Point memory a) internal pure returns (G1Point memory) {
        if (a.x == 0 && a.y == 0) return a;
        return G1Point(a.x, P - (a.y % P));
    }

    /// @notice Returns true when `a` is on the curve (or the point at infinity).
    function isOnCurve(G1Point memory a) internal pure returns (bool) {
        if (a.x >= P || a.y >= P) return false;
        if (a.x == 0 && a.y == 0) return true;
        return mulmod(a.y, a.y, P) == addmod(mulmod(mulmod(a.x, a.x, P), a.x, P), 3, P);
    }

    /// @notice Maps `message` under `domain` to a point of G1 (see the contract notes).
    function hashToG1(bytes32 domain, bytes32 message) internal view returns (G1Point memory) {
        uint256 x = uint256(keccak256(abi.encodePacked(domain, message))) % P;
        while (true) {
            uint256 y2 = addmod(mulmod(mulmod(x, x, P), x, P), 3, P);
            uint256 y = _sqrtCandidate(y2);
            if (mulmod(y, y, P) == y2) return G1Point(x, y);
            x = addmod(x, 1, P);
        }
        revert BN254PrecompileFailed(0); // unreachable
    }

    /**
     * @notice Returns true when `signature` is a signature of `messagePoint` by the key pair
     * (`pkG1`, `pkG2`) and both halves of the pair hold the same secret.
     */
    function verify(
        G1Point memory messagePoint,
        G1Point memory pkG1,
        G2Point memory pkG2,
        G1Point memory signature
    ) internal view returns (bool) {
        uint256 gamma = uint256(
            keccak256(
                abi.encode(
                    signature.x,
                    signature.y,
                    pkG1.x,
                    pkG1.y,
                    pkG2.x,
                    pkG2.y,
                    messagePoint.x,
                    messagePoint.y
                )
            )
        ) % R;
        G1Point memory left = add(signature, mul(pkG1, gamma));
        G1Point memory right = add(messagePoint, mul(g1(), gamma));
        return _pairing2(left, right, pkG2);
    }

    /// @dev e(left, -g2) * e(right, pkG2) == 1.
    function _pairing2(G1Point memory left, G1Point memory right, G2Point memory pkG2) private view returns (bool) {
        uint256[12] memory input = [
            left.x,
            left.y,
            NEG_G2_X_IM,
            NEG_G2_X_RE,
            NEG_G2_Y_IM,
            NEG_G2_Y_RE,
            right.x,
            right.y,
            pkG2.x[0],
            pkG2.x[1],
            pkG2.y[0],
            pkG2.y[1]
        ];
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, input, 0x180, out, 0x20)
        }
        if (!ok) return false; // a G2 point off the curve or outside the group: not a valid key
        return out[0] == 1;
    }

    /// @dev y2^((p + 1) / 4) mod p through the modexp precompile: the square root when there is one.
    function _sqrtCandidate(uint256 y2) private view returns (uint256 root) {
        bytes memory input = abi.encodePacked(uint256(32), uint256(32), uint256(32), y2, (P + 1) / 4, P);
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x05, add(input, 0x20), mload(input), out, 0x20)
        }
        if (!ok) revert BN254PrecompileFailed(5);
        root = out[0];
    }
}
