// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/**
 * @title DeviceRegistry
 * @notice On-chain identities of the IoT devices whose signed readings the ledger notarizes.
 * A device is known by a stable 32-byte id and signs its readings as EIP-712 typed data whose
 * domain is this contract ("ProvenanceLedger", version "1").
 */
contract DeviceRegistry is AccessControl, EIP712 {
    /// @notice Role allowed to register devices.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @notice EIP-712 type of a sensor reading. `value` is a fixed-point integer: value / 10**scale.
    bytes32 public constant READING_TYPEHASH =
        keccak256(
            "Reading(bytes32 deviceId,uint64 sequence,uint64 timestamp,string metric,int256 value,int8 scale,string unit,bytes32 payloadHash)"
        );

    /// @notice A sensor reading as its device signs it.
    struct Reading {
        bytes32 deviceId;
        uint64 sequence;
        uint64 timestamp;
        string metric;
        int256 value;
        int8 scale;
        string unit;
        bytes32 payloadHash;
    }

    /// @notice A registered device.
    struct Device {
        address signer;
        address owner;
        uint64 registeredAt;
    }

    mapping(bytes32 deviceId => Device) private _devices;

    /// @notice The device id is zero.
    error DeviceRegistryZeroDeviceId();
    /// @notice The signing address is zero.
    error DeviceRegistryZeroSigner();
    /// @notice A device with this id is already registered.
    error DeviceRegistryDeviceAlreadyRegistered(bytes32 deviceId);
    /// @notice No device with this id is registered.
    error DeviceRegistryUnknownDevice(bytes32 deviceId);

    /// @notice Emitted when a device is registered.
    event DeviceRegistered(bytes32 indexed deviceId, address indexed signer, address indexed owner);

    /**
     * @param admin Account that receives the admin role and the registrar role.
     */
    constructor(address admin) EIP712("ProvenanceLedger", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    /**
     * @notice Registers a device that signs its readings with the secp256k1 key of `signer`.
     * @dev Requirements: the caller has REGISTRAR_ROLE; `deviceId` and `signer` are non-zero;
     * the id is not yet registered. The caller becomes the device's owner.
     * Emits {DeviceRegistered}.
     */
    function registerDevice(bytes32 deviceId, address signer) external onlyRole(REGISTRAR_ROLE) {
        if (deviceId == bytes32(0)) revert DeviceRegistryZeroDeviceId();
        if (signer == address(0)) revert DeviceRegistryZeroSigner();
        if (_devices[deviceId].signer != address(0)) revert DeviceRegistryDeviceAlreadyRegistered(deviceId);

        _devices[deviceId] = Device({signer: signer, owner: _msgSender(), registeredAt: uint64(block.timestamp)});
        emit DeviceRegistered(deviceId, signer, _msgSender());
    }

    /**
     * @notice Returns the registered device `deviceId`.
     * @dev Reverts with {DeviceRegistryUnknownDevice} when it is not registered.
     */
    function getDevice(bytes32 deviceId) external view returns (Device memory) {
        Device memory device = _devices[deviceId];
        if (device.signer == address(0)) revert DeviceRegistryUnknownDevice(deviceId);
        return device;
    }

    /**
     * @notice Returns whether `deviceId` is registered.
     */
    function isRegistered(bytes32 deviceId) external view returns (bool) {
        return _devices[deviceId].signer != address(0);
    }

    /**
     * @notice Returns the EIP-712 digest that the device signs for `reading`.
     */
    function readingDigest(Reading calldata reading) public view returns (bytes32) {
        return _hashTypedDataV4(_hashReading(reading));
    }

    /**
     * @notice Returns true when `signature` over `digest` was made by the signing key of `deviceId`.
     * @dev Returns false (never reverts) for unknown devices and malformed signatures.
     */
    function verifyReading(bytes32 deviceId, bytes32 digest, bytes calldata signature) external view returns (bool) {
        address signer = _devices[deviceId].signer;
        if (signer == address(0)) return false;
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, signature);
        return err == ECDSA.RecoverError.NoError && recovered == signer;
    }

    function _hashReading(Reading calldata reading) private pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    READING_TYPEHASH,
                    reading.deviceId,
                    reading.sequence,
                    reading.timestamp,
                    keccak256(bytes(reading.metric)),
                    reading.value,
                    reading.scale,
                    keccak256(bytes(reading.unit)),
                    reading.payloadHash
                )
            );
    }
}
