// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {BN254} from "../BN254.sol";
import {ISensorOracle} from "../interfaces/ISensorOracle.sol";
import {OracleRules} from "./OracleRules.sol";

/**
 * @title OracleCommittee
 * @notice The committee path of {SensorOracle}: heartbeat rules (a device silent for longer than
 * a limit) and aggregate rules (a value computed over a window of readings) cannot be shown with
 * readings, so a committee of oracle keys signs a report of what it observed and the contract
 * needs a quorum of them.
 *
 * A report carries either one ECDSA signature per member, or one BLS signature over BN254
 * aggregated off chain, checked with one pairing call whatever the committee's size. Members
 * register a BLS key with a proof of possession of it, so no member can choose a key that cancels
 * others' (a rogue-key attack). A committee change bumps `configVersion`, which reports are signed
 * over (EIP-712, the domain the deploying contract names): signatures made for an older committee
 * do not count.
 */
abstract contract OracleCommittee is OracleRules, EIP712 {
    /// @notice The largest committee (members are bits of a 256-bit map).
    uint256 public constant MAX_MEMBERS = 255;

    /// @notice EIP-712 type of the reports committees sign.
    bytes32 public constant COMMITTEE_REPORT_TYPEHASH =
        keccak256(
            "CommitteeReport(uint256 ruleId,bytes32 deviceId,int256 value,uint64 windowStart,uint64 observedAt,uint32 configVersion)"
        );
    /// @notice Domain of the hash to G1 of report digests signed with BLS.
    bytes32 public constant BLS_REPORT_DOMAIN = keccak256("provenance-ledger/bls/report/v1");
    /// @notice Domain of the hash to G1 of the messages that prove possession of a BLS key.
    bytes32 public constant BLS_POP_DOMAIN = keccak256("provenance-ledger/bls/pop/v1");

    Member[] private _members;
    mapping(address signer => uint256) private _memberPosition; // index + 1; 0: not a member
    BN254.G1Point private _committeeKey; // sum of the members' G1 keys

    /// @inheritdoc ISensorOracle
    uint8 public quorum;
    /// @inheritdoc ISensorOracle
    uint32 public configVersion;

    // ------------------------------------------------------------------------------------- reports

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
    function members() external view returns (Member[] memory) {
        return _members;
    }

    // ------------------------------------------------------------------------------------ internals

    /**
     * @dev The rule a committee report fires, once the report is checked against it: an active
     * heartbeat or aggregate rule that has not fired; a committee with a quorum, at the report's
     * version; consistent times, not before the rule nor beyond {CLOCK_TOLERANCE}; the rule's
     * device, attached to the item throughout the window; a breach (a silence longer than the
     * limit, or a value over a long enough window that breaches the rule).
     */
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

    /// @dev Fires the report's rule with no reading evidence; a heartbeat's value is the silence.
    function _fireCommittee(CommitteeReport calldata report, Rule storage rule, bytes32 reportId, Path path) private {
        Proven memory none;
        int256 value = rule.kind == RuleKind.Heartbeat
            ? int256(uint256(report.observedAt - report.windowStart))
            : report.value;
        _fire(report.ruleId, rule, report.deviceId, reportId, path, value, report.observedAt, none);
    }
}
