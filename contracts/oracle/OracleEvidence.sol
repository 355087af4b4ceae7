// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReadingLeaf} from "../ReadingLeaf.sol";
import {IDataNotary} from "../interfaces/IDataNotary.sol";
import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {ISensorOracle} from "../interfaces/ISensorOracle.sol";
import {OracleRules} from "./OracleRules.sol";

/**
 * @title OracleEvidence
 * @notice The evidence path of {SensorOracle}: threshold rules fire on signed readings anyone can
 * submit, and nothing about them is taken on trust.
 *
 * The evidence is a stretch of consecutive readings of one device, in time order, taken after the
 * rule was added and inside one period the device was attached to the item, every reading of the
 * rule's metric crossing the threshold, spanning the debounce (a number of readings and a
 * duration). Each reading is signed by its device's key valid at its timestamp (checked by the
 * device registry) and proven, by its Merkle leaf ({ReadingLeaf}), under a batch root anchored in
 * the notary. A reading of the rule's metric in another unit or scale is refused, never skipped.
 */
abstract contract OracleEvidence is OracleRules {
    /// @inheritdoc ISensorOracle
    IDataNotary public immutable notary;

    /// @param notary_ The notary whose anchored roots prove readings.
    constructor(IDataNotary notary_) {
        notary = notary_;
    }

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
}
