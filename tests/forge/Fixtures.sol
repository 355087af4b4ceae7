// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AssetToken} from "../../contracts/AssetToken.sol";
import {DataNotary} from "../../contracts/DataNotary.sol";
import {DeviceRegistry} from "../../contracts/DeviceRegistry.sol";
import {IDeviceDirectory, IReadingNotary, SupplyChain} from "../../contracts/SupplyChain.sol";
import {Base} from "./Base.sol";

/// @notice A deployment of the core contracts, all administered by ADMIN.
abstract contract Deployment is Base {
    DeviceRegistry internal registry;
    DataNotary internal notary;
    SupplyChain internal chain;
    AssetToken internal token;

    function _deployCore() internal {
        registry = new DeviceRegistry(ADMIN);
        notary = new DataNotary(ADMIN);
        chain = new SupplyChain(ADMIN, IDeviceDirectory(address(registry)), IReadingNotary(address(notary)));
        token = new AssetToken(ADMIN, chain);
    }

    function _noEvidence() internal pure returns (SupplyChain.Evidence memory none) {}

    function _here() internal pure returns (SupplyChain.Location memory) {
        return SupplyChain.Location(52_520_008, 13_404_954, bytes32("4012345000009"));
    }

    /// @dev Registers item `itemId` as ADMIN (the manufacturer), held by `custodian`, no devices.
    function _registerItem(bytes32 itemId, address custodian) internal {
        vm.prank(ADMIN);
        chain.registerItem(itemId, custodian, keccak256("description"), "cid", new bytes32[](0));
    }

    /// @dev Evidence for a reading with `digest` and `signatureHash`, anchored as a one-leaf batch.
    function _anchoredEvidence(bytes32 digest, bytes32 signatureHash) internal returns (SupplyChain.Evidence memory) {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(digest, signatureHash))));
        vm.prank(ADMIN);
        notary.anchor(leaf, 1, uint48(block.timestamp), uint48(block.timestamp), "");
        return SupplyChain.Evidence(leaf, digest, signatureHash, new bytes32[](0));
    }

    /// @dev Registers `deviceId`, owned by `owner`, signing with `key`.
    function _registerDevice(bytes32 deviceId, address owner, uint256 key) internal {
        vm.prank(ADMIN);
        registry.registerDevice(
            deviceId,
            owner,
            DeviceRegistry.PublicKey(DeviceRegistry.KeyType.Secp256k1, vm.addr(key), 0, 0),
            DeviceRegistry.Metadata("TH-100", bytes32(0), "")
        );
    }

    function _setCondition(bytes32 itemId, SupplyChain.Condition condition) internal {
        vm.prank(ADMIN);
        chain.setCondition(itemId, condition, _noEvidence());
    }
}
