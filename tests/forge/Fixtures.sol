// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AssetToken} from "../../contracts/AssetToken.sol";
import {DataNotary} from "../../contracts/DataNotary.sol";
import {DeviceRegistry} from "../../contracts/DeviceRegistry.sol";
import {IDeviceRegistry} from "../../contracts/interfaces/IDeviceRegistry.sol";
import {ISupplyChain} from "../../contracts/interfaces/ISupplyChain.sol";
import {SensorOracle} from "../../contracts/SensorOracle.sol";
import {ShipmentEscrow} from "../../contracts/ShipmentEscrow.sol";
import {SupplyChain} from "../../contracts/SupplyChain.sol";
import {Base} from "./Base.sol";

/// @notice A deployment of the contracts, all administered by ADMIN, as the service deploys them:
/// the sensor oracle bound to the supply chain (the only account that sets conditions and detach
/// locks) and allowed to freeze tokens; the escrow asks it to protect rules.
abstract contract Deployment is Base {
    DeviceRegistry internal registry;
    DataNotary internal notary;
    SupplyChain internal chain;
    AssetToken internal token;
    ShipmentEscrow internal escrow;
    SensorOracle internal oracle;

    function _deployCore() internal {
        registry = new DeviceRegistry(ADMIN);
        notary = new DataNotary(ADMIN);
        chain = new SupplyChain(ADMIN, registry, notary);
        token = new AssetToken(ADMIN, chain);
        escrow = new ShipmentEscrow(chain);
        oracle = new SensorOracle(ADMIN, registry, notary, chain, token, escrow);
        bytes32 freezer = token.FREEZER_ROLE();
        chain.bindOracle(address(oracle)); // by its deployer, this contract: no role needed
        vm.startPrank(ADMIN);
        token.grantRole(freezer, address(oracle));
        vm.stopPrank();
    }

    function _noEvidence() internal pure returns (ISupplyChain.Evidence memory none) {}

    function _here() internal pure returns (ISupplyChain.Location memory) {
        return ISupplyChain.Location(52_520_008, 13_404_954, bytes32("4012345000009"));
    }

    /// @dev Registers item `itemId` as ADMIN (the manufacturer), held by `custodian`, no devices.
    function _registerItem(bytes32 itemId, address custodian) internal {
        vm.prank(ADMIN);
        chain.registerItem(itemId, custodian, keccak256("description"), "cid", new bytes32[](0));
    }

    /// @dev Registers `deviceId`, owned by `owner`, signing with `key`.
    function _registerDevice(bytes32 deviceId, address owner, uint256 key) internal {
        vm.prank(ADMIN);
        registry.registerDevice(
            deviceId,
            owner,
            IDeviceRegistry.PublicKey(IDeviceRegistry.KeyType.Secp256k1, vm.addr(key), 0, 0),
            IDeviceRegistry.Metadata("TH-100", bytes32(0), "")
        );
    }

    /// @dev A reading of `deviceId` at `timestamp`, signed by `key` and anchored alone in a batch
    /// (its leaf is the root), as checkpoint evidence.
    function _evidence(bytes32 deviceId, uint64 sequence, uint64 timestamp, uint256 key)
        internal
        returns (ISupplyChain.Evidence memory)
    {
        IDeviceRegistry.Reading memory reading = IDeviceRegistry.Reading(
            deviceId, sequence, timestamp, "temperature", 512, -2, "Cel", keccak256("payload")
        );
        bytes memory signature = _sign(key, registry.readingDigest(reading));
        bytes32 leaf = _anchor(registry.readingDigest(reading), signature);
        return ISupplyChain.Evidence(reading, signature, leaf, new bytes32[](0));
    }

    /// @dev Anchors the leaf of (`digest`, `signature`) as a one-leaf batch and records it for
    /// on-chain checks (unless it is already). A filler batch first puts it at an even index, where
    /// the log's frontier holds it alone (height 0): an empty log path proves it.
    function _anchor(bytes32 digest, bytes memory signature) internal returns (bytes32 leaf) {
        leaf = keccak256(bytes.concat(keccak256(abi.encode(digest, keccak256(signature)))));
        if (notary.isRecorded(leaf)) return leaf;
        uint48 at = uint48(block.timestamp);
        vm.startPrank(ADMIN);
        if (notary.batchCount() % 2 == 1) notary.anchor(keccak256("filler"), 1, at, at, "");
        uint256 id = notary.anchor(leaf, 1, at, at, "");
        vm.stopPrank();
        notary.recordAnchor(id, leaf, 1, at, at, "", new bytes32[](0));
    }

    /// @dev Sets the item's condition as the bound oracle does (the only account that may).
    function _setCondition(bytes32 itemId, ISupplyChain.Condition condition) internal {
        vm.prank(address(oracle));
        chain.setCondition(itemId, condition, bytes32(0), bytes32(0));
    }
}
