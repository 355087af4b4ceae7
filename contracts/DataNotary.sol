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
 * Storage is one slot per batch, so anchoring costs the same whatever the batch size: the batch
 * payload's content id, the anchorer and the rest live in the {BatchAnchored} event, which is
 * where indexers and verifiers read them. {Multicall} lets an anchorer anchor several batches in
 * one transaction (each call keeps its own access check). Its types, errors and events are
 * declared in {IDataNotary}.
 */
contract DataNotary is IDataNotary, AccessControl, Multicall {
    /// @notice Role allowed to anchor batches.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    mapping(bytes32 root => Anchor) private _anchors;
    uint40 private _batchCount;

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
        if (root == bytes32(0)) revert DataNotaryZeroRoot();
        if (readingCount == 0) revert DataNotaryEmptyBatch();
        if (firstTimestamp > lastTimestamp) revert DataNotaryInvalidTimeRange(firstTimestamp, lastTimestamp);
        Anchor storage existing = _anchors[root];
        if (_exists(existing)) revert DataNotaryRootAlreadyAnchored(root, existing.batchId);

        uint40 id = _batchCount;
        _batchCount = id + 1;
        _anchors[root] = Anchor({
            batchId: id,
            anchoredAt: uint40(block.timestamp),
            blockNumber: uint48(block.number),
            readingCount: readingCount,
            firstTimestamp: firstTimestamp,
            lastTimestamp: lastTimestamp
        });
        emit BatchAnchored(id, root, _msgSender(), readingCount, firstTimestamp, lastTimestamp, contentId);
        return id;
    }

    /// @inheritdoc IDataNotary
    function verify(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        return _exists(_anchors[root]) && MerkleProof.verifyCalldata(proof, root, leaf);
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
            _exists(_anchors[root]) &&
            MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves);
    }

    /// @inheritdoc IDataNotary
    function batchCount() external view returns (uint256) {
        return _batchCount;
    }

    /// @inheritdoc IDataNotary
    function isAnchored(bytes32 root) external view returns (bool) {
        return _exists(_anchors[root]);
    }

    /// @inheritdoc IDataNotary
    function getAnchor(bytes32 root) public view returns (Anchor memory) {
        Anchor storage found = _anchors[root];
        if (!_exists(found)) revert DataNotaryUnknownRoot(root);
        return found;
    }

    /// @inheritdoc IDataNotary
    function batchIdOf(bytes32 root) external view returns (uint256) {
        return getAnchor(root).batchId;
    }

    /// @dev Whether the slot holds an anchor: every anchored batch has at least one reading (the
    /// time fields are not used for this, so no comparison depends on the block's timestamp).
    function _exists(Anchor storage anchor_) private view returns (bool) {
        return anchor_.readingCount != 0;
    }
}
