// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BN254} from "../BN254.sol";
import {IAssetToken} from "./IAssetToken.sol";
import {IDataNotary} from "./IDataNotary.sol";
import {IDeviceRegistry} from "./IDeviceRegistry.sol";
import {IShipmentEscrow} from "./IShipmentEscrow.sol";
import {ISupplyChain} from "./ISupplyChain.sol";

/**
 * @title ISensorOracle
 * @notice The types, errors, events and functions of {SensorOracle}: sensor rules on items and
 * devices, fired on signed, anchored readings anyone submits (threshold rules) or on reports a
 * quorum of the oracle committee signs, with ECDSA or one aggregate BLS signature (heartbeat and
 * aggregate rules); a rule fires at most once and runs its actions in that transaction.
 */
interface ISensorOracle {
    /// @notice What a rule watches.
    enum RuleKind {
        Threshold,
        Heartbeat,
        Aggregate
    }

    /// @notice When a value breaches a rule: above `upper`, below `lower`, or outside [lower, upper].
    enum Comparison {
        Above,
        Below,
        Outside
    }

    /// @notice How a report was proven.
    enum Path {
        Evidence,
        CommitteeEcdsa,
        CommitteeBls
    }

    /// @notice Why {OracleInvalidRule} refused a rule's parameters.
    enum RuleProblem {
        NoTarget, // neither an item nor a device
        DeviceRuleWithActions, // a device-only rule (no item) has actions
        UnknownAction, // an action bit beyond the three known ones
        SettlingWithoutMarking, // settling the escrow without marking the item out of compliance
        NoSilenceLimit, // a heartbeat rule's silence limit (`upper`) is not positive
        NoMetric, // no metric
        NoUnit, // no unit
        LowerAboveUpper, // an `Outside` band whose lower bound is above its upper bound
        NoReadings, // a threshold rule's debounce asks for no reading
        NoWindow // an aggregate rule's window (`minDuration`) is zero
    }

    /// @notice A rule as its manager gives it.
    struct RuleParams {
        bytes32 itemId;
        bytes32 deviceId;
        string metric;
        string unit;
        RuleKind kind;
        Comparison comparison;
        int256 lower;
        int256 upper;
        int8 scale;
        uint32 minReadings;
        uint32 minDuration;
        uint8 actions;
    }

    /// @notice A rule as stored.
    struct Rule {
        bytes32 itemId;
        bytes32 deviceId;
        bytes32 metricHash;
        bytes32 unitHash;
        int256 lower;
        int256 upper;
        int8 scale;
        uint32 minReadings;
        uint32 minDuration;
        uint8 actions;
        RuleKind kind;
        Comparison comparison;
        bool active;
        uint40 createdAt;
        uint40 firedAt;
        uint16 protections;
    }

    /// @notice A reading with its device signature and its Merkle proof under an anchored root.
    struct SignedReading {
        IDeviceRegistry.Reading reading;
        bytes signature;
        bytes32 root;
        bytes32[] proof;
    }

    /**
     * @notice What a committee observed. Heartbeat: the device's last reading was at
     * `windowStart`, and none came until `observedAt`. Aggregate: `value` over the readings taken
     * from `windowStart` to `observedAt`.
     */
    struct CommitteeReport {
        uint256 ruleId;
        bytes32 deviceId;
        int256 value;
        uint64 windowStart;
        uint64 observedAt;
        uint32 configVersion;
    }

    /// @notice A committee member: its ECDSA address and the G1 half of its BLS key.
    struct Member {
        address signer;
        BN254.G1Point blsKey;
    }

    /// @notice No rule has id `ruleId`.
    error OracleUnknownRule(uint256 ruleId);
    /// @notice The rule was disabled.
    error OracleRuleDisabled(uint256 ruleId);
    /// @notice The rule fired already: this breach was acted on.
    error OracleRuleAlreadyFired(uint256 ruleId);
    /// @notice The report's path does not suit the rule's kind.
    error OracleWrongPath(uint256 ruleId, RuleKind kind);
    /// @notice The rule's parameters are invalid, for `problem`.
    error OracleInvalidRule(RuleProblem problem);
    /// @notice The item does not exist, or is no longer active.
    error OracleItemNotActive(bytes32 itemId);
    /// @notice The device is not registered.
    error OracleUnknownDevice(bytes32 deviceId);
    /// @notice The caller may not manage rules of the item (its manufacturer or an admin may).
    error OracleNotRuleManager(bytes32 itemId, address account);
    /// @notice The report is about another device than the rule's.
    error OracleWrongDevice(uint256 ruleId, bytes32 deviceId);
    /// @notice The readings are too few or span too short a time for the rule's debounce.
    error OracleDebounceNotMet(uint256 ruleId, uint256 readings, uint256 duration);
    /// @notice Reading `index` is from another device than the first.
    error OracleMixedDevices(uint256 index);
    /// @notice Reading `index` does not follow the previous one in its device's sequence.
    error OracleNotConsecutive(uint256 index, uint64 sequence);
    /// @notice The first reading is of another metric than the rule's.
    error OracleWrongMetric(uint256 index);
    /// @notice Reading `index` is of the rule's metric in another unit or scale than the rule's:
    /// `unitHash` is the keccak256 of the reading's unit, `scale` its scale.
    error OracleUnitMismatch(uint256 index, bytes32 unitHash, int8 scale);
    /// @notice Reading `index` was taken before the rule existed (a replayed reading) or before
    /// the previous reading.
    error OracleStaleReading(uint256 index, uint64 timestamp);
    /// @notice The stretch's last reading is dated after the block time plus {CLOCK_TOLERANCE}: a
    /// reading cannot be evidence before the time it claims to have been taken.
    error OracleReadingFromTheFuture(uint64 timestamp, uint256 blockTime);
    /// @notice The device was not attached to the rule's item all the time from `from` to `to`.
    error OracleNotAttachedThen(bytes32 itemId, bytes32 deviceId, uint64 from, uint64 to);
    /// @notice An open escrow relies on the rule: it cannot be disabled now.
    error OracleRuleProtected(uint256 ruleId);
    /// @notice The rule cannot protect an escrow of the item (another item's, disabled, fired, or
    /// not marking the item).
    error OracleCannotProtect(uint256 ruleId, bytes32 itemId);
    /// @notice `caller` is not the escrow contract.
    error OracleNotEscrow(address caller);
    /// @notice The value does not breach the rule.
    error OracleNoBreach(uint256 ruleId, int256 value);
    /// @notice Reading `index`'s signature is not by its device's key valid at its timestamp.
    error OracleInvalidSignature(uint256 index);
    /// @notice The reading's leaf is not proven under `root`, or `root` was never anchored.
    error OracleNotAnchored(bytes32 root, bytes32 leaf);
    /// @notice The committee report was signed for another committee version.
    error OracleStaleCommittee(uint32 reportVersion, uint32 currentVersion);
    /// @notice The committee report's times are inconsistent, before the rule or in the future
    /// (beyond {CLOCK_TOLERANCE}).
    error OracleInvalidReportTime(uint64 windowStart, uint64 observedAt);
    /// @notice No committee is configured (quorum zero).
    error OracleNoCommittee();
    /// @notice `count` valid signatures, `quorum` needed.
    error OracleQuorumNotMet(uint256 count, uint256 quorum);
    /// @notice A signature is by `signer`, who is not a committee member.
    error OracleNotMember(address signer);
    /// @notice ECDSA signatures must come ordered by signer address, each signer once.
    error OracleSignersNotSorted(address signer);
    /// @notice The signer map names a member position beyond the committee.
    error OracleUnknownSigners(uint256 signerMap);
    /// @notice The aggregate BLS signature does not verify.
    error OracleInvalidAggregateSignature();
    /// @notice `signer` is a member already.
    error OracleMemberExists(address signer);
    /// @notice The committee has `MAX_MEMBERS` members.
    error OracleCommitteeFull();
    /// @notice The BLS key is not a valid G1 point.
    error OracleInvalidBlsKey(address signer);
    /// @notice The proof of possession of the BLS key does not verify.
    error OracleInvalidProofOfPossession(address signer);
    /// @notice The quorum must be between 1 and the number of members.
    error OracleInvalidQuorum(uint256 quorum, uint256 members);

    /// @notice Rule `ruleId` was added by `manager`.
    event RuleAdded(uint256 indexed ruleId, address indexed manager, RuleParams rule);
    /// @notice Rule `ruleId` was disabled by `actor`.
    event RuleDisabled(uint256 indexed ruleId, address indexed actor);
    /**
     * @notice Rule `ruleId` fired on report `reportId`, submitted by `submitter`: `value` observed
     * at `observedAt` (the first breaching reading's, or the committee's); `actions` ran.
     */
    event RuleFired(
        uint256 indexed ruleId,
        bytes32 indexed itemId,
        bytes32 indexed deviceId,
        bytes32 reportId,
        Path path,
        int256 value,
        uint64 observedAt,
        uint8 actions,
        bytes32 evidenceRoot,
        address submitter
    );
    /// @notice `signer` joined the committee at `position` with BLS key `blsKey` (G1 then G2, 6 words).
    event CommitteeMemberAdded(address indexed signer, uint256 position, bytes blsKey, uint32 configVersion);
    /// @notice `signer` left the committee.
    event CommitteeMemberRemoved(address indexed signer, uint32 configVersion);
    /// @notice The quorum changed.
    event QuorumChanged(uint8 quorum, uint32 configVersion);

    /// @notice The device registry that verifies readings' signatures.
    function registry() external view returns (IDeviceRegistry);

    /// @notice The notary that anchors batch roots.
    function notary() external view returns (IDataNotary);

    /// @notice The supply chain whose items rules watch.
    function supplyChain() external view returns (ISupplyChain);

    /// @notice The items' asset tokens.
    function assetToken() external view returns (IAssetToken);

    /// @notice The items' payment escrows.
    function escrow() external view returns (IShipmentEscrow);

    /// @notice Signatures a committee report needs.
    function quorum() external view returns (uint8);

    /// @notice Version of the committee (members and quorum), bumped on every change.
    function configVersion() external view returns (uint32);

    /**
     * @notice Adds a rule; it watches readings taken from now on.
     * @dev Requirements: for an item rule, the item is active and the caller is its manufacturer
     * or an admin; a device-only rule (item zero) is an admin's, on a registered device, and has
     * no actions (it only emits {RuleFired}); parameters suit the kind. Emits {RuleAdded}.
     * @return ruleId The new rule's id (from 1).
     */
    function addRule(RuleParams calldata params) external returns (uint256 ruleId);

    /**
     * @notice Disables rule `ruleId`: it can no longer fire.
     * @dev Requirements: the rule's item's manufacturer or an admin; the rule is active; no open
     * escrow relies on it. Emits {RuleDisabled}.
     */
    function disableRule(uint256 ruleId) external;

    /**
     * @notice Makes rules `ruleIds` protect an escrow of item `itemId` that opens: until
     * {unprotect}, they cannot be disabled and the devices they watch cannot be detached.
     * @dev Requirements: the caller is the escrow contract; each rule is of the item, active, has
     * not fired, and marks the item out of compliance when it fires (which refunds the escrow).
     */
    function protect(bytes32 itemId, uint256[] calldata ruleIds) external;

    /**
     * @notice Ends the protection of item `itemId`'s escrow by rules `ruleIds` (it settled).
     * @dev Requirements: the caller is the escrow contract, which protected them with {protect}.
     */
    function unprotect(bytes32 itemId, uint256[] calldata ruleIds) external;

    /**
     * @notice Fires threshold rule `ruleId` on `readings`: consecutive readings of one device,
     * each signed by the device and proven under an anchored batch root, where every reading of
     * the rule's metric breaches the rule (readings of the device's other metrics may sit between
     * them). Anyone may submit.
     * @dev Requirements: an active threshold rule that has not fired; the readings are of the
     * rule's device (or of a device of its item), consecutive in the device's sequence, in time
     * order, taken after the rule was added and inside one attachment period of the device to the
     * item; the first is of the rule's metric; every reading of the metric is in the rule's unit and
     * scale, breaches it, and they are as many and span as long as the debounce asks.
     * Emits {RuleFired} and the events of the rule's actions.
     * @return reportId The report's id, from the rule, device and first reading's sequence.
     */
    function submitEvidence(uint256 ruleId, SignedReading[] calldata readings) external returns (bytes32 reportId);

    /**
     * @notice Fires heartbeat or aggregate rule `report.ruleId` on a committee report with one
     * ECDSA signature of {committeeDigest} per member, ordered by signer address.
     * @dev Requirements: an active heartbeat or aggregate rule that has not fired; the report is
     * for the current committee, breaches the rule, and has a quorum of member signatures.
     * Emits {RuleFired} and the events of the rule's actions.
     * @return reportId The report's EIP-712 digest.
     */
    function submitCommitteeEcdsa(
        CommitteeReport calldata report,
        bytes[] calldata signatures
    ) external returns (bytes32 reportId);

    /**
     * @notice Fires heartbeat or aggregate rule `report.ruleId` on a committee report with one BLS
     * signature aggregated over the members in `signerMap` (bit i: member i), whose G2 keys add up
     * to `signersKeyG2`.
     * @dev Requirements: as {submitCommitteeEcdsa}; the aggregate signature verifies under the sum
     * of the signers' registered keys. Emits {RuleFired} and the events of the rule's actions.
     * @return reportId The report's EIP-712 digest.
     */
    function submitCommitteeBls(
        CommitteeReport calldata report,
        uint256 signerMap,
        BN254.G2Point calldata signersKeyG2,
        BN254.G1Point calldata signature
    ) external returns (bytes32 reportId);

    /**
     * @notice Adds `signer` to the committee with BLS key (`blsKeyG1`, `blsKeyG2`), proven by
     * `proofOfPossession`: the key's signature of {popMessage}(signer, blsKeyG1).
     * @dev Requirements: DEFAULT_ADMIN_ROLE; a new signer; room in the committee; a valid key and
     * proof. Bumps `configVersion`. Emits {CommitteeMemberAdded}.
     */
    function addMember(
        address signer,
        BN254.G1Point calldata blsKeyG1,
        BN254.G2Point calldata blsKeyG2,
        BN254.G1Point calldata proofOfPossession
    ) external;

    /**
     * @notice Removes `signer` from the committee; the last member takes its position.
     * @dev Requirements: DEFAULT_ADMIN_ROLE; a member; the quorum stays reachable.
     * Bumps `configVersion`. Emits {CommitteeMemberRemoved}.
     */
    function removeMember(address signer) external;

    /**
     * @notice Sets how many member signatures a committee report needs.
     * @dev Requirements: DEFAULT_ADMIN_ROLE; 1 <= `newQuorum` <= members. Bumps `configVersion`.
     * Emits {QuorumChanged}.
     */
    function setQuorum(uint8 newQuorum) external;

    /// @notice The EIP-712 digest committee members sign for `report`.
    function committeeDigest(CommitteeReport calldata report) external view returns (bytes32);

    /// @notice The message whose BLS signature proves possession of `blsKeyG1` for `signer`.
    function popMessage(address signer, BN254.G1Point calldata blsKeyG1) external view returns (bytes32);

    /// @notice Rule `ruleId`.
    function getRule(uint256 ruleId) external view returns (Rule memory);

    /// @notice How many rules were added (ids run from 1 to this).
    function ruleCount() external view returns (uint256);

    /// @notice The committee's members, in position order.
    function members() external view returns (Member[] memory);
}
