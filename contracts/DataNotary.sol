// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IDataNotary} from "./interfaces/IDataNotary.sol";

/**
 * @title DataNotary
 * @notice Anchors the Merkle roots of batches of signed readings, so that anyone can later prove
 * that a reading was part of a batch anchored at a given time. Trees follow OpenZeppelin's
 * StandardMerkleTree: double-hashed leaves and sorted-pair nodes.
 *
 * Every batch is a leaf of one append-only transparency log, an RFC 9162 tree (SHA-256, 0x00 leaf
 * and 0x01 node prefixes) that the contract grows itself: it keeps the tree's frontier, the root of
 * the last complete subtree of each height, and an anchor writes one frontier slot and the batch
 * count, nothing per batch. No caller can submit a head, so every head extends the one before it;
 * {logHead} gives the current size and root that signed checkpoints of the log are checked against.
 * The batch's content id, the anchorer and the rest live in the {BatchAnchored} event, which is
 * where indexers and verifiers read them, and the block it is in dates the batch.
 *
 * A contract that checks a reading on chain ({verify}, {verifyMulti}) needs its batch recorded
 * first: {recordAnchor}, open to anyone, proves the batch's leaf against a frontier node and keeps
 * its root, once, so only the batches used on chain pay for a storage slot. {Multicall} lets an
 * anchorer anchor several batches in one transaction (each call keeps its own access check). Its
 * types, errors and events are declared in {IDataNotary}.
 */
contract DataNotary is IDataNotary, AccessControl, Multicall {
    /// @notice Role allowed to anchor batches.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    /// @dev Leaf data version of the log's leaves (docs/transparency-log.md).
    uint8 private constant _LOG_LEAF_VERSION = 1;
    /// @dev Heights the frontier holds: a log of up to 2^40 - 1 batches.
    uint256 private constant _LOG_HEIGHTS = 40;

    uint40 private _batchCount;
    /// @dev `_logFrontier[h]`: the root of the last complete subtree of 2^h leaves whose index at
    /// height h is even (a left child). For a log of size n, the entries at the heights of n's set
    /// bits are the subtrees the root is made of.
    bytes32[40] private _logFrontier;
    mapping(bytes32 root => Record) private _records;

    /**
     * @param admin Account that receives the admin role and the anchorer role.
     */
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, admin);
    }

    /// @inheritdoc IDataNotary
    function anchor(
        bytes32 root,
        uint32 readingCount,
        uint48 firstTimestamp,
        uint48 lastTimestamp,
        string calldata contentId
    ) external onlyRole(ANCHORER_ROLE) returns (uint256 batchId) {
        return _anchor(_batchCount, root, readingCount, firstTimestamp, lastTimestamp, contentId);
    }

    /// @inheritdoc IDataNotary
    function anchorAs(
        uint256 batchId,
        bytes32 root,
        uint32 readingCount,
        uint48 firstTimestamp,
        uint48 lastTimestamp,
        string calldata contentId
    ) external onlyRole(ANCHORER_ROLE) returns (uint256) {
        uint40 next = _batchCount;
        if (batchId != next) revert DataNotaryNotNextBatch(batchId, next);
        return _anchor(next, root, readingCount, firstTimestamp, lastTimestamp, contentId);
    }

    /// @inheritdoc IDataNotary
    function recordAnchor(
        uint256 batchId,
        bytes32 root,
        uint32 readingCount,
        uint48 firstTimestamp,
        uint48 lastTimestamp,
        string calldata contentId,
        bytes32[] calldata logPath
    ) external {
        if (!_inLog(batchId, _logLeafHash(batchId, root, readingCount, firstTimestamp, lastTimestamp, contentId), logPath)) {
            revert DataNotaryNotInLog(batchId);
        }
        Record storage existing = _records[root];
        if (_exists(existing) && existing.batchId <= batchId) return; // the earliest batch of a root is kept
        _records[root] = Record({
            batchId: uint40(batchId),
            readingCount: readingCount,
            firstTimestamp: firstTimestamp,
            lastTimestamp: lastTimestamp
        });
        emit AnchorRecorded(batchId, root);
    }

    /// @inheritdoc IDataNotary
    function verify(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        return _exists(_records[root]) && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc IDataNotary
    function verifyMulti(
        bytes32 root,
        bytes32[] calldata leaves,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external view returns (bool) {
        return
            leaves.length != 0 &&
            _exists(_records[root]) &&
            MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves);
    }

    /// @inheritdoc IDataNotary
    function batchCount() external view returns (uint256) {
        return _batchCount;
    }

    /// @inheritdoc IDataNotary
    function logHead() external view returns (uint256 size, bytes32 root) {
        size = _batchCount;
        if (size == 0) return (0, sha256(""));
        bool started = false;
        for (uint256 height = 0; size >> height != 0; ++height) {
            if ((size >> height) & 1 == 0) continue;
            bytes32 subtree = _logFrontier[height];
            root = started ? _logNode(subtree, root) : subtree;
            started = true;
        }
    }

    /// @inheritdoc IDataNotary
    function logFrontier(uint256 height) external view returns (bytes32) {
        return height < _LOG_HEIGHTS ? _logFrontier[height] : bytes32(0);
    }

    /// @inheritdoc IDataNotary
    function isRecorded(bytes32 root) external view returns (bool) {
        return _exists(_records[root]);
    }

    /// @inheritdoc IDataNotary
    function getRecord(bytes32 root) external view returns (Record memory) {
        Record storage found = _records[root];
        if (!_exists(found)) revert DataNotaryNotRecorded(root);
        return found;
    }

    /// @dev Checks a batch and appends it to the log as batch `id` (the current count).
    function _anchor(
        uint40 id,
        bytes32 root,
        uint32 readingCount,
        uint48 firstTimestamp,
        uint48 lastTimestamp,
        string calldata contentId
    ) private returns (uint256) {
        if (root == bytes32(0)) revert DataNotaryZeroRoot();
        if (readingCount == 0) revert DataNotaryEmptyBatch();
        if (firstTimestamp > lastTimestamp) revert DataNotaryInvalidTimeRange(firstTimestamp, lastTimestamp);
        if (bytes(contentId).length > type(uint16).max) revert DataNotaryContentIdTooLong(bytes(contentId).length);

        _batchCount = id + 1;
        _appendToLog(id, _logLeafHash(id, root, readingCount, firstTimestamp, lastTimestamp, contentId));
        emit BatchAnchored(id, root, _msgSender(), readingCount, firstTimestamp, lastTimestamp, contentId);
        return id;
    }

    /// @dev Appends the leaf at `index` (the log's size before it): the subtrees it completes are
    /// merged into one, which is written at its height. One storage write whatever the log's size.
    function _appendToLog(uint256 index, bytes32 leafHash) private {
        bytes32 node = leafHash;
        uint256 height = 0;
        while ((index >> height) & 1 == 1) {
            node = _logNode(_logFrontier[height], node);
            ++height;
        }
        _logFrontier[height] = node;
    }

    /// @dev Whether `leafHash` is leaf `index` of the log: `path` (its siblings, bottom up) leads to
    /// the subtree of 2^path.length leaves the frontier holds at that height, and that subtree is
    /// the one holding `index`.
    function _inLog(uint256 index, bytes32 leafHash, bytes32[] calldata path) private view returns (bool) {
        uint256 height = path.length;
        uint256 completed = height < _LOG_HEIGHTS ? uint256(_batchCount) >> height : 0;
        if (completed == 0 || (index >> height) != ((completed - 1) & ~uint256(1))) return false;
        bytes32 node = leafHash;
        for (uint256 h = 0; h < height; ++h) {
            node = (index >> h) & 1 == 0 ? _logNode(node, path[h]) : _logNode(path[h], node);
        }
        return node == _logFrontier[height];
    }
    /// @dev RFC 9162 leaf hash of a batch's leaf data (see {IDataNotary-logHead}): SHA-256 of
    /// `0x00 || 0x01 || uint64 batchId || root || uint64 readingCount || uint64 firstTimestamp ||
    /// uint64 lastTimestamp || uint16 length || contentId`, laid out in free memory by hand (the
    /// same bytes `abi.encodePacked` would give, without its copies; the Foundry tests check it
    /// against a reference written with `abi.encodePacked`).
    function _logLeafHash(
        uint256 batchId,
        bytes32 root,
        uint32 readingCount,
        uint48 firstTimestamp,
        uint48 lastTimestamp,
        string calldata contentId
    ) private view returns (bytes32 leafHash) {
        uint256 version = _LOG_LEAF_VERSION;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let length := contentId.length
            // bytes 0-1: the leaf prefix and the version; 2-9: the batch id
            mstore(ptr, or(shl(240, version), shl(176, and(batchId, 0xffffffffffffffff))))
            mstore(add(ptr, 10), root) // bytes 10-41
            // bytes 42-49, 50-57, 58-65: count, first, last; 66-67: the content id's length
            mstore(
                add(ptr, 42),
                or(
                    or(shl(192, readingCount), shl(128, firstTimestamp)),
                    or(shl(64, lastTimestamp), shl(48, and(length, 0xffff)))
                )
            )
            calldatacopy(add(ptr, 68), contentId.offset, length)
            if iszero(staticcall(gas(), 0x02, ptr, add(68, length), 0x00, 0x20)) {
                revert(0, 0)
            }
            leafHash := mload(0x00)
        }
    }

    /// @dev RFC 9162 interior node: SHA-256 of `0x01 || left || right`.
    function _logNode(bytes32 left, bytes32 right) private view returns (bytes32 node) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, shl(248, 0x01))
            mstore(add(ptr, 1), left)
            mstore(add(ptr, 33), right)
            if iszero(staticcall(gas(), 0x02, ptr, 65, 0x00, 0x20)) {
                revert(0, 0)
            }
            node := mload(0x00)
        }
    }

    /// @dev Whether the slot holds a record: every anchored batch has at least one reading.
    function _exists(Record storage record) private view returns (bool) {
        return record.readingCount != 0;
    }
}
