// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {BN254} from "./BN254.sol";
import {ReadingLeaf} from "./ReadingLeaf.sol";
import {IAssetToken} from "./interfaces/IAssetToken.sol";
import {IDataNotary} from "./interfaces/IDataNotary.sol";
import {IDeviceRegistry} from "./interfaces/IDeviceRegistry.sol";
import {ISensorOracle} from "./interfaces/ISensorOracle.sol";
import {IShipmentEscrow} from "./interfaces/IShipmentEscrow.sol";
import {ISupplyChain} from "./interfaces/ISupplyChain.sol";

/**
 * @title SensorOracle
 * @notice Sensor rules on items and devices, and the reports that fire them.
 *
 * A rule names an item (and optionally one of its devices) or a device, a metric with its unit and
 * scale, a comparison with thresholds, a debounce, and actions: mark the item out of compliance in
 * the supply chain, freeze its asset token, settle its escrow (a refund, once the item is out of
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
 *
 * Types, errors and events are declared in {ISensorOracle}; the registry, the notary, the supply
 * chain, the tokens and the escrows are called through their interfaces.
 */
contract SensorOracle is ISensorOracle, AccessControl, EIP712 {
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

    /// @notice The batch root and leaf of a report's first reading (zero for committee reports).
    struct Proven {
        bytes32 root;
        bytes32 leaf;
    }

    /// @inheritdoc ISensorOracle
    IDeviceRegistry public immutable registry;
    /// @inheritdoc ISensorOracle
    IDataNotary public immutable notary;
    /// @inheritdoc ISensorOracle
    ISupplyChain public immutable supplyChain;
    /// @inheritdoc ISensorOracle
    IAssetToken public immutable assetToken;
    /// @inheritdoc ISensorOracle
    IShipmentEscrow public immutable escrow;

    Rule[] private _rules;
    Member[] private _members;
    mapping(address signer => uint256) private _memberPosition; // index + 1; 0: not a member
    BN254.G1Point private _committeeKey; // sum of the members' G1 keys

    /// @inheritdoc ISensorOracle
    uint8 public quorum;
    /// @inheritdoc ISensorOracle
    uint32 public configVersion;

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
        IDeviceRegistry registry_,
        IDataNotary notary_,
        ISupplyChain supplyChain_,
        IAssetToken assetToken_,
        IShipmentEscrow escrow_
    ) EIP712("SensorOracle", "1") {
        registry = registry_;
        notary = notary_;
        supplyChain = supplyChain_;
        assetToken = assetToken_;
        escrow = escrow_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------------------------------- rules

    /// @inheritdoc ISensorOracle
    function addRule(RuleParams calldata params) external returns (uint256 ruleId) {
        if (params.itemId != bytes32(0)) {
            (ISupplyChain.Status status, ) = supplyChain.stateOf(params.itemId);
            if (status != ISupplyChain.Status.Active) revert OracleItemNotActive(params.itemId);
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

    /// @inheritdoc ISensorOracle
    function disableRule(uint256 ruleId) external {
        Rule storage rule = _rule(ruleId);
        if (rule.itemId == bytes32(0)) _checkRole(DEFAULT_ADMIN_ROLE);
        else _checkManager(rule.itemId);
        if (!rule.active) revert OracleRuleDisabled(ruleId);
        if (rule.protections != 0) revert OracleRuleProtected(ruleId);
        rule.active = false;
        emit RuleDisabled(ruleId, _msgSender());
    }

    /// @inheritdoc ISensorOracle
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

    /// @inheritdoc ISensorOracle
    function unprotect(bytes32 itemId, uint256[] calldata ruleIds) external {
        if (_msgSender() != address(escrow)) revert OracleNotEscrow(_msgSender());
        for (uint256 i = 0; i < ruleIds.length; ++i) {
            Rule storage rule = _rule(ruleIds[i]);
            --rule.protections;
            supplyChain.setDetachLock(itemId, rule.deviceId, false);
        }
    }

    // ------------------------------------------------------------------------------------- reports

    /// @inheritdoc ISensorOracle
    function submitEvidence(uint256 ruleId, SignedReading[] calldata readings) external returns (bytes32 reportId) {
        Rule storage rule = _firable(ruleId);
        if (rule.kind != RuleKind.Threshold) revert OracleWrongPath(ruleId, rule.kind);
        if (readings.length == 0) revert OracleDebounceNotMet(ruleId, 0, 0);
        IDeviceRegistry.Reading calldata first = readings[0].reading;
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

    /// @inheritdoc ISensorOracle
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

    /// @inheritdoc ISensorOracle
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

    /// @inheritdoc ISensorOracle
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

    /// @inheritdoc ISensorOracle
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

    /// @inheritdoc ISensorOracle
    function setQuorum(uint8 newQuorum) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newQuorum == 0 || newQuorum > _members.length) revert OracleInvalidQuorum(newQuorum, _members.length);
        quorum = newQuorum;
        uint32 version = ++configVersion;
        emit QuorumChanged(newQuorum, version);
    }

    // --------------------------------------------------------------------------------------- views

    /// @inheritdoc ISensorOracle
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

    /// @inheritdoc ISensorOracle
    function popMessage(address signer, BN254.G1Point calldata blsKeyG1) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), signer, blsKeyG1.x, blsKeyG1.y));
    }

    /// @inheritdoc ISensorOracle
    function getRule(uint256 ruleId) external view returns (Rule memory) {
        return _rule(ruleId);
    }

    /// @inheritdoc ISensorOracle
    function ruleCount() external view returns (uint256) {
        return _rules.length;
    }

    /// @inheritdoc ISensorOracle
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
        IDeviceRegistry.Reading calldata first = readings[0].reading;
        uint64 previousAt = uint64(rule.createdAt);
        for (uint256 i = 0; i < readings.length; ++i) {
            SignedReading calldata signed = readings[i];
            IDeviceRegistry.Reading calldata reading = signed.reading;
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
        IDeviceRegistry.Reading calldata reading = signed.reading;
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
            (ISupplyChain.Status status, ) = supplyChain.stateOf(itemId);
            if (status != ISupplyChain.Status.Active) revert OracleItemNotActive(itemId);
        }
        rule.firedAt = uint40(block.timestamp);
        emit RuleFired(ruleId, itemId, deviceId, reportId, path, value, observedAt, actions, evidence.root, _msgSender());
        if (actions & ACTION_MARK_OUT_OF_COMPLIANCE != 0) {
            (, ISupplyChain.Condition condition) = supplyChain.stateOf(itemId);
            if (condition != ISupplyChain.Condition.OutOfCompliance) {
                supplyChain.setCondition(itemId, ISupplyChain.Condition.OutOfCompliance, evidence.root, evidence.leaf);
            }
        }
        if (actions & ACTION_FREEZE_TOKEN != 0 && assetToken.exists(uint256(itemId))) {
            assetToken.freeze(uint256(itemId), reportId);
        }
        if (actions & ACTION_SETTLE_ESCROW != 0 && escrow.settlementOf(itemId) != IShipmentEscrow.Outcome.None) {
            escrow.settle(itemId);
        }
    }
}
