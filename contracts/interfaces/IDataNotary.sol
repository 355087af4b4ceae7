// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IDataNotary
 * @notice The types, errors, events and functions of {DataNotary}: the Merkle roots of batches of
 * signed readings, anchored so that anyone can later prove a reading was part of a batch.
 */
interface IDataNotary {
    /// @notice A batch recorded for on-chain checks ({recordAnchor}), packed into one storage slot.
    struct Record {
        uint40 batchId;
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
    /// @notice The anchor was sent as batch `batchId`, but the log's next batch is `next`.
    error DataNotaryNotNextBatch(uint256 batchId, uint256 next);
    /// @notice No batch with this root has been recorded ({recordAnchor}).
    error DataNotaryNotRecorded(bytes32 root);
    /// @notice The leaf data and path given are not leaf `batchId` of the log under a frontier node.
    error DataNotaryNotInLog(uint256 batchId);
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

    /// @notice Emitted when anchored batch `batchId` is recorded for on-chain checks of its `root`.
    event AnchorRecorded(uint256 indexed batchId, bytes32 indexed root);

    /**
     * @notice Anchors the Merkle `root` of a batch of `readingCount` readings whose timestamps span
     * `firstTimestamp` to `lastTimestamp`; `contentId` names the batch payload in a content store.
     * @dev Requirements: the caller has ANCHORER_ROLE; the root is non-zero; the batch is
     * non-empty, its time range is ordered and its content id at most 65,535 bytes long. The batch
     * is appended to the transparency log as leaf `batchId` (see {logHead}); nothing is stored per
     * batch, so a root is not refused for having been anchored before (its earliest batch is the
     * one that dates it). Emits {BatchAnchored}.
     * @return batchId The id of the new batch, counting from zero.
     */
    function anchor(
        bytes32 root,
        uint32 readingCount,
        uint48 firstTimestamp,
        uint48 lastTimestamp,
        string calldata contentId
    ) external returns (uint256 batchId);

    /**
     * @notice Anchors a batch as {anchor} does, only as batch `batchId`: it must be the log's next
     * batch. An anchorer that sends with the id it saw cannot append a root twice: of two anchors
     * sent against the same log (a retry, or a transaction a reorg put back into the pool), one
     * lands and the other reverts.
     * @dev Reverts with {DataNotaryNotNextBatch} when `batchId` is not {batchCount}; otherwise as
     * {anchor}. Emits {BatchAnchored}.
     */
    function anchorAs(
        uint256 batchId,
        bytes32 root,
        uint32 readingCount,
        uint48 firstTimestamp,
        uint48 lastTimestamp,
        string calldata contentId
    ) external returns (uint256);

    /**
     * @notice Records anchored batch `batchId` so that contracts can check its readings
     * ({verify}, {verifyMulti}). Anyone may call it: the batch's leaf data (as {BatchAnchored} gave
     * it) must be leaf `batchId` of the log, proven by `logPath`, its siblings bottom up, to the
     * subtree of 2^logPath.length leaves that {logFrontier} holds at that height and that holds
     * `batchId`. A node there is replaced when a later subtree of its height completes, so a path
     * is built against the log as it is and may have to be built again if batches land before it.
     * @dev A root already recorded from an earlier batch is left as it is, without a revert.
     * Reverts with {DataNotaryNotInLog} when the leaf is not proven. Emits {AnchorRecorded}.
     */
    function recordAnchor(
        uint256 batchId,
        bytes32 root,
        uint32 readingCount,
        uint48 firstTimestamp,
        uint48 lastTimestamp,
        string calldata contentId,
        bytes32[] calldata logPath
    ) external;

    /// @notice Returns true when `root` is recorded and `proof` proves `leaf` under it.
    function verify(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);

    /**
     * @notice Returns true when `root` is recorded and the OpenZeppelin multiproof (`proof`,
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

    /// @notice Returns the frontier node at `height`: the root of the last complete subtree of
    /// 2^height leaves that is a left child (zero before there is one, or past the highest height).
    function logFrontier(uint256 height) external view returns (bytes32);

    /// @notice Returns whether `root` is recorded for on-chain checks ({recordAnchor}).
    function isRecorded(bytes32 root) external view returns (bool);

    /**
     * @notice Returns the record of `root`: its batch id, reading count and time range.
     * @dev Reverts with {DataNotaryNotRecorded} when the root is not recorded.
     */
    function getRecord(bytes32 root) external view returns (Record memory);
}
