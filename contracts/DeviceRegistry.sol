// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {IDeviceRegistry} from "./interfaces/IDeviceRegistry.sol";

/**
 * @title DeviceRegistry
 * @notice On-chain identities of the IoT devices whose signed readings the ledger notarizes.
 *
 * A device has a stable 32-byte id, an owner who manages it, a signing key (secp256k1, given as
 * an address, or P-256, given as the point (x, y)), metadata and a status. Keys rotate without
 * changing the id; every key keeps the time and block range in which it was valid, so a reading
 * is checked against the key that was valid when it was taken. Every suspension is kept as a
 * period too: a reading dated inside one does not verify, not even after the device is
 * reactivated. Revocation is final and ends the validity of the current key.
 *
 * Devices sign readings as EIP-712 typed data under this contract's domain
 * ("ProvenanceLedger", version "1"): secp256k1 keys as Ethereum signatures (r, s, v), P-256 keys
 * as (r, s) over the same digest. Every change emits an event carrying the full new state, so an
 * indexer can rebuild the registry from the events alone. {Multicall} batches calls (a fleet's
 * registrations, say) into one transaction, each call with its own access check. Its types,
 * errors and events are declared in {IDeviceRegistry}.
 */
contract DeviceRegistry is IDeviceRegistry, AccessControl, EIP712, Multicall {
    /// @notice Role allowed to register devices.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @notice EIP-712 type of a sensor reading. `value` is a fixed-point integer: value / 10**scale.
    bytes32 public constant READING_TYPEHASH =
        keccak256(
            "Reading(bytes32 deviceId,uint64 sequence,uint64 timestamp,string metric,int256 value,int8 scale,string unit,bytes32 payloadHash)"
        );

    mapping(bytes32 deviceId => Device) private _devices;
    mapping(bytes32 deviceId => KeyRecord[]) private _keys;
    mapping(bytes32 deviceId => SuspensionPeriod[]) private _suspensions;

    modifier onlyDeviceOwner(bytes32 deviceId) {
        _checkDeviceOwner(deviceId);
        _;
    }

    /**
     * @param admin Account that receives the admin role and the registrar role.
     */
    constructor(address admin) EIP712("ProvenanceLedger", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    /// @inheritdoc IDeviceRegistry
    function registerDevice(
        bytes32 deviceId,
        address owner,
        PublicKey calldata key,
        Metadata calldata metadata
    ) external onlyRole(REGISTRAR_ROLE) {
        if (deviceId == bytes32(0)) revert DeviceRegistryZeroDeviceId();
        if (owner == address(0)) revert DeviceRegistryZeroOwner();
        _checkKey(key);
        Device storage device = _devices[deviceId];
        if (device.status != Status.None) revert DeviceRegistryDeviceAlreadyRegistered(deviceId);

        device.owner = owner;
        device.status = Status.Active;
        device.registeredAt = uint64(block.timestamp);
        device.metadata = metadata;
        _keys[deviceId].push(_openKey(key));
        emit DeviceRegistered(deviceId, owner, _msgSender(), key, metadata);
    }

    /// @inheritdoc IDeviceRegistry
    function rotateKey(bytes32 deviceId, PublicKey calldata newKey) external onlyDeviceOwner(deviceId) {
        Status status = _devices[deviceId].status;
        if (status == Status.Revoked) revert DeviceRegistryInvalidStatus(deviceId, status);
        _checkKey(newKey);
        KeyRecord[] storage history = _keys[deviceId];
        KeyRecord storage current = history[history.length - 1];
        if (_sameKey(current.key, newKey)) revert DeviceRegistrySameKey(deviceId);

        _closeKey(current);
        history.push(_openKey(newKey));
        emit DeviceKeyRotated(deviceId, history.length - 1, newKey);
    }

    /// @inheritdoc IDeviceRegistry
    function suspendDevice(bytes32 deviceId) external onlyDeviceOwner(deviceId) {
        Device storage device = _requireStatus(deviceId, Status.Active);
        device.status = Status.Suspended;
        _suspensions[deviceId].push(SuspensionPeriod({from: uint64(block.timestamp), until: 0}));
        emit DeviceStatusChanged(deviceId, Status.Active, Status.Suspended);
    }

    /// @inheritdoc IDeviceRegistry
    function reactivateDevice(bytes32 deviceId) external onlyDeviceOwner(deviceId) {
        Device storage device = _requireStatus(deviceId, Status.Suspended);
        device.status = Status.Active;
        SuspensionPeriod[] storage periods = _suspensions[deviceId];
        periods[periods.length - 1].until = uint64(block.timestamp); // a suspended device has an open period
        emit DeviceStatusChanged(deviceId, Status.Suspended, Status.Active);
    }

    /// @inheritdoc IDeviceRegistry
    function revokeDevice(bytes32 deviceId) external {
        Device storage device = _requireDevice(deviceId);
        if (device.owner != _msgSender() && !hasRole(DEFAULT_ADMIN_ROLE, _msgSender())) {
            revert DeviceRegistryUnauthorizedOwner(deviceId, _msgSender());
        }
        Status previous = device.status;
        if (previous == Status.Revoked) revert DeviceRegistryInvalidStatus(deviceId, previous);
        device.status = Status.Revoked;
        KeyRecord[] storage history = _keys[deviceId];
        _closeKey(history[history.length - 1]);
        emit DeviceStatusChanged(deviceId, previous, Status.Revoked);
    }

    /// @inheritdoc IDeviceRegistry
    function transferDeviceOwnership(bytes32 deviceId, address newOwner) external onlyDeviceOwner(deviceId) {
        if (newOwner == address(0)) revert DeviceRegistryZeroOwner();
        Device storage device = _devices[deviceId];
        if (device.status == Status.Revoked) revert DeviceRegistryInvalidStatus(deviceId, Status.Revoked);
        address previous = device.owner;
        device.owner = newOwner;
        emit DeviceOwnershipTransferred(deviceId, previous, newOwner);
    }

    /// @inheritdoc IDeviceRegistry
    function updateDeviceMetadata(bytes32 deviceId, Metadata calldata metadata) external onlyDeviceOwner(deviceId) {
        Device storage device = _devices[deviceId];
        if (device.status == Status.Revoked) revert DeviceRegistryInvalidStatus(deviceId, Status.Revoked);
        device.metadata = metadata;
        emit DeviceMetadataUpdated(deviceId, metadata);
    }

    /// @inheritdoc IDeviceRegistry
    function getDevice(bytes32 deviceId) external view returns (Device memory) {
        return _requireDevice(deviceId);
    }

    /// @inheritdoc IDeviceRegistry
    function isRegistered(bytes32 deviceId) external view returns (bool) {
        return _devices[deviceId].status != Status.None;
    }

    /// @inheritdoc IDeviceRegistry
    function keyCount(bytes32 deviceId) external view returns (uint256) {
        return _keys[deviceId].length;
    }

    /// @inheritdoc IDeviceRegistry
    function getKey(bytes32 deviceId, uint256 index) external view returns (KeyRecord memory) {
        KeyRecord[] storage history = _keys[deviceId];
        if (index >= history.length) revert DeviceRegistryUnknownKey(deviceId, index);
        return history[index];
    }

    /// @inheritdoc IDeviceRegistry
    function suspensionCount(bytes32 deviceId) external view returns (uint256) {
        return _suspensions[deviceId].length;
    }

    /// @inheritdoc IDeviceRegistry
    function getSuspension(bytes32 deviceId, uint256 index) external view returns (SuspensionPeriod memory) {
        SuspensionPeriod[] storage periods = _suspensions[deviceId];
        if (index >= periods.length) revert DeviceRegistryUnknownSuspension(deviceId, index);
        return periods[index];
    }

    /// @inheritdoc IDeviceRegistry
    function isSuspendedAt(bytes32 deviceId, uint64 timestamp) public view returns (bool) {
        SuspensionPeriod[] storage periods = _suspensions[deviceId];
        for (uint256 i = periods.length; i > 0; --i) {
            SuspensionPeriod storage period = periods[i - 1];
            if (period.from > timestamp) continue;
            return period.until == 0 || timestamp < period.until;
        }
        return false;
    }

    /// @inheritdoc IDeviceRegistry
    function readingDigest(Reading calldata reading) public view returns (bytes32) {
        return _hashTypedDataV4(_hashReading(reading));
    }

    /// @inheritdoc IDeviceRegistry
    function verifyReading(bytes32 deviceId, bytes32 digest, bytes calldata signature) external view returns (bool) {
        if (_devices[deviceId].status != Status.Active) return false;
        // Active now, so not inside a suspension now: only the key is checked.
        return _verifyKeyAt(deviceId, digest, signature, uint64(block.timestamp));
    }

    /// @inheritdoc IDeviceRegistry
    function verifyReadingAt(
        bytes32 deviceId,
        bytes32 digest,
        bytes calldata signature,
        uint64 timestamp
    ) external view returns (bool) {
        return _verifyAt(deviceId, digest, signature, timestamp);
    }

    /// @inheritdoc IDeviceRegistry
    function verifySignedReading(Reading calldata reading, bytes calldata signature) external view returns (bool) {
        return _verifyAt(reading.deviceId, readingDigest(reading), signature, reading.timestamp);
    }

    function _verifyAt(
        bytes32 deviceId,
        bytes32 digest,
        bytes calldata signature,
        uint64 timestamp
    ) private view returns (bool) {
        if (isSuspendedAt(deviceId, timestamp)) return false;
        return _verifyKeyAt(deviceId, digest, signature, timestamp);
    }

    function _verifyKeyAt(
        bytes32 deviceId,
        bytes32 digest,
        bytes calldata signature,
        uint64 timestamp
    ) private view returns (bool) {
        KeyRecord[] storage history = _keys[deviceId];
        for (uint256 i = history.length; i > 0; --i) {
            KeyRecord storage record = history[i - 1];
            if (record.validFrom > timestamp) continue;
            if (record.validUntil != 0 && timestamp >= record.validUntil) return false;
            return _verifySignature(record.key, digest, signature);
        }
        return false;
    }

    function _verifySignature(
        PublicKey storage key,
        bytes32 digest,
        bytes calldata signature
    ) private view returns (bool) {
        if (key.keyType == KeyType.Secp256k1) {
            (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, signature);
            return err == ECDSA.RecoverError.NoError && recovered == key.signer;
        }
        if (key.keyType == KeyType.P256 && signature.length == 64) {
            return P256.verify(digest, bytes32(signature[0:32]), bytes32(signature[32:64]), key.x, key.y);
        }
        return false;
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

    function _requireStatus(bytes32 deviceId, Status expected) private view returns (Device storage device) {
        device = _devices[deviceId];
        if (device.status != expected) revert DeviceRegistryInvalidStatus(deviceId, device.status);
    }

    function _requireDevice(bytes32 deviceId) private view returns (Device storage device) {
        device = _devices[deviceId];
        if (device.status == Status.None) revert DeviceRegistryUnknownDevice(deviceId);
    }

    function _checkDeviceOwner(bytes32 deviceId) private view {
        if (_requireDevice(deviceId).owner != _msgSender()) {
            revert DeviceRegistryUnauthorizedOwner(deviceId, _msgSender());
        }
    }

    function _checkKey(PublicKey calldata key) private pure {
        if (key.keyType == KeyType.Secp256k1) {
            if (key.signer == address(0) || key.x != 0 || key.y != 0) revert DeviceRegistryInvalidKey();
        } else if (key.keyType == KeyType.P256) {
            if (key.signer != address(0) || !P256.isValidPublicKey(key.x, key.y)) revert DeviceRegistryInvalidKey();
        } else {
            revert DeviceRegistryInvalidKey();
        }
    }

    function _sameKey(PublicKey storage a, PublicKey calldata b) private view returns (bool) {
        return a.keyType == b.keyType && a.signer == b.signer && a.x == b.x && a.y == b.y;
    }

    function _openKey(PublicKey calldata key) private view returns (KeyRecord memory) {
        return
            KeyRecord({
                key: key,
                validFrom: uint64(block.timestamp),
                validFromBlock: uint64(block.number),
                validUntil: 0,
                validUntilBlock: 0
            });
    }

    function _closeKey(KeyRecord storage record) private {
        record.validUntil = uint64(block.timestamp);
        record.validUntilBlock = uint64(block.number);
    }
}
