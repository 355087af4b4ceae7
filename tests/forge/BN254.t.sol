// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BN254} from "../../contracts/BN254.sol";
import {Base} from "./Base.sol";
import {BlsKeys} from "./BlsKeys.sol";

/// @notice Exposes the BN254 library's functions as external calls.
contract BN254Harness {
    function g1() external pure returns (BN254.G1Point memory) {
        return BN254.g1();
    }

    function add(BN254.G1Point memory a, BN254.G1Point memory b) external view returns (BN254.G1Point memory) {
        return BN254.add(a, b);
    }

    function mul(BN254.G1Point memory a, uint256 s) external view returns (BN254.G1Point memory) {
        return BN254.mul(a, s);
    }

    function neg(BN254.G1Point memory a) external pure returns (BN254.G1Point memory) {
        return BN254.neg(a);
    }

    function isOnCurve(BN254.G1Point memory a) external pure returns (bool) {
        return BN254.isOnCurve(a);
    }

    function hashToG1(bytes32 domain, bytes32 message) external view returns (BN254.G1Point memory) {
        return BN254.hashToG1(domain, message);
    }

    function verify(
        BN254.G1Point memory messagePoint,
        BN254.G1Point memory pkG1,
        BN254.G2Point memory pkG2,
        BN254.G1Point memory signature
    ) external view returns (bool) {
        return BN254.verify(messagePoint, pkG1, pkG2, signature);
    }
}

/// @notice Fuzz tests of every function of the BN254 library, through a harness.
contract BN254Test is Base {
    BN254Harness internal h;

    function setUp() public {
        h = new BN254Harness();
    }

    function _eq(BN254.G1Point memory a, BN254.G1Point memory b) internal pure returns (bool) {
        return a.x == b.x && a.y == b.y;
    }

    function testFuzz_mulDistributesOverAdd(uint256 a, uint256 b) public view {
        a = _bound(a, 1, BN254.R - 1);
        b = _bound(b, 1, BN254.R - 1);
        BN254.G1Point memory sum = h.add(h.mul(h.g1(), a), h.mul(h.g1(), b));
        vm.assertTrue(_eq(sum, h.mul(h.g1(), addmod(a, b, BN254.R))), "a*g + b*g == (a+b)*g");
        vm.assertTrue(h.isOnCurve(sum), "on the curve");
    }

    function testFuzz_mulByTheGroupOrderIsInfinity(uint256 a) public view {
        a = _bound(a, 1, BN254.R - 1);
        BN254.G1Point memory p = h.mul(h.g1(), a);
        BN254.G1Point memory zero = h.mul(p, BN254.R);
        vm.assertTrue(zero.x == 0 && zero.y == 0, "r * P == O");
    }

    function testFuzz_negIsTheAdditiveInverse(uint256 a) public view {
        a = _bound(a, 1, BN254.R - 1);
        BN254.G1Point memory p = h.mul(h.g1(), a);
        BN254.G1Point memory n = h.neg(p);
        vm.assertTrue(h.isOnCurve(n), "-P on the curve");
        BN254.G1Point memory zero = h.add(p, n);
        vm.assertTrue(zero.x == 0 && zero.y == 0, "P + -P == O");
        vm.assertTrue(_eq(h.neg(n), p), "--P == P");
    }

    function test_negOfInfinityIsInfinity() public view {
        BN254.G1Point memory n = h.neg(BN254.G1Point(0, 0));
        vm.assertTrue(n.x == 0 && n.y == 0, "-O == O");
        vm.assertTrue(h.isOnCurve(BN254.G1Point(0, 0)), "O counts as on the curve");
    }

    function testFuzz_isOnCurveRefusesPointsOffTheCurveOrOutsideTheField(uint256 x, uint256 y) public view {
        bool onCurve = x < BN254.P && y < BN254.P &&
            mulmod(y, y, BN254.P) == addmod(mulmod(mulmod(x, x, BN254.P), x, BN254.P), 3, BN254.P);
        vm.assume(!(x == 0 && y == 0));
        vm.assertEq(h.isOnCurve(BN254.G1Point(x, y)), onCurve, "isOnCurve");
        vm.assertFalse(h.isOnCurve(BN254.G1Point(x % BN254.P + BN254.P, y)), "x outside the field");
    }

    function testFuzz_addRefusesAPointOffTheCurve(uint256 x, uint256 y) public {
        vm.assume(!h.isOnCurve(BN254.G1Point(x, y)));
        BN254.G1Point memory g = BN254.G1Point(1, 2);
        vm.expectRevert(abi.encodeWithSelector(BN254.BN254PrecompileFailed.selector, 6));
        h.add(BN254.G1Point(x, y), g);
        vm.expectRevert(abi.encodeWithSelector(BN254.BN254PrecompileFailed.selector, 7));
        h.mul(BN254.G1Point(x, y), 2);
    }

    function testFuzz_hashToG1LandsOnTheCurveAndDependsOnDomainAndMessage(bytes32 domain, bytes32 message) public view {
        BN254.G1Point memory p = h.hashToG1(domain, message);
        vm.assertTrue(h.isOnCurve(p) && !(p.x == 0 && p.y == 0), "a point of G1");
        vm.assertTrue(_eq(p, h.hashToG1(domain, message)), "deterministic");
        vm.assertFalse(_eq(p, h.hashToG1(domain, bytes32(uint256(message) ^ 1))), "another message");
        vm.assertFalse(_eq(p, h.hashToG1(bytes32(uint256(domain) ^ 1), message)), "another domain");
    }

    /// forge-config: default.fuzz.runs = 32
    function testFuzz_verifyAcceptsASignatureByTheKey(uint256 keySeed, bytes32 message) public view {
        uint256 sk = BlsKeys.secret(keySeed);
        BN254.G1Point memory point = h.hashToG1(keccak256("test"), message);
        BN254.G1Point memory signature = h.mul(point, sk);
        vm.assertTrue(h.verify(point, h.mul(h.g1(), sk), BlsKeys.g2(sk), signature), "valid signature");
    }

    /// forge-config: default.fuzz.runs = 32
    function testFuzz_verifyRefusesAnotherMessageOrAnotherKeysSignature(uint256 keySeed, bytes32 message) public view {
        uint256 sk = BlsKeys.secret(keySeed);
        uint256 other = BlsKeys.other(keySeed);
        BN254.G1Point memory point = h.hashToG1(keccak256("test"), message);
        BN254.G1Point memory otherPoint = h.hashToG1(keccak256("test"), bytes32(uint256(message) ^ 1));
        BN254.G1Point memory pk = h.mul(h.g1(), sk);
        vm.assertFalse(h.verify(otherPoint, pk, BlsKeys.g2(sk), h.mul(point, sk)), "signature of another message");
        vm.assertFalse(h.verify(point, pk, BlsKeys.g2(sk), h.mul(point, other)), "signature by another key");
    }

    /// forge-config: default.fuzz.runs = 32
    function testFuzz_verifyRefusesKeyHalvesOfDifferentSecrets(uint256 keySeed, bytes32 message) public view {
        uint256 sk = BlsKeys.secret(keySeed);
        uint256 other = BlsKeys.other(keySeed);
        BN254.G1Point memory point = h.hashToG1(keccak256("test"), message);
        // G1 half of one secret, G2 half of another: refused whatever the signature.
        vm.assertFalse(h.verify(point, h.mul(h.g1(), sk), BlsKeys.g2(other), h.mul(point, other)), "mixed key, sig by G2's");
        vm.assertFalse(h.verify(point, h.mul(h.g1(), sk), BlsKeys.g2(other), h.mul(point, sk)), "mixed key, sig by G1's");
    }

    /// forge-config: default.fuzz.runs = 32
    function testFuzz_verifyAcceptsAnAggregateOfTwoSignersUnderTheSumOfTheirKeys(bytes32 message) public view {
        BN254.G1Point memory point = h.hashToG1(keccak256("test"), message);
        BN254.G1Point memory aggregate = h.add(h.mul(point, 3), h.mul(point, 5));
        BN254.G1Point memory keyG1 = h.add(h.mul(h.g1(), 3), h.mul(h.g1(), 5));
        vm.assertTrue(h.verify(point, keyG1, BlsKeys.g2(8), aggregate), "aggregate under the summed key");
        vm.assertFalse(h.verify(point, keyG1, BlsKeys.g2(8), h.mul(point, 3)), "one signature alone");
        vm.assertFalse(h.verify(point, h.mul(h.g1(), 3), BlsKeys.g2(8), aggregate), "one G1 half alone");
    }

    function testFuzz_verifyReturnsFalseForAG2PointOffTheCurve(uint256 keySeed, bytes32 message, uint256 junk) public view {
        uint256 sk = BlsKeys.secret(keySeed);
        BN254.G1Point memory point = h.hashToG1(keccak256("test"), message);
        BN254.G2Point memory key = BlsKeys.g2(sk);
        key.y[1] = junk == key.y[1] ? junk + 1 : junk;
        vm.assertFalse(h.verify(point, h.mul(h.g1(), sk), key, h.mul(point, sk)), "bad G2 point");
    }
}
