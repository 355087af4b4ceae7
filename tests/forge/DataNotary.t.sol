// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DataNotary} from "../../contracts/DataNotary.sol";
import {IDataNotary} from "../../contracts/interfaces/IDataNotary.sol";
import {Base, FuzzSelector} from "./Base.sol";

/// @notice RFC 9162's tree written from the RFC's recursive definition, to check the notary's log against.
library ReferenceLog {
    function leafHash(uint256 id, bytes32 root, uint32 count, uint48 first, uint48 last, bytes memory cid)
        internal
        pure
        returns (bytes32)
    {
        bytes memory data = abi.encodePacked(uint8(1), uint64(id), root, uint64(count), uint64(first), uint64(last));
        return sha256(bytes.concat(bytes1(0x00), data, bytes2(uint16(cid.length)), cid));
    }

    function rootOf(bytes32[] memory leaves, uint256 from, uint256 to) internal pure returns (bytes32) {
        uint256 n = to - from;
        if (n == 0) return sha256("");
        if (n == 1) return leaves[from];
        uint256 split = 1;
        while (split << 1 < n) split <<= 1;
        return sha256(bytes.concat(bytes1(0x01), rootOf(leaves, from, from + split), rootOf(leaves, from + split, to)));
    }
}

/// @notice Fuzz tests of every external function of DataNotary.
contract DataNotaryTest is Base {
    DataNotary internal notary;
    address internal constant ANCHORER = address(0xA1);

    function setUp() public {
        notary = new DataNotary(ADMIN);
        bytes32 role = notary.ANCHORER_ROLE();
        vm.prank(ADMIN);
        notary.grantRole(role, ANCHORER);
    }

    function _leafPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function _anchor(bytes32 root) internal returns (uint256) {
        vm.prank(ANCHORER);
        return notary.anchor(root, 1, 10, 20, "cid");
    }

    function testFuzz_anchorRecordsTheBatch(
        bytes32 root,
        uint32 count,
        uint48 first,
        uint48 span,
        uint40 at,
        string calldata cid
    ) public {
        vm.assume(root != bytes32(0) && count != 0);
        uint48 last = uint48(_bound(uint256(first) + span, first, type(uint48).max));
        vm.warp(_bound(at, 1, type(uint40).max));
        vm.roll(1234);
        vm.prank(ANCHORER);
        uint256 id = notary.anchor(root, count, first, last, cid);

        IDataNotary.Anchor memory anchor = notary.getAnchor(root);
        vm.assertEq(id, 0, "first batch id");
        vm.assertEq(uint256(anchor.batchId), 0, "stored id");
        vm.assertEq(uint256(anchor.anchoredAt), block.timestamp, "anchoredAt");
        vm.assertEq(uint256(anchor.blockNumber), 1234, "block");
        vm.assertEq(uint256(anchor.readingCount), count, "count");
        vm.assertEq(uint256(anchor.firstTimestamp), first, "first");
        vm.assertEq(uint256(anchor.lastTimestamp), last, "last");
        vm.assertEq(notary.batchCount(), 1, "batchCount");
        vm.assertTrue(notary.isAnchored(root), "isAnchored");
        vm.assertEq(notary.batchIdOf(root), 0, "batchIdOf");
    }

    function testFuzz_anchorNumbersBatchesInOrder(bytes32 a, bytes32 b) public {
        vm.assume(a != 0 && b != 0 && a != b);
        vm.assertEq(_anchor(a), 0, "first");
        vm.assertEq(_anchor(b), 1, "second");
        vm.assertEq(notary.batchIdOf(b), 1, "batchIdOf");
        vm.assertEq(notary.batchCount(), 2, "count");
    }

    function testFuzz_anchorRefusesACallerWithoutTheRole(address caller, bytes32 root) public {
        vm.assume(caller != ANCHORER && caller != ADMIN && root != 0);
        vm.expectRevert(_unauthorized(caller, notary.ANCHORER_ROLE()));
        vm.prank(caller);
        notary.anchor(root, 1, 1, 2, "");
        vm.assertFalse(notary.isAnchored(root), "nothing anchored");
        vm.assertEq(notary.batchCount(), 0, "no batch");
    }

    function testFuzz_anchorRefusesTheZeroRoot(uint32 count) public {
        vm.assume(count != 0);
        vm.expectRevert(IDataNotary.DataNotaryZeroRoot.selector);
        vm.prank(ANCHORER);
        notary.anchor(bytes32(0), count, 1, 2, "");
        vm.assertEq(notary.batchCount(), 0, "no batch");
    }

    function testFuzz_anchorRefusesAnEmptyBatch(bytes32 root) public {
        vm.assume(root != 0);
        vm.expectRevert(IDataNotary.DataNotaryEmptyBatch.selector);
        vm.prank(ANCHORER);
        notary.anchor(root, 0, 1, 2, "");
        vm.assertFalse(notary.isAnchored(root), "nothing anchored");
    }

    function testFuzz_anchorRefusesAReversedTimeRange(bytes32 root, uint48 first, uint48 last) public {
        vm.assume(root != 0 && first > last);
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryInvalidTimeRange.selector, first, last));
        vm.prank(ANCHORER);
        notary.anchor(root, 1, first, last, "");
        vm.assertFalse(notary.isAnchored(root), "nothing anchored");
    }

    function testFuzz_anchorRefusesARootAnchoredBefore(bytes32 root, uint32 count, uint48 first) public {
        vm.assume(root != 0 && count != 0);
        _anchor(root);
        IDataNotary.Anchor memory before = notary.getAnchor(root);
        vm.warp(block.timestamp + 100);
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryRootAlreadyAnchored.selector, root, 0));
        vm.prank(ANCHORER);
        notary.anchor(root, count, first, first, "other");
        IDataNotary.Anchor memory afterwards = notary.getAnchor(root);
        vm.assertEq(uint256(afterwards.anchoredAt), before.anchoredAt, "time kept");
        vm.assertEq(uint256(afterwards.readingCount), before.readingCount, "count kept");
        vm.assertEq(notary.batchCount(), 1, "one batch");
    }

    function testFuzz_verifyProvesEachLeafOfAnAnchoredTree(bytes32 a, bytes32 b, bytes32 other) public {
        vm.assume(a != b && other != a && other != b);
        bytes32 root = _leafPair(a, b);
        bytes32[] memory proofA = new bytes32[](1);
        proofA[0] = b;
        bytes32[] memory proofB = new bytes32[](1);
        proofB[0] = a;
        vm.assertFalse(notary.verify(root, a, proofA), "not anchored yet");
        _anchor(root);
        vm.assertTrue(notary.verify(root, a, proofA), "leaf a");
        vm.assertTrue(notary.verify(root, b, proofB), "leaf b");
        vm.assertFalse(notary.verify(root, other, proofA), "another leaf");
    }

    function testFuzz_verifyRefusesTheRootItselfAsALeafOfAnUnanchoredRoot(bytes32 root) public view {
        vm.assertFalse(notary.verify(root, root, new bytes32[](0)), "unanchored root");
    }

    function testFuzz_verifyMultiProvesBothLeavesAtOnce(bytes32 a, bytes32 b) public {
        vm.assume(a != b);
        bytes32 root = _leafPair(a, b);
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = a;
        leaves[1] = b;
        bool[] memory flags = new bool[](1);
        flags[0] = true;
        vm.assertFalse(notary.verifyMulti(root, leaves, new bytes32[](0), flags), "not anchored yet");
        _anchor(root);
        vm.assertTrue(notary.verifyMulti(root, leaves, new bytes32[](0), flags), "both leaves");
        leaves[1] = bytes32(uint256(b) ^ 1);
        vm.assertFalse(notary.verifyMulti(root, leaves, new bytes32[](0), flags), "a changed leaf");
    }

    function testFuzz_verifyMultiRefusesAnEmptyLeafSet(bytes32 root) public {
        vm.assume(root != 0);
        _anchor(root);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = root;
        vm.assertFalse(notary.verifyMulti(root, new bytes32[](0), proof, new bool[](0)), "empty leaves prove nothing");
    }

    function testFuzz_getAnchorAndBatchIdOfRefuseAnUnknownRoot(bytes32 root) public {
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryUnknownRoot.selector, root));
        notary.getAnchor(root);
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryUnknownRoot.selector, root));
        notary.batchIdOf(root);
        vm.assertFalse(notary.isAnchored(root), "isAnchored");
    }

    function testFuzz_multicallAnchorsSeveralBatchesWithEachCallChecked(bytes32 a, bytes32 b, address caller) public {
        vm.assume(a != 0 && b != 0 && a != b && caller != ANCHORER && caller != ADMIN);
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(DataNotary.anchor, (a, 1, 1, 1, "a"));
        calls[1] = abi.encodeCall(DataNotary.anchor, (b, 2, 1, 2, "b"));
        vm.expectRevert(_unauthorized(caller, notary.ANCHORER_ROLE()));
        vm.prank(caller);
        notary.multicall(calls);
        vm.assertEq(notary.batchCount(), 0, "a stranger anchors nothing");
        vm.prank(ANCHORER);
        notary.multicall(calls);
        vm.assertEq(notary.batchIdOf(b), 1, "both anchored in order");
    }

    function test_logHeadOfTheEmptyLogIsTheHashOfNothing() public view {
        (uint256 size, bytes32 root) = notary.logHead();
        vm.assertEq(size, 0, "size");
        vm.assertEq(root, 0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855, "SHA-256 of nothing");
    }

    function testFuzz_logHeadIsTheRfc9162RootOfEveryBatch(uint8 batches, uint256 seed) public {
        uint256 n = _bound(batches, 1, 70);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            bytes32 root = keccak256(abi.encode(seed, i));
            uint32 count = uint32(_bound(uint256(root) >> 8, 1, type(uint32).max));
            bytes memory cid = abi.encodePacked("bafy", root);
            vm.prank(ANCHORER);
            notary.anchor(root, count, uint48(i), uint48(i + 7), string(cid));
            leaves[i] = ReferenceLog.leafHash(i, root, count, uint48(i), uint48(i + 7), cid);
            (uint256 size, bytes32 head) = notary.logHead();
            vm.assertEq(size, i + 1, "size");
            vm.assertEq(head, ReferenceLog.rootOf(leaves, 0, i + 1), "root");
        }
    }

    function test_anchorRefusesAContentIdTheLeafCannotHold() public {
        string memory cid = string(new bytes(65_536));
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryContentIdTooLong.selector, 65_536));
        vm.prank(ANCHORER);
        notary.anchor(bytes32(uint256(1)), 1, 1, 1, cid);
        (uint256 size, ) = notary.logHead();
        vm.assertEq(size, 0, "nothing appended");
    }

    function testFuzz_grantRoleRefusesANonAdmin(address caller, address grantee) public {
        vm.assume(caller != ADMIN);
        bytes32 role = notary.ANCHORER_ROLE();
        vm.assume(!notary.hasRole(role, grantee));
        vm.expectRevert(_unauthorized(caller, notary.DEFAULT_ADMIN_ROLE()));
        vm.prank(caller);
        notary.grantRole(role, grantee);
        vm.assertFalse(notary.hasRole(role, grantee), "no role granted");
    }

    function testFuzz_revokeRoleRefusesANonAdmin(address caller) public {
        vm.assume(caller != ADMIN);
        bytes32 role = notary.ANCHORER_ROLE();
        vm.expectRevert(_unauthorized(caller, notary.DEFAULT_ADMIN_ROLE()));
        vm.prank(caller);
        notary.revokeRole(role, ANCHORER);
        vm.assertTrue(notary.hasRole(role, ANCHORER), "role kept");
    }
}

/// @notice Drives a notary at random for the invariant test: anchors, refused anchors, role changes.
contract NotaryHandler is Base {
    DataNotary public immutable notary;
    address[4] internal actors = [address(0xA1), address(0xA2), address(0xA3), address(0xA4)];

    bytes32[] public roots;
    bytes32[] internal _leaves;
    bytes32[] public heads; // heads[m - 1]: the log's root when it held m batches
    mapping(bytes32 root => IDataNotary.Anchor) public recorded;
    mapping(address actor => bool) public anchorerByAdmin; // the admin's grants and revocations

    constructor(DataNotary notary_) {
        notary = notary_;
        anchorerByAdmin[ADMIN] = true;
    }

    function actor(uint256 i) external view returns (address) {
        return actors[i];
    }

    function anchor(uint256 actorSeed, bytes32 root, uint32 count, uint48 first, uint48 span, uint40 at) external {
        address who = actorSeed % 5 == 4 ? ADMIN : actors[actorSeed % 4];
        vm.warp(_bound(at, block.timestamp, uint256(block.timestamp) + 1 days));
        uint48 last = uint48(_bound(uint256(first) + span, first, type(uint48).max));
        vm.prank(who);
        try notary.anchor(root, count, first, last, "") {
            recorded[root] = notary.getAnchor(root);
            _leaves.push(ReferenceLog.leafHash(roots.length, root, count, first, last, ""));
            roots.push(root);
            (, bytes32 head) = notary.logHead();
            heads.push(head);
        } catch {}
    }

    function reanchorKnownRoot(uint256 index, uint256 actorSeed, uint32 count) external {
        if (roots.length == 0) return;
        bytes32 root = roots[index % roots.length];
        vm.prank(actorSeed % 2 == 0 ? ADMIN : actors[actorSeed % 4]);
        try notary.anchor(root, count, 0, 0, "replay") {
            revert("a root was anchored twice");
        } catch {}
    }

    function grantAsNonAdmin(uint256 callerSeed, uint256 granteeSeed) external {
        bytes32 role = granteeSeed % 2 == 0 ? notary.ANCHORER_ROLE() : notary.DEFAULT_ADMIN_ROLE();
        address caller = actors[callerSeed % 4];
        vm.prank(caller);
        try notary.grantRole(role, actors[granteeSeed % 4]) {
            revert("a non-admin granted a role");
        } catch {}
    }

    function grantAnchorerAsAdmin(uint256 granteeSeed) external {
        address grantee = actors[granteeSeed % 4];
        bytes32 role = notary.ANCHORER_ROLE();
        vm.prank(ADMIN);
        notary.grantRole(role, grantee);
        anchorerByAdmin[grantee] = true;
    }

    function revokeAnchorerAsAdmin(uint256 seed) external {
        address who = actors[seed % 4];
        bytes32 role = notary.ANCHORER_ROLE();
        vm.prank(ADMIN);
        notary.revokeRole(role, who);
        anchorerByAdmin[who] = false;
    }

    function renounceAnchorer(uint256 seed) external {
        address who = actors[seed % 4];
        bytes32 role = notary.ANCHORER_ROLE();
        vm.prank(who);
        notary.renounceRole(role, who);
        anchorerByAdmin[who] = false; // a role may shrink without the admin, never grow
    }

    function rootCount() external view returns (uint256) {
        return roots.length;
    }

    function leaves() external view returns (bytes32[] memory) {
        return _leaves;
    }
}

/// @notice Invariants: anchored roots never change or disappear; roles never grow without the admin.
contract DataNotaryInvariantTest is Base {
    DataNotary internal notary;
    NotaryHandler internal handler;

    function setUp() public {
        notary = new DataNotary(ADMIN);
        handler = new NotaryHandler(notary);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_anchoredRootsNeverChangeOrDisappear() public view {
        uint256 n = handler.rootCount();
        vm.assertEq(notary.batchCount(), n, "one batch per accepted anchor");
        for (uint256 i = 0; i < n; ++i) {
            bytes32 root = handler.roots(i);
            (uint40 id, uint40 at, uint48 blockNumber, uint32 count, uint48 first, uint48 last) = handler.recorded(root);
            IDataNotary.Anchor memory now_ = notary.getAnchor(root);
            vm.assertEq(uint256(now_.batchId), id, "batch id");
            vm.assertEq(uint256(now_.batchId), i, "ids in anchoring order");
            vm.assertEq(uint256(now_.anchoredAt), at, "anchoredAt");
            vm.assertEq(uint256(now_.blockNumber), blockNumber, "block");
            vm.assertEq(uint256(now_.readingCount), count, "count");
            vm.assertEq(uint256(now_.firstTimestamp), first, "first");
            vm.assertEq(uint256(now_.lastTimestamp), last, "last");
        }
    }

    /// Every head the log ever had is the root of a prefix of today's leaves: no head rewrote one before it.
    function invariant_everyLogHeadExtendsTheOnesBefore() public view {
        bytes32[] memory leaves = handler.leaves();
        (uint256 size, bytes32 root) = notary.logHead();
        vm.assertEq(size, leaves.length, "one leaf per batch");
        vm.assertEq(root, ReferenceLog.rootOf(leaves, 0, leaves.length), "today's head");
        for (uint256 m = 1; m <= leaves.length; ++m) {
            vm.assertEq(handler.heads(m - 1), ReferenceLog.rootOf(leaves, 0, m), "an earlier head is a prefix's root");
        }
    }

    function invariant_rolesNeverGrowWithoutTheAdmin() public view {
        bytes32 anchorer = notary.ANCHORER_ROLE();
        bytes32 admin = notary.DEFAULT_ADMIN_ROLE();
        for (uint256 i = 0; i < 4; ++i) {
            address who = handler.actor(i);
            vm.assertEq(notary.hasRole(anchorer, who), handler.anchorerByAdmin(who), "anchorer only by the admin");
            vm.assertFalse(notary.hasRole(admin, who), "no new admin");
        }
        vm.assertTrue(notary.hasRole(admin, ADMIN), "the admin stays");
    }
}
