// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IAssetToken} from "../interfaces/IAssetToken.sol";
import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {ISensorOracle} from "../interfaces/ISensorOracle.sol";
import {IShipmentEscrow} from "../interfaces/IShipmentEscrow.sol";
import {ISupplyChain} from "../interfaces/ISupplyChain.sol";

/**
 * @title OracleRules
 * @notice The sensor rules of {SensorOracle} and what firing one does, shared by its two ways of
 * proving a breach ({OracleEvidence}, {OracleCommittee}).
 *
 * A rule names an item (and optionally one of its devices) or a device, a metric with its unit and
 * scale, a comparison with thresholds, a debounce, and actions: mark the item out of compliance in
 * the supply chain, freeze its asset token, settle its escrow (a refund, once the item is out of
 * compliance). Rules are managed by the item's manufacturer or an admin; device-only rules by an
 * admin. A rule fires at most once; its actions run in the transaction that fires it, after the
 * rule is marked fired and {RuleFired} is emitted.
 *
 * An escrow names the rules that protect it when it opens ({protect}): until it settles they
 * cannot be disabled, and the devices they watch cannot be detached from the item.
 */
abstract contract OracleRules is ISensorOracle, AccessControl {
    /// @notice Action bit: mark the item out of compliance (with the first reading as evidence).
    uint8 public constant ACTION_MARK_OUT_OF_COMPLIANCE = 1;
    /// @notice Action bit: freeze the item's asset token, when it has one.
    uint8 public constant ACTION_FREEZE_TOKEN = 2;
    /// @notice Action bit: settle the item's escrow (a refund), when it has one.
    uint8 public constant ACTION_SETTLE_ESCROW = 4;
    /// @notice How far a report's time (the stretch's last reading, or a committee's `observedAt`)
    /// may run ahead of the block's timestamp: device and member clocks against the last block (gas
    /// estimates run on it) or a slow chain.
    uint64 public constant CLOCK_TOLERANCE = 60;

    /// @notice The batch root and leaf of a report's first reading (zero for committee reports).
    struct Proven {
        bytes32 root;
        bytes32 leaf;
    }

    /// @inheritdoc ISensorOracle
    IDeviceRegistry public immutable registry;
    /// @inheritdoc ISensorOracle
    ISupplyChain public immutable supplyChain;
    /// @inheritdoc ISensorOracle
    IAssetToken public immutable assetToken;
    /// @inheritdoc ISensorOracle
    IShipmentEscrow public immutable escrow;

    Rule[] private _rules;

    /**
     * @param registry_ The device registry (rules' devices must be registered in it).
     * @param supplyChain_ The supply chain (which must bind the oracle).
     * @param assetToken_ The asset tokens (the oracle needs FREEZER_ROLE to freeze).
     * @param escrow_ The escrows (the only caller of {protect} and {unprotect}).
     */
    constructor(
        IDeviceRegistry registry_,
        ISupplyChain supplyChain_,
        IAssetToken assetToken_,
        IShipmentEscrow escrow_
    ) {
        registry = registry_;
        supplyChain = supplyChain_;
        assetToken = assetToken_;
        escrow = escrow_;
    }

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

    /// @inheritdoc ISensorOracle
    function getRule(uint256 ruleId) external view returns (Rule memory) {
        return _rule(ruleId);
    }

    /// @inheritdoc ISensorOracle
    function ruleCount() external view returns (uint256) {
        return _rules.length;
    }

    /// @dev Rule `ruleId`, which may fire: it exists, is active and has not fired.
    function _firable(uint256 ruleId) internal view returns (Rule storage rule) {
        rule = _rule(ruleId);
        if (!rule.active) revert OracleRuleDisabled(ruleId);
        if (rule.firedAt != 0) revert OracleRuleAlreadyFired(ruleId);
    }

    /// @dev For a rule of one device: the report is about that device.
    function _checkDevice(uint256 ruleId, Rule storage rule, bytes32 deviceId) internal view {
        if (rule.deviceId != bytes32(0) && deviceId != rule.deviceId) revert OracleWrongDevice(ruleId, deviceId);
    }

    /// @dev For an item rule: one attachment period of the device covers the time from `from` to `to`.
    function _checkAttached(Rule storage rule, bytes32 deviceId, uint64 from, uint64 to) internal view {
        bytes32 itemId = rule.itemId;
        if (itemId != bytes32(0) && !supplyChain.attachedThroughout(itemId, deviceId, from, to)) {
            revert OracleNotAttachedThen(itemId, deviceId, from, to);
        }
    }

    /// @dev Whether `value` breaches the rule's comparison.
    function _breaches(Rule storage rule, int256 value) internal view returns (bool) {
        Comparison comparison = rule.comparison;
        if (comparison == Comparison.Above) return value > rule.upper;
        if (comparison == Comparison.Below) return value < rule.lower;
        return value < rule.lower || value > rule.upper;
    }

    /**
     * @dev Fires the rule on a proven report: refuses an item no longer active, marks the rule
     * fired, emits {RuleFired}, then runs the rule's actions (the calls come last).
     */
    function _fire(
        uint256 ruleId,
        Rule storage rule,
        bytes32 deviceId,
        bytes32 reportId,
        Path path,
        int256 value,
        uint64 observedAt,
        Proven memory evidence
    ) internal {
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
}
