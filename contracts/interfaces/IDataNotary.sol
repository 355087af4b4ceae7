// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IDataNotary
 * @notice The types, errors, events and functions of {DataNotary}: the Merkle roots of batches of
 * signed readings, anchored so that anyone can later prove a reading was part of a batch.
 */
interface IDataNotary {
    /// @notice An anchored batch, packed into one storage slot.
    struct Anchor {
        uint40 batchId;
        uint40 anchoredAt;
        uint48 blockNumber;
        uint32 readingCount;
        uint48 firstTimestamp;
        uint48 lastTimestamp;
    }

    /// @notice The root is zero.
    error DataNotaryZeroRoot();
    /// @notice The batch holds no readings.
    error DataNotaryEmptyBatch();
    /// @notice The batch's first timestamp is after its last.
    error DataNotaryInvalidTimeRange(uint64 firstTimestamp, uint64 lastTimestamp);
    /// @notice The root was already anchored, as batch `batchId`.
    error DataNotaryRootAlreadyAnchored(bytes32 root, uint256 batchId);
    /// @notice No batch has this root.
    error DataNotaryUnknownRoot(bytes32 root);
    /// @notice The content id is longer than the log's leaf encoding allows (65,535 bytes).
    error DataNotaryContentIdTooLong(uint256 length);

    /// @notice Emitted when a batch root is anchored; `contentId` names the batch payload.
    event BatchAnchored(
        uint256 indexed batchId,
        bytes32 indexed root,
        address indexed anchorer,
        uint64 readingCount,
        uint64 firstTimestamp,
        uint64 lastTimestamp,
        string contentId
    );

    /**
     * @notice Anchors the Merkle `root` of a batch of `readingCount` readings whose timestamps span
     * `firstTimestamp` to `lastTimestamp`; `contentId` names the batch payload in a content store.
     * @dev Requirements: the caller has ANCHORER_ROLE; the root is non-zero and new; the batch is
     * non-empty, its time range is ordered and its content id at most 65,535 bytes long. The batch
     * is appended to the transparency log as leaf `batchId` (see {logHead}). Emits {BatchAnchored}.
     * @return batchId The id of the new batch, counting from zero.
     */
    function anchor(
        bytes32 root,
        uint32 readingCount,
        uint48 firstTimestamp,
        uint48 lastTimestamp,
        string calldata contentId
    ) external returns (uint256 batchId);

    /// @notice Returns true when `root` is anchored and `proof` proves `leaf` under it.
    function verify(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);

    /**
     * @notice Returns true when `root` is anchored and the OpenZeppelin multiproof (`proof`,
     * `proofFlags`) proves all of `leaves` under it at once.
     * @dev An empty `leaves` proves nothing and returns false (OpenZeppelin's library would accept
     * `proof = [root]` for it). A malformed proof reverts with `MerkleProofInvalidMultiproof`.
     */
    function verifyMulti(
        bytes32 root,
        bytes32[] calldata leaves,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external view returns (bool);

    /// @notice Returns the number of anchored batches.
    function batchCount() external view returns (uint256);

    /**
     * @notice Returns the head of the transparency log over every anchored batch: its size (the
     * number of batches) and its RFC 9162 root (SHA-256; empty tree: SHA-256 of nothing).
     * @dev Leaf `i` is batch `i`; its data is `0x01 || uint64 batchId || root || uint64 readingCount
     * || uint64 firstTimestamp || uint64 lastTimestamp || uint16 length || contentId` (docs/transparency-log.md).
     * The contract appends each leaf itself, so every head extends the one before it.
     */
    function logHead() external view returns (uint256 size, bytes32 root);

    /// @notice Returns whether `root` is anchored.
    function isAnchored(bytes32 root) external view returns (bool);

    /**
     * @notice Returns the anchor of `root`: batch id, time, block, reading count and time range.
     * @dev Reverts with {DataNotaryUnknownRoot} when the root is not anchored.
     */
    function getAnchor(bytes32 root) external view returns (Anchor memory);

    /**
     * @notice Returns the id of the batch anchored with `root`.
     * @dev Reverts with {DataNotaryUnknownRoot} when the root is not anchored.
     */
    function batchIdOf(bytes32 root) external view returns (uint256);
}
