// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IAssetToken} from "./interfaces/IAssetToken.sol";
import {IDataNotary} from "./interfaces/IDataNotary.sol";
import {IDeviceRegistry} from "./interfaces/IDeviceRegistry.sol";
import {IShipmentEscrow} from "./interfaces/IShipmentEscrow.sol";
import {ISupplyChain} from "./interfaces/ISupplyChain.sol";
import {OracleCommittee} from "./oracle/OracleCommittee.sol";
import {OracleEvidence} from "./oracle/OracleEvidence.sol";
import {OracleRules} from "./oracle/OracleRules.sol";

/**
 * @title SensorOracle
 * @notice Sensor rules on items and devices, and the reports that fire them.
 *
 * A rule names an item (and optionally one of its devices) or a device, a metric with its unit and
 * scale, a comparison with thresholds, a debounce, and actions: mark the item out of compliance in
 * the supply chain, freeze its asset token, settle its escrow (a refund, once the item is out of
 * compliance). Rules are managed by the item's manufacturer or an admin. A rule fires at most once;
 * its actions run in the transaction that fires it ({OracleRules}).
 *
 * Threshold rules fire on evidence anyone can submit: consecutive signed readings of one device,
 * in time order, taken after the rule was added and inside one period the device was attached to
 * the item, all crossing the threshold, each proven under a batch root anchored in the notary,
 * spanning the debounce (a number of readings and a duration). A reading of the rule's metric in
 * another unit or scale is refused, never skipped. Nothing about them is taken on trust
 * ({OracleEvidence}).
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
 * count ({OracleCommittee}).
 *
 * Types, errors and events are declared in {ISensorOracle}. This contract composes the rules, the
 * evidence path and the committee path into one deployment, with the EIP-712 domain
 * ("SensorOracle", "1") that committee reports are signed under.
 */
contract SensorOracle is OracleCommittee, OracleEvidence {
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
    ) EIP712("SensorOracle", "1") OracleRules(registry_, supplyChain_, assetToken_, escrow_) OracleEvidence(notary_) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }
}
