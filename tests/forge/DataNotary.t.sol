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

    /// @dev The path of leaf `index` to the frontier node that holds it in a log of `size` leaves,
    /// at the highest height there is one: the subtree of 2^h leaves whose index at height h is
    /// even and the last complete one of its height.
    function frontierPath(bytes32[] memory leaves, uint256 index, uint256 size)
        internal
        pure
        returns (bytes32[] memory path)
    {
        uint256 height = 0;
        for (uint256 h = 0; size >> h != 0; ++h) {
            if ((index >> h) == (((size >> h) - 1) & ~uint256(1))) height = h;
        }
        path = new bytes32[](height);
        for (uint256 h = 0; h < height; ++h) {
            uint256 start = ((index >> h) ^ 1) << h;
            path[h] = rootOf(leaves, start, start + (1 << h));
        }
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

    /// @dev Anchors `root` as `_anchor` does and records it (the log holds only this test's batches).
    function _anchorAndRecord(bytes32 root) internal {
        vm.assertEq(_anchor(root), 0, "the helper anchors the log's first batch");
        // alone in the log, the batch is the frontier's node at height 0: an empty path
        notary.recordAnchor(0, root, 1, 10, 20, "cid", new bytes32[](0));
    }

    function testFuzz_anchorAppendsTheBatchToTheLogAndStoresNothingPerRoot(
        bytes32 root,
        uint32 count,
        uint48 first,
        uint48 span,
        string calldata cid
    ) public {
        vm.assume(root != bytes32(0) && count != 0);
        uint48 last = uint48(_bound(uint256(first) + span, first, type(uint48).max));
        vm.expectEmit(address(notary));
        emit IDataNotary.BatchAnchored(0, root, ANCHORER, count, first, last, cid);
        vm.prank(ANCHORER);
        uint256 id = notary.anchor(root, count, first, last, cid);

        vm.assertEq(id, 0, "first batch id");
        vm.assertEq(notary.batchCount(), 1, "batchCount");
        (uint256 size, bytes32 head) = notary.logHead();
        vm.assertEq(size, 1, "log size");
        vm.assertEq(head, ReferenceLog.leafHash(0, root, count, first, last, bytes(cid)), "the batch is the log's leaf");
        vm.assertFalse(notary.isRecorded(root), "not recorded until someone needs it on chain");
    }

    function testFuzz_anchorAsAppendsOnlyAsTheNextBatch(bytes32 a, bytes32 b, uint256 wrong) public {
        vm.assume(a != 0 && b != 0 && wrong != 1);
        vm.prank(ANCHORER);
        vm.assertEq(notary.anchorAs(0, a, 1, 1, 1, "a"), 0, "the first batch");
        // the same anchor sent again (a retry, a transaction a reorg put back): the log moved on
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryNotNextBatch.selector, 0, 1));
        vm.prank(ANCHORER);
        notary.anchorAs(0, a, 1, 1, 1, "a");
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryNotNextBatch.selector, wrong, 1));
        vm.prank(ANCHORER);
        notary.anchorAs(wrong, b, 1, 1, 1, "b");
        vm.assertEq(notary.batchCount(), 1, "nothing appended by a refused anchor");
        vm.prank(ANCHORER);
        vm.assertEq(notary.anchorAs(1, b, 1, 1, 1, "b"), 1, "the next batch");
    }

    function testFuzz_anchorAsRefusesACallerWithoutTheRole(address caller, bytes32 root) public {
        vm.assume(caller != ANCHORER && caller != ADMIN && root != 0);
        vm.expectRevert(_unauthorized(caller, notary.ANCHORER_ROLE()));
        vm.prank(caller);
        notary.anchorAs(0, root, 1, 1, 2, "");
        vm.assertEq(notary.batchCount(), 0, "no batch");
    }

    function testFuzz_anchorNumbersBatchesInOrder(bytes32 a, bytes32 b) public {
        vm.assume(a != 0 && b != 0 && a != b);
        vm.assertEq(_anchor(a), 0, "first");
        vm.assertEq(_anchor(b), 1, "second");
        vm.assertEq(notary.batchCount(), 2, "count");
    }

    function testFuzz_anchorRefusesACallerWithoutTheRole(address caller, bytes32 root) public {
        vm.assume(caller != ANCHORER && caller != ADMIN && root != 0);
        vm.expectRevert(_unauthorized(caller, notary.ANCHORER_ROLE()));
        vm.prank(caller);
        notary.anchor(root, 1, 1, 2, "");
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
        vm.assertEq(notary.batchCount(), 0, "no batch");
    }

    function testFuzz_anchorRefusesAReversedTimeRange(bytes32 root, uint48 first, uint48 last) public {
        vm.assume(root != 0 && first > last);
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryInvalidTimeRange.selector, first, last));
        vm.prank(ANCHORER);
        notary.anchor(root, 1, first, last, "");
        vm.assertEq(notary.batchCount(), 0, "no batch");
    }

    function testFuzz_aRootAnchoredAgainIsANewBatchAndItsRecordKeepsTheEarliest(bytes32 root) public {
        vm.assume(root != 0);
        bytes32[] memory leaves = new bytes32[](2);
        vm.prank(ANCHORER);
        notary.anchor(root, 5, 1, 2, "early");
        leaves[0] = ReferenceLog.leafHash(0, root, 5, 1, 2, "early");
        vm.prank(ANCHORER);
        notary.anchor(root, 7, 3, 4, "late");
        leaves[1] = ReferenceLog.leafHash(1, root, 7, 3, 4, "late");

        notary.recordAnchor(1, root, 7, 3, 4, "late", ReferenceLog.frontierPath(leaves, 1, 2));
        vm.assertEq(uint256(notary.getRecord(root).batchId), 1, "the later batch, recorded first");
        notary.recordAnchor(0, root, 5, 1, 2, "early", ReferenceLog.frontierPath(leaves, 0, 2));
        IDataNotary.Record memory record = notary.getRecord(root);
        vm.assertEq(uint256(record.batchId), 0, "the earlier batch replaces it");
        vm.assertEq(uint256(record.readingCount), 5, "its count");
        notary.recordAnchor(1, root, 7, 3, 4, "late", ReferenceLog.frontierPath(leaves, 1, 2));
        vm.assertEq(uint256(notary.getRecord(root).batchId), 0, "a later batch never replaces an earlier one");
    }

    function testFuzz_recordAnchorProvesEveryBatchAgainstTheFrontier(uint8 batches, uint256 seed, address caller) public {
        uint256 n = _bound(batches, 1, 40);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            vm.prank(ANCHORER);
            notary.anchor(keccak256(abi.encode(seed, i)), uint32(i + 1), uint48(i), uint48(i + 3), "cid");
            leaves[i] = ReferenceLog.leafHash(i, keccak256(abi.encode(seed, i)), uint32(i + 1), uint48(i), uint48(i + 3), "cid");
            // each batch is recorded right after it lands, and an older one once the log has grown
            uint256 older = uint256(keccak256(abi.encode(seed, "older", i))) % (i + 1);
            for (uint256 k = 0; k < 2; ++k) {
                uint256 id = k == 0 ? i : older;
                bytes32 root = keccak256(abi.encode(seed, id));
                vm.prank(caller);
                notary.recordAnchor(id, root, uint32(id + 1), uint48(id), uint48(id + 3), "cid", ReferenceLog.frontierPath(leaves, id, i + 1));
                IDataNotary.Record memory record = notary.getRecord(root);
                vm.assertEq(uint256(record.batchId), id, "batch id");
                vm.assertEq(uint256(record.readingCount), id + 1, "count");
                vm.assertEq(uint256(record.firstTimestamp), id, "first");
                vm.assertEq(uint256(record.lastTimestamp), id + 3, "last");
            }
        }
    }

    function testFuzz_recordAnchorRefusesLeafDataTheLogDoesNotHold(uint8 batches, uint256 seed, uint8 field) public {
        uint256 n = _bound(batches, 1, 20);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            vm.prank(ANCHORER);
            notary.anchor(keccak256(abi.encode(seed, i)), 9, 100, 200, "cid");
            leaves[i] = ReferenceLog.leafHash(i, keccak256(abi.encode(seed, i)), 9, 100, 200, "cid");
        }
        uint256 id = seed % n;
        bytes32 root = keccak256(abi.encode(seed, id));
        bytes32[] memory path = ReferenceLog.frontierPath(leaves, id, n);
        uint256 which = field % 6;
        bytes32 claimed = which == 0 ? bytes32(uint256(root) ^ 1) : root;
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryNotInLog.selector, which == 5 ? id + n : id));
        notary.recordAnchor(
            which == 5 ? id + n : id, // a batch id past the log
            claimed, // another root
            which == 1 ? 10 : 9, // another count
            which == 2 ? 99 : 100, // another first time
            which == 3 ? 201 : 200, // another last time
            which == 4 ? "cie" : "cid", // another content id
            path
        );
        vm.assertFalse(notary.isRecorded(claimed), "nothing recorded");
    }

    function testFuzz_recordAnchorRefusesAPathToANodeTheFrontierNoLongerHolds(uint256 seed) public {
        bytes32[] memory leaves = new bytes32[](3);
        for (uint256 i = 0; i < 3; ++i) {
            vm.prank(ANCHORER);
            notary.anchor(keccak256(abi.encode(seed, i)), 1, 1, 1, "");
            leaves[i] = ReferenceLog.leafHash(i, keccak256(abi.encode(seed, i)), 1, 1, 1, "");
        }
        bytes32 root = keccak256(abi.encode(seed, uint256(0)));
        // built when the log held one batch: batch 0 alone at height 0, replaced by batch 2 since
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryNotInLog.selector, 0));
        notary.recordAnchor(0, root, 1, 1, 1, "", new bytes32[](0));
        bytes32[] memory tooLong = new bytes32[](40);
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryNotInLog.selector, 0));
        notary.recordAnchor(0, root, 1, 1, 1, "", tooLong);
        vm.assertFalse(notary.isRecorded(root), "nothing recorded");
        notary.recordAnchor(0, root, 1, 1, 1, "", ReferenceLog.frontierPath(leaves, 0, 3));
        vm.assertTrue(notary.isRecorded(root), "recorded with a path built again");
    }

    function testFuzz_recordAnchorRefusesAFrontierNodeAsALeaf(uint256 seed) public {
        bytes32[] memory leaves = new bytes32[](2);
        for (uint256 i = 0; i < 2; ++i) {
            vm.prank(ANCHORER);
            notary.anchor(keccak256(abi.encode(seed, i)), 1, 1, 1, "");
            leaves[i] = ReferenceLog.leafHash(i, keccak256(abi.encode(seed, i)), 1, 1, 1, "");
        }
        // an interior node is no leaf: its hash is never a leaf hash (0x00 and 0x01 prefixes)
        bytes32 node = notary.logFrontier(1);
        vm.assertEq(node, ReferenceLog.rootOf(leaves, 0, 2), "the frontier holds both batches at height 1");
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryNotInLog.selector, 0));
        notary.recordAnchor(0, node, 1, 1, 1, "", new bytes32[](0));
        vm.assertFalse(notary.isRecorded(node), "nothing recorded");
    }

    function testFuzz_verifyProvesEachLeafOfARecordedTree(bytes32 a, bytes32 b, bytes32 other) public {
        vm.assume(a != b && other != a && other != b);
        bytes32 root = _leafPair(a, b);
        bytes32[] memory proofA = new bytes32[](1);
        proofA[0] = b;
        bytes32[] memory proofB = new bytes32[](1);
        proofB[0] = a;
        vm.assertFalse(notary.verify(root, a, proofA), "not anchored yet");
        _anchor(root);
        vm.assertFalse(notary.verify(root, a, proofA), "anchored, not recorded yet");
        notary.recordAnchor(0, root, 1, 10, 20, "cid", new bytes32[](0));
        vm.assertTrue(notary.verify(root, a, proofA), "leaf a");
        vm.assertTrue(notary.verify(root, b, proofB), "leaf b");
        vm.assertFalse(notary.verify(root, other, proofA), "another leaf");
    }

    function testFuzz_verifyRefusesTheRootItselfAsALeafOfAnUnrecordedRoot(bytes32 root) public view {
        vm.assertFalse(notary.verify(root, root, new bytes32[](0)), "unrecorded root");
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
        _anchorAndRecord(root);
        vm.assertTrue(notary.verifyMulti(root, leaves, new bytes32[](0), flags), "both leaves");
        leaves[1] = bytes32(uint256(b) ^ 1);
        vm.assertFalse(notary.verifyMulti(root, leaves, new bytes32[](0), flags), "a changed leaf");
    }

    function testFuzz_verifyMultiRefusesAnEmptyLeafSet(bytes32 root) public {
        vm.assume(root != 0);
        _anchorAndRecord(root);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = root;
        vm.assertFalse(notary.verifyMulti(root, new bytes32[](0), proof, new bool[](0)), "empty leaves prove nothing");
    }

    function testFuzz_getRecordRefusesAnUnrecordedRoot(bytes32 root) public {
        vm.assume(root != 0);
        _anchor(root);
        vm.expectRevert(abi.encodeWithSelector(IDataNotary.DataNotaryNotRecorded.selector, root));
        notary.getRecord(root);
        vm.assertFalse(notary.isRecorded(root), "isRecorded");
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
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = ReferenceLog.leafHash(0, a, 1, 1, 1, "a");
        leaves[1] = ReferenceLog.leafHash(1, b, 2, 1, 2, "b");
        (uint256 size, bytes32 head) = notary.logHead();
        vm.assertEq(size, 2, "both anchored");
        vm.assertEq(head, ReferenceLog.rootOf(leaves, 0, 2), "in order");
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

/// @notice Drives a notary at random for the invariant test: anchors (of new roots and of roots
/// anchored before), records with true and with forged leaf data, role changes.
contract NotaryHandler is Base {
    struct Batch {
        bytes32 root;
        uint32 count;
        uint48 first;
        uint48 last;
    }

    DataNotary public immutable notary;
    address[4] internal actors = [address(0xA1), address(0xA2), address(0xA3), address(0xA4)];

    Batch[] internal _batches;
    bytes32[] internal _leaves;
    bytes32[] public heads; // heads[m - 1]: the log's root when it held m batches
    bytes32[] public recordedRoots;
    mapping(bytes32 root => uint256) public earliestRecorded; // batch id + 1 of the earliest recorded
    mapping(address actor => bool) public anchorerByAdmin; // the admin's grants and revocations
    /// @dev What went wrong in a call (the invariant run ignores reverts, so they are kept here).
    string public violation;

    constructor(DataNotary notary_) {
        notary = notary_;
        anchorerByAdmin[ADMIN] = true;
    }

    function actor(uint256 i) external view returns (address) {
        return actors[i];
    }

    function anchor(uint256 actorSeed, bytes32 root, uint32 count, uint48 first, uint48 span, bool again) external {
        address who = actorSeed % 5 == 4 ? ADMIN : actors[actorSeed % 4];
        if (again && _batches.length != 0) root = _batches[uint256(root) % _batches.length].root;
        uint48 last = uint48(_bound(uint256(first) + span, first, type(uint48).max));
        vm.prank(who);
        try notary.anchor(root, count, first, last, "") {
            _leaves.push(ReferenceLog.leafHash(_batches.length, root, count, first, last, ""));
            _batches.push(Batch(root, count, first, last));
            (, bytes32 head) = notary.logHead();
            heads.push(head);
        } catch {}
    }

    function record(uint256 seed, address caller) external {
        if (_batches.length == 0) return;
        uint256 id = seed % _batches.length;
        Batch memory b = _batches[id];
        vm.prank(caller);
        try notary.recordAnchor(id, b.root, b.count, b.first, b.last, "", ReferenceLog.frontierPath(_leaves, id, _leaves.length)) {} catch {
            violation = "a batch of the log was refused";
            return;
        }
        if (earliestRecorded[b.root] == 0) recordedRoots.push(b.root);
        if (earliestRecorded[b.root] == 0 || earliestRecorded[b.root] > id + 1) earliestRecorded[b.root] = id + 1;
    }

    function recordForged(uint256 seed, uint32 count, uint48 first, uint48 last) external {
        if (_batches.length == 0) return;
        uint256 id = seed % _batches.length;
        Batch memory b = _batches[id];
        if (count == b.count && first == b.first && last == b.last) return;
        bytes32[] memory path = ReferenceLog.frontierPath(_leaves, id, _leaves.length);
        try notary.recordAnchor(id, b.root, count, first, last, "", path) {
            violation = "a forged batch was recorded";
        } catch {}
    }

    function grantAsNonAdmin(uint256 callerSeed, uint256 granteeSeed) external {
        bytes32 role = granteeSeed % 2 == 0 ? notary.ANCHORER_ROLE() : notary.DEFAULT_ADMIN_ROLE();
        address caller = actors[callerSeed % 4];
        vm.prank(caller);
        try notary.grantRole(role, actors[granteeSeed % 4]) {
            violation = "a non-admin granted a role";
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

    function batch(uint256 id) external view returns (Batch memory) {
        return _batches[id];
    }

    function recordedCount() external view returns (uint256) {
        return recordedRoots.length;
    }

    function leaves() external view returns (bytes32[] memory) {
        return _leaves;
    }
}

/// @notice Invariants: the log only grows; a record is always a batch of the log, the earliest
/// recorded of its root; roles never grow without the admin.
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

    function invariant_noCallDidWhatItMustNot() public view {
        string memory violation = handler.violation();
        vm.assertTrue(bytes(violation).length == 0, violation);
    }

    function invariant_everyRecordIsTheEarliestRecordedBatchOfItsRoot() public view {
        vm.assertEq(notary.batchCount(), handler.leaves().length, "one batch per accepted anchor");
        for (uint256 i = 0; i < handler.recordedCount(); ++i) {
            bytes32 root = handler.recordedRoots(i);
            IDataNotary.Record memory record = notary.getRecord(root);
            NotaryHandler.Batch memory b = handler.batch(record.batchId);
            vm.assertEq(uint256(record.batchId) + 1, handler.earliestRecorded(root), "the earliest recorded batch");
            vm.assertEq(b.root, root, "a batch of that root");
            vm.assertEq(uint256(record.readingCount), b.count, "count");
            vm.assertEq(uint256(record.firstTimestamp), b.first, "first");
            vm.assertEq(uint256(record.lastTimestamp), b.last, "last");
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
