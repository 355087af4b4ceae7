// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {AssetToken} from "./AssetToken.sol";
import {BN254} from "./BN254.sol";
import {DeviceRegistry} from "./DeviceRegistry.sol";
import {ReadingLeaf} from "./ReadingLeaf.sol";
import {ShipmentEscrow} from "./ShipmentEscrow.sol";
import {IReadingNotary, SupplyChain} from "./SupplyChain.sol";

/**
 * @title SensorOracle
 * @notice Sensor rules on items and devices, and the reports that fire them.
 *
 * A rule names an item (and optionally one of its devices) or a device, a metric with its unit and
 * scale, a comparison with thresholds, a debounce, and actions: mark the item out of compliance in {SupplyChain},
 * freeze its {AssetToken}, settle its {ShipmentEscrow} (a refund, once the item is out of
 * compliance). Rules are managed by the item's manufacturer or an admin. A rule fires at most once;
 * its actions run in the transaction that fires it.
 *
 * Threshold rules fire on evidence anyone can submit: consecutive signed readings of one device,
 * in time order, taken after the rule was added and inside one period the device was attached to
 * the item, all crossing the threshold, each proven under a batch root anchored in the notary,
 * spanning the debounce (a number of readings and a duration). A reading of the rule's metric in
 * another unit or scale is refused, never skipped. Nothing about them is taken on trust.
 *
 * An escrow names the rules that protect it when it opens ({protect}): until it settles they
 * cannot be disabled, and the devices they watch cannot be detached from the item.
 *
 * Heartbeat rules (a device silent for longer than a limit) and aggregate rules (a value computed
 * over a window of readings) cannot be shown with readings, so a committee of oracle keys signs
 * a report of what it observed and the contract needs a quorum of them: either one ECDSA signature
 * per member, or one BLS signature over BN254 aggregated off chain, checked with one pairing call
 * whatever the committee's size. Members register a BLS key with a proof of possession of it, so
 * no member can choose a key that cancels others' (a rogue-key attack). A committee change bumps
 * `configVersion`, which reports are signed over: signatures made for an older committee do not
 * count.
 */
contract SensorOracle is AccessControl, EIP712 {
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

    /// @notice Action bit: mark the item out of compliance (with the first reading as evidence).
    uint8 public constant ACTION_MARK_OUT_OF_COMPLIANCE = 1;
    /// @notice Action bit: freeze the item's asset token, when it has one.
    uint8 public constant ACTION_FREEZE_TOKEN = 2;
    /// @notice Action bit: settle the item's escrow (a refund), when it has one.
    uint8 public constant ACTION_SETTLE_ESCROW = 4;
    /// @notice The largest committee (members are bits of a 256-bit map).
    uint256 public constant MAX_MEMBERS = 255;
    /// @notice How far a committee report's `observedAt` may run ahead of the block's timestamp:
    /// the members' clocks against the last block (gas estimates run on it) or a slow chain.
    uint64 public constant CLOCK_TOLERANCE = 60;

    /// @notice EIP-712 type of the reports committees sign.
    bytes32 public constant COMMITTEE_REPORT_TYPEHASH =
        keccak256(
            "CommitteeReport(uint256 ruleId,bytes32 deviceId,int256 value,uint64 windowStart,uint64 observedAt,uint32 configVersion)"
        );
    /// @notice Domain of the hash to G1 of report digests signed with BLS.
    bytes32 public constant BLS_REPORT_DOMAIN = keccak256("provenance-ledger/bls/report/v1");
    /// @notice Domain of the hash to G1 of the messages that prove possession of a BLS key.
    bytes32 public constant BLS_POP_DOMAIN = keccak256("provenance-ledger/bls/pop/v1");

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
        DeviceRegistry.Reading reading;
        bytes signature;
        bytes32 root;
        bytes32[] proof;
    }

    /// @notice The batch root and leaf of a report's first reading (zero for committee reports).
    struct Proven {
        bytes32 root;
        bytes32 leaf;
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

    /// @notice The device registry that verifies readings' signatures.
    DeviceRegistry public immutable registry;
    /// @notice The notary that anchors batch roots.
    IReadingNotary public immutable notary;
    /// @notice The supply chain whose items rules watch.
    SupplyChain public immutable supplyChain;
    /// @notice The items' asset tokens.
    AssetToken public immutable assetToken;
    /// @notice The items' payment escrows.
    ShipmentEscrow public immutable escrow;

    Rule[] private _rules;
    Member[] private _members;
    mapping(address signer => uint256) private _memberPosition; // index + 1; 0: not a member
    BN254.G1Point private _committeeKey; // sum of the members' G1 keys

    /// @notice Signatures a committee report needs.
    uint8 public quorum;
    /// @notice Version of the committee (members and quorum), bumped on every change.
    uint32 public configVersion;

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

    /**
     * @param admin Account that receives the admin role.
     * @param registry_ The device registry.
     * @param notary_ The notary.
     * @param supplyChain_ The supply chain (which must bind this contract as its oracle).
     * @param assetToken_ The asset tokens (this contract needs FREEZER_ROLE to freeze).
     * @param escrow_ The escrows (the only caller of {protect} and {unprotect}).
     */
    constructor(
        address admin,
        DeviceRegistry registry_,
        IReadingNotary notary_,
        SupplyChain supplyChain_,
        AssetToken assetToken_,
        ShipmentEscrow escrow_
    ) EIP712("SensorOracle", "1") {
        registry = registry_;
        notary = notary_;
        supplyChain = supplyChain_;
        assetToken = assetToken_;
        escrow = escrow_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------------------------------- rules

    /**
     * @notice Adds a rule; it watches readings taken from now on.
     * @dev Requirements: for an item rule, the item is active and the caller is its manufacturer
     * or an admin; a device-only rule (item zero) is an admin's, on a registered device, and has
     * no actions (it only emits {RuleFired}); parameters suit the kind. Emits {RuleAdded}.
     * @return ruleId The new rule's id (from 1).
     */
    function addRule(RuleParams calldata params) external returns (uint256 ruleId) {
        if (params.itemId != bytes32(0)) {
            (SupplyChain.Status status, ) = supplyChain.stateOf(params.itemId);
            if (status != SupplyChain.Status.Active) revert OracleItemNotActive(params.itemId);
            _checkManager(params.itemId);
        } else {
            _checkRole(DEFAULT_ADMIN_ROLE);
            if (params.deviceId == bytes32(0)) revert OracleInvalidRule(RuleProblem.NoTarget);
            if (params.actions != 0) revert OracleInvalidRule(RuleProblem.DeviceRuleWithActions);
        }
        if (params.deviceId != bytes32(0) && !registry.isRegistered(params.deviceId)) {
            revert OracleUnknownDevice(params.deviceId);
        }
        _validate(params);
        _rules.push(
            Rule({
                itemId: params.itemId,
                deviceId: params.deviceId,
                metricHash: keccak256(bytes(params.metric)),
                unitHash: keccak256(bytes(params.unit)),
                lower: params.lower,
                upper: params.upper,
                scale: params.scale,
                minReadings: params.minReadings,
                minDuration: params.minDuration,
                actions: params.actions,
                kind: params.kind,
                comparison: params.comparison,
                active: true,
                createdAt: uint40(block.timestamp),
                firedAt: 0,
                protections: 0
            })
        );
        ruleId = _rules.length;
        emit RuleAdded(ruleId, _msgSender(), params);
    }

    /**
     * @notice Disables rule `ruleId`: it can no longer fire.
     * @dev Requirements: the rule's item's manufacturer or an admin; the rule is active; no open
     * escrow relies on it. Emits {RuleDisabled}.
     */
    function disableRule(uint256 ruleId) external {
        Rule storage rule = _rule(ruleId);
        if (rule.itemId == bytes32(0)) _checkRole(DEFAULT_ADMIN_ROLE);
        else _checkManager(rule.itemId);
        if (!rule.active) revert OracleRuleDisabled(ruleId);
        if (rule.protections != 0) revert OracleRuleProtected(ruleId);
        rule.active = false;
        emit RuleDisabled(ruleId, _msgSender());
    }

    /**
     * @notice Makes rules `ruleIds` protect an escrow of item `itemId` that opens: until
     * {unprotect}, they cannot be disabled and the devices they watch cannot be detached.
     * @dev Requirements: the caller is the escrow contract; each rule is of the item, active, has
     * not fired, and marks the item out of compliance when it fires (which refunds the escrow).
     */
    function protect(bytes32 itemId, uint256[] calldata ruleIds) external {
        if (_msgSender() != address(escrow)) revert OracleNotEscrow(_msgSender());
        for (uint256 i = 0; i < ruleIds.length; ++i) {
            Rule storage rule = _rule(ruleIds[i]);
            if (
                rule.itemId != itemId ||
                !rule.active ||
                rule.firedAt != 0 ||
                rule.actions & ACTION_MARK_OUT_OF_COMPLIANCE == 0
            ) revert OracleCannotProtect(ruleIds[i], itemId);
            ++rule.protections;
            supplyChain.setDetachLock(itemId, rule.deviceId, true);
        }
    }

    /**
     * @notice Ends the protection of item `itemId`'s escrow by rules `ruleIds` (it settled).
     * @dev Requirements: the caller is the escrow contract, which protected them with {protect}.
     */
    function unprotect(bytes32 itemId, uint256[] calldata ruleIds) external {
        if (_msgSender() != address(escrow)) revert OracleNotEscrow(_msgSender());
        for (uint256 i = 0; i < ruleIds.length; ++i) {
            Rule storage rule = _rule(ruleIds[i]);
            --rule.protections;
            supplyChain.setDetachLock(itemId, rule.deviceId, false);
        }
    }

    // ------------------------------------------------------------------------------------- reports

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
    function submitEvidence(uint256 ruleId, SignedReading[] calldata readings) external returns (bytes32 reportId) {
        Rule storage rule = _firable(ruleId);
        if (rule.kind != RuleKind.Threshold) revert OracleWrongPath(ruleId, rule.kind);
        if (readings.length == 0) revert OracleDebounceNotMet(ruleId, 0, 0);
        DeviceRegistry.Reading calldata first = readings[0].reading;
        _checkDevice(ruleId, rule, first.deviceId);
        (uint256 matching, uint64 lastAt, Proven memory evidence) = _checkStretch(ruleId, rule, readings);
        uint64 lastTimestamp = readings[readings.length - 1].reading.timestamp; // the latest: never decreasing
        if (lastTimestamp > block.timestamp + CLOCK_TOLERANCE) revert OracleReadingFromTheFuture(lastTimestamp, block.timestamp);
        _checkAttached(rule, first.deviceId, first.timestamp, lastTimestamp);
        uint256 duration = lastAt - first.timestamp;
        if (matching < rule.minReadings || duration < rule.minDuration) {
            revert OracleDebounceNotMet(ruleId, matching, duration);
        }
        reportId = keccak256(abi.encode(block.chainid, address(this), ruleId, first.deviceId, first.sequence));
        _fire(ruleId, rule, first.deviceId, reportId, Path.Evidence, first.value, first.timestamp, evidence);
    }

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
    ) external returns (bytes32 reportId) {
        Rule storage rule = _checkCommitteeReport(report);
        reportId = committeeDigest(report);
        address previous;
        for (uint256 i = 0; i < signatures.length; ++i) {
            address signer = ECDSA.recover(reportId, signatures[i]);
            if (_memberPosition[signer] == 0) revert OracleNotMember(signer);
            if (signer <= previous) revert OracleSignersNotSorted(signer);
            previous = signer;
        }
        if (signatures.length < quorum) revert OracleQuorumNotMet(signatures.length, quorum);
        _fireCommittee(report, rule, reportId, Path.CommitteeEcdsa);
    }

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
    ) external returns (bytes32 reportId) {
        Rule storage rule = _checkCommitteeReport(report);
        uint256 members = _members.length;
        if (signerMap >> members != 0) revert OracleUnknownSigners(signerMap);
        BN254.G1Point memory signersKey = _committeeKey;
        uint256 count;
        for (uint256 i = 0; i < members; ++i) {
            if (signerMap & (1 << i) != 0) ++count;
            else signersKey = BN254.add(signersKey, BN254.neg(_members[i].blsKey));
        }
        if (count < quorum) revert OracleQuorumNotMet(count, quorum);
        reportId = committeeDigest(report);
        BN254.G1Point memory message = BN254.hashToG1(BLS_REPORT_DOMAIN, reportId);
        if (!BN254.verify(message, signersKey, signersKeyG2, signature)) revert OracleInvalidAggregateSignature();
        _fireCommittee(report, rule, reportId, Path.CommitteeBls);
    }

    // ----------------------------------------------------------------------------------- committee

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
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (signer == address(0) || _memberPosition[signer] != 0) revert OracleMemberExists(signer);
        if (_members.length >= MAX_MEMBERS) revert OracleCommitteeFull();
        if (!BN254.isOnCurve(blsKeyG1) || (blsKeyG1.x == 0 && blsKeyG1.y == 0)) revert OracleInvalidBlsKey(signer);
        BN254.G1Point memory message = BN254.hashToG1(BLS_POP_DOMAIN, popMessage(signer, blsKeyG1));
        if (!BN254.verify(message, blsKeyG1, blsKeyG2, proofOfPossession)) revert OracleInvalidProofOfPossession(signer);
        _members.push(Member(signer, blsKeyG1));
        _memberPosition[signer] = _members.length;
        _committeeKey = BN254.add(_committeeKey, blsKeyG1);
        uint32 version = ++configVersion;
        emit CommitteeMemberAdded(
            signer,
            _members.length - 1,
            abi.encodePacked(blsKeyG1.x, blsKeyG1.y, blsKeyG2.x, blsKeyG2.y),
            version
        );
    }

    /**
     * @notice Removes `signer` from the committee; the last member takes its position.
     * @dev Requirements: DEFAULT_ADMIN_ROLE; a member; the quorum stays reachable.
     * Bumps `configVersion`. Emits {CommitteeMemberRemoved}.
     */
    function removeMember(address signer) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 position = _memberPosition[signer];
        if (position == 0) revert OracleNotMember(signer);
        uint256 remaining = _members.length - 1;
        if (remaining < quorum) revert OracleInvalidQuorum(quorum, remaining);
        Member memory leaving = _members[position - 1];
        if (position - 1 != remaining) {
            Member memory moved = _members[remaining];
            _members[position - 1] = moved;
            _memberPosition[moved.signer] = position;
        }
        _members.pop();
        delete _memberPosition[signer];
        _committeeKey = BN254.add(_committeeKey, BN254.neg(leaving.blsKey));
        uint32 version = ++configVersion;
        emit CommitteeMemberRemoved(signer, version);
    }

    /**
     * @notice Sets how many member signatures a committee report needs.
     * @dev Requirements: DEFAULT_ADMIN_ROLE; 1 <= `newQuorum` <= members. Bumps `configVersion`.
     * Emits {QuorumChanged}.
     */
    function setQuorum(uint8 newQuorum) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newQuorum == 0 || newQuorum > _members.length) revert OracleInvalidQuorum(newQuorum, _members.length);
        quorum = newQuorum;
        uint32 version = ++configVersion;
        emit QuorumChanged(newQuorum, version);
    }

    // --------------------------------------------------------------------------------------- views

    /// @notice The EIP-712 digest committee members sign for `report`.
    function committeeDigest(CommitteeReport calldata report) public view returns (bytes32) {
        return
            _hashTypedDataV4(
                keccak256(
                    abi.encode(
                        COMMITTEE_REPORT_TYPEHASH,
                        report.ruleId,
                        report.deviceId,
                        report.value,
                        report.windowStart,
                        report.observedAt,
                        report.configVersion
                    )
                )
            );
    }

    /// @notice The message whose BLS signature proves possession of `blsKeyG1` for `signer`.
    function popMessage(address signer, BN254.G1Point calldata blsKeyG1) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), signer, blsKeyG1.x, blsKeyG1.y));
    }

    /// @notice Rule `ruleId`.
    function getRule(uint256 ruleId) external view returns (Rule memory) {
        return _rule(ruleId);
    }

    /// @notice How many rules were added (ids run from 1 to this).
    function ruleCount() external view returns (uint256) {
        return _rules.length;
    }

    /// @notice The committee's members, in position order.
    function members() external view returns (Member[] memory) {
        return _members;
    }

    // ------------------------------------------------------------------------------------ internals

    function _validate(RuleParams calldata params) private pure {
        if (params.actions > 7) revert OracleInvalidRule(RuleProblem.UnknownAction);
        if (params.actions & ACTION_SETTLE_ESCROW != 0 && params.actions & ACTION_MARK_OUT_OF_COMPLIANCE == 0) {
            revert OracleInvalidRule(RuleProblem.SettlingWithoutMarking);
        }
        if (params.kind == RuleKind.Heartbeat) {
            if (params.upper <= 0) revert OracleInvalidRule(RuleProblem.NoSilenceLimit);
            return;
        }
        if (bytes(params.metric).length == 0) revert OracleInvalidRule(RuleProblem.NoMetric);
        if (bytes(params.unit).length == 0) revert OracleInvalidRule(RuleProblem.NoUnit);
        if (params.comparison == Comparison.Outside && params.lower > params.upper) {
            revert OracleInvalidRule(RuleProblem.LowerAboveUpper);
        }
        if (params.kind == RuleKind.Threshold && params.minReadings == 0) {
            revert OracleInvalidRule(RuleProblem.NoReadings);
        }
        if (params.kind == RuleKind.Aggregate && params.minDuration == 0) {
            revert OracleInvalidRule(RuleProblem.NoWindow);
        }
    }

    function _checkManager(bytes32 itemId) private view {
        address caller = _msgSender();
        if (hasRole(DEFAULT_ADMIN_ROLE, caller)) return;
        if (supplyChain.getItem(itemId).manufacturer != caller) revert OracleNotRuleManager(itemId, caller);
    }

    function _rule(uint256 ruleId) private view returns (Rule storage) {
        if (ruleId == 0 || ruleId > _rules.length) revert OracleUnknownRule(ruleId);
        return _rules[ruleId - 1];
    }

    function _firable(uint256 ruleId) private view returns (Rule storage rule) {
        rule = _rule(ruleId);
        if (!rule.active) revert OracleRuleDisabled(ruleId);
        if (rule.firedAt != 0) revert OracleRuleAlreadyFired(ruleId);
    }

    function _checkDevice(uint256 ruleId, Rule storage rule, bytes32 deviceId) private view {
        if (rule.deviceId != bytes32(0) && deviceId != rule.deviceId) revert OracleWrongDevice(ruleId, deviceId);
    }

    /// @dev For an item rule: one attachment period of the device covers the time from `from` to `to`.
    function _checkAttached(Rule storage rule, bytes32 deviceId, uint64 from, uint64 to) private view {
        bytes32 itemId = rule.itemId;
        if (itemId != bytes32(0) && !supplyChain.attachedThroughout(itemId, deviceId, from, to)) {
            revert OracleNotAttachedThen(itemId, deviceId, from, to);
        }
    }

    function _breaches(Rule storage rule, int256 value) private view returns (bool) {
        Comparison comparison = rule.comparison;
        if (comparison == Comparison.Above) return value > rule.upper;
        if (comparison == Comparison.Below) return value < rule.lower;
        return value < rule.lower || value > rule.upper;
    }

    /**
     * @dev Checks a stretch of one device's consecutive readings, in time order and none older than
     * the rule: each reading of the rule's metric is in its unit and scale and breaches it;
     * readings of other metrics (the device's other sensors, interleaved) are proven but not
     * compared. The first reading must be of the metric. Returns how many readings are of the
     * metric, the time of the last one, and the first reading's root and leaf.
     */
    function _checkStretch(
        uint256 ruleId,
        Rule storage rule,
        SignedReading[] calldata readings
    ) private view returns (uint256 matching, uint64 lastAt, Proven memory evidence) {
        DeviceRegistry.Reading calldata first = readings[0].reading;
        uint64 previousAt = uint64(rule.createdAt);
        for (uint256 i = 0; i < readings.length; ++i) {
            SignedReading calldata signed = readings[i];
            DeviceRegistry.Reading calldata reading = signed.reading;
            if (reading.deviceId != first.deviceId) revert OracleMixedDevices(i);
            if (reading.sequence != first.sequence + i) revert OracleNotConsecutive(i, reading.sequence);
            if (reading.timestamp < previousAt) revert OracleStaleReading(i, reading.timestamp);
            previousAt = reading.timestamp;
            if (keccak256(bytes(reading.metric)) == rule.metricHash) {
                if (keccak256(bytes(reading.unit)) != rule.unitHash || reading.scale != rule.scale) {
                    revert OracleUnitMismatch(i, keccak256(bytes(reading.unit)), reading.scale);
                }
                if (!_breaches(rule, reading.value)) revert OracleNoBreach(ruleId, reading.value);
                ++matching;
                lastAt = reading.timestamp;
            } else if (i == 0) {
                revert OracleWrongMetric(0);
            }
            bytes32 leaf = _proveReading(signed, i);
            if (i == 0) evidence = Proven(signed.root, leaf);
        }
    }

    /// @dev Checks the reading's signature and its proof; returns its leaf.
    function _proveReading(SignedReading calldata signed, uint256 index) private view returns (bytes32 leaf) {
        DeviceRegistry.Reading calldata reading = signed.reading;
        bytes32 digest = registry.readingDigest(reading);
        if (!registry.verifyReadingAt(reading.deviceId, digest, signed.signature, reading.timestamp)) {
            revert OracleInvalidSignature(index);
        }
        leaf = ReadingLeaf.compute(digest, signed.signature);
        if (!notary.verify(signed.root, leaf, signed.proof)) revert OracleNotAnchored(signed.root, leaf);
    }

    function _checkCommitteeReport(CommitteeReport calldata report) private view returns (Rule storage rule) {
        uint256 ruleId = report.ruleId;
        rule = _firable(ruleId);
        if (rule.kind == RuleKind.Threshold) revert OracleWrongPath(ruleId, rule.kind);
        if (quorum == 0) revert OracleNoCommittee();
        if (report.configVersion != configVersion) revert OracleStaleCommittee(report.configVersion, configVersion);
        if (
            report.observedAt > block.timestamp + CLOCK_TOLERANCE ||
            report.windowStart > report.observedAt ||
            report.observedAt < rule.createdAt
        ) revert OracleInvalidReportTime(report.windowStart, report.observedAt);
        _checkDevice(ruleId, rule, report.deviceId);
        _checkAttached(rule, report.deviceId, report.windowStart, report.observedAt);
        uint256 window = report.observedAt - report.windowStart;
        if (rule.kind == RuleKind.Heartbeat) {
            if (window <= uint256(rule.upper)) revert OracleNoBreach(ruleId, int256(window));
        } else {
            if (window < rule.minDuration) revert OracleDebounceNotMet(ruleId, 0, window);
            if (!_breaches(rule, report.value)) revert OracleNoBreach(ruleId, report.value);
        }
    }

    function _fireCommittee(CommitteeReport calldata report, Rule storage rule, bytes32 reportId, Path path) private {
        Proven memory none;
        int256 value = rule.kind == RuleKind.Heartbeat
            ? int256(uint256(report.observedAt - report.windowStart))
            : report.value;
        _fire(report.ruleId, rule, report.deviceId, reportId, path, value, report.observedAt, none);
    }

    function _fire(
        uint256 ruleId,
        Rule storage rule,
        bytes32 deviceId,
        bytes32 reportId,
        Path path,
        int256 value,
        uint64 observedAt,
        Proven memory evidence
    ) private {
        bytes32 itemId = rule.itemId;
        uint8 actions = rule.actions;
        if (itemId != bytes32(0)) {
            (SupplyChain.Status status, ) = supplyChain.stateOf(itemId);
            if (status != SupplyChain.Status.Active) revert OracleItemNotActive(itemId);
        }
        rule.firedAt = uint40(block.timestamp);
        emit RuleFired(ruleId, itemId, deviceId, reportId, path, value, observedAt, actions, evidence.root, _msgSender());
        if (actions & ACTION_MARK_OUT_OF_COMPLIANCE != 0) {
            (, SupplyChain.Condition condition) = supplyChain.stateOf(itemId);
            if (condition != SupplyChain.Condition.OutOfCompliance) {
                supplyChain.setCondition(itemId, SupplyChain.Condition.OutOfCompliance, evidence.root, evidence.leaf);
            }
        }
        if (actions & ACTION_FREEZE_TOKEN != 0 && assetToken.exists(uint256(itemId))) {
            assetToken.freeze(uint256(itemId), reportId);
        }
        if (actions & ACTION_SETTLE_ESCROW != 0 && escrow.settlementOf(itemId) != ShipmentEscrow.Outcome.None) {
            escrow.settle(itemId);
        }
    }
}
