// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";

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
 * registrations, say) into one transaction, each call with its own access check.
 */
contract DeviceRegistry is AccessControl, EIP712, Multicall {
    /// @notice Role allowed to register devices.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @notice EIP-712 type of a sensor reading. `value` is a fixed-point integer: value / 10**scale.
    bytes32 public constant READING_TYPEHASH =
        keccak256(
            "Reading(bytes32 deviceId,uint64 sequence,uint64 timestamp,string metric,int256 value,int8 scale,string unit,bytes32 payloadHash)"
        );

    /// @notice The kind of a device's signing key.
    enum KeyType {
        None,
        Secp256k1,
        P256
    }

    /// @notice The lifecycle of a device. Revoked is final.
    enum Status {
        None,
        Active,
        Suspended,
        Revoked
    }

    /// @notice A public key: `signer` for secp256k1, (`x`, `y`) for P-256; the other fields zero.
    struct PublicKey {
        KeyType keyType;
        address signer;
        bytes32 x;
        bytes32 y;
    }

    /// @notice A key in a device's history, valid from `validFrom` until `validUntil` (0: still valid).
    struct KeyRecord {
        PublicKey key;
        uint64 validFrom;
        uint64 validFromBlock;
        uint64 validUntil;
        uint64 validUntilBlock;
    }

    /// @notice A time a device was suspended, from `from` until `until` (0: still suspended).
    struct SuspensionPeriod {
        uint64 from;
        uint64 until;
    }

    /// @notice Descriptive data of a device.
    struct Metadata {
        string model;
        bytes32 firmwareHash;
        string metadataCid;
    }

    /// @notice A registered device.
    struct Device {
        address owner;
        Status status;
        uint64 registeredAt;
        Metadata metadata;
    }

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

    mapping(bytes32 deviceId => Device) private _devices;
    mapping(bytes32 deviceId => KeyRecord[]) private _keys;
    mapping(bytes32 deviceId => SuspensionPeriod[]) private _suspensions;

    /// @notice The device id is zero.
    error DeviceRegistryZeroDeviceId();
    /// @notice The owner address is zero.
    error DeviceRegistryZeroOwner();
    /// @notice The key is malformed: a zero address, a point not on P-256, or mixed fields.
    error DeviceRegistryInvalidKey();
    /// @notice The new key equals the current one.
    error DeviceRegistrySameKey(bytes32 deviceId);
    /// @notice A device with this id is already registered.
    error DeviceRegistryDeviceAlreadyRegistered(bytes32 deviceId);
    /// @notice No device with this id is registered.
    error DeviceRegistryUnknownDevice(bytes32 deviceId);
    /// @notice `caller` is not the owner of the device (nor, for revocation, an admin).
    error DeviceRegistryUnauthorizedOwner(bytes32 deviceId, address caller);
    /// @notice The device's status does not allow the change.
    error DeviceRegistryInvalidStatus(bytes32 deviceId, Status status);
    /// @notice The key index is out of range.
    error DeviceRegistryUnknownKey(bytes32 deviceId, uint256 index);
    /// @notice The suspension index is out of range.
    error DeviceRegistryUnknownSuspension(bytes32 deviceId, uint256 index);

    /// @notice Emitted when a device is registered, with its first key and metadata.
    event DeviceRegistered(
        bytes32 indexed deviceId,
        address indexed owner,
        address indexed registrar,
        PublicKey key,
        Metadata metadata
    );
    /// @notice Emitted when a device's key is replaced; key `keyIndex` is valid from this block on.
    event DeviceKeyRotated(bytes32 indexed deviceId, uint256 indexed keyIndex, PublicKey key);
    /// @notice Emitted when a device's status changes.
    event DeviceStatusChanged(bytes32 indexed deviceId, Status previousStatus, Status newStatus);
    /// @notice Emitted when a device changes owner.
    event DeviceOwnershipTransferred(bytes32 indexed deviceId, address indexed previousOwner, address indexed newOwner);
    /// @notice Emitted when a device's metadata changes.
    event DeviceMetadataUpdated(bytes32 indexed deviceId, Metadata metadata);

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

    /**
     * @notice Registers device `deviceId`, owned by `owner`, signing with `key`.
     * @dev Requirements: the caller has REGISTRAR_ROLE; the id, owner and key are valid; the id is new.
     * The device starts Active with `key` valid from this block. Emits {DeviceRegistered}.
     */
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

    /**
     * @notice Replaces the signing key of `deviceId` with `newKey`, keeping the id.
     * @dev Requirements: the caller owns the device; it is not revoked; `newKey` is valid and differs
     * from the current key. The current key stays in the history, valid until this block.
     * Emits {DeviceKeyRotated}.
     */
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

    /**
     * @notice Suspends `deviceId`: its readings are refused until it is reactivated, and readings
     * dated from now until the reactivation never verify.
     * @dev Requirements: the caller owns the device; it is Active. Opens a suspension period at this
     * block's time. Emits {DeviceStatusChanged}.
     */
    function suspendDevice(bytes32 deviceId) external onlyDeviceOwner(deviceId) {
        Device storage device = _requireStatus(deviceId, Status.Active);
        device.status = Status.Suspended;
        _suspensions[deviceId].push(SuspensionPeriod({from: uint64(block.timestamp), until: 0}));
        emit DeviceStatusChanged(deviceId, Status.Active, Status.Suspended);
    }

    /**
     * @notice Reactivates a suspended device.
     * @dev Requirements: the caller owns the device; it is Suspended. Closes the open suspension
     * period at this block's time; readings dated inside it stay refused. Emits {DeviceStatusChanged}.
     */
    function reactivateDevice(bytes32 deviceId) external onlyDeviceOwner(deviceId) {
        Device storage device = _requireStatus(deviceId, Status.Suspended);
        device.status = Status.Active;
        SuspensionPeriod[] storage periods = _suspensions[deviceId];
        periods[periods.length - 1].until = uint64(block.timestamp); // a suspended device has an open period
        emit DeviceStatusChanged(deviceId, Status.Suspended, Status.Active);
    }

    /**
     * @notice Revokes `deviceId` for good; its current key stops being valid in this block.
     * @dev Requirements: the caller owns the device or has DEFAULT_ADMIN_ROLE; it is not revoked yet.
     * Readings taken before the revocation still verify. Emits {DeviceStatusChanged}.
     */
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

    /**
     * @notice Hands `deviceId` over to `newOwner`.
     * @dev Requirements: the caller owns the device; `newOwner` is non-zero; the device is not revoked.
     * Emits {DeviceOwnershipTransferred}.
     */
    function transferDeviceOwnership(bytes32 deviceId, address newOwner) external onlyDeviceOwner(deviceId) {
        if (newOwner == address(0)) revert DeviceRegistryZeroOwner();
        Device storage device = _devices[deviceId];
        if (device.status == Status.Revoked) revert DeviceRegistryInvalidStatus(deviceId, Status.Revoked);
        address previous = device.owner;
        device.owner = newOwner;
        emit DeviceOwnershipTransferred(deviceId, previous, newOwner);
    }

    /**
     * @notice Replaces the metadata of `deviceId` (after a firmware update, for example).
     * @dev Requirements: the caller owns the device; it is not revoked. Emits {DeviceMetadataUpdated}.
     */
    function updateDeviceMetadata(bytes32 deviceId, Metadata calldata metadata) external onlyDeviceOwner(deviceId) {
        Device storage device = _devices[deviceId];
        if (device.status == Status.Revoked) revert DeviceRegistryInvalidStatus(deviceId, Status.Revoked);
        device.metadata = metadata;
        emit DeviceMetadataUpdated(deviceId, metadata);
    }

    /**
     * @notice Returns the registered device `deviceId`.
     * @dev Reverts with {DeviceRegistryUnknownDevice} when it is not registered.
     */
    function getDevice(bytes32 deviceId) external view returns (Device memory) {
        return _requireDevice(deviceId);
    }

    /**
     * @notice Returns whether `deviceId` is registered (in any status).
     */
    function isRegistered(bytes32 deviceId) external view returns (bool) {
        return _devices[deviceId].status != Status.None;
    }

    /**
     * @notice Returns how many keys `deviceId` has had.
     */
    function keyCount(bytes32 deviceId) external view returns (uint256) {
        return _keys[deviceId].length;
    }

    /**
     * @notice Returns key `index` of `deviceId`'s history (0 is the key it was registered with).
     * @dev Reverts with {DeviceRegistryUnknownKey} when out of range.
     */
    function getKey(bytes32 deviceId, uint256 index) external view returns (KeyRecord memory) {
        KeyRecord[] storage history = _keys[deviceId];
        if (index >= history.length) revert DeviceRegistryUnknownKey(deviceId, index);
        return history[index];
    }

    /**
     * @notice Returns how many times `deviceId` has been suspended.
     */
    function suspensionCount(bytes32 deviceId) external view returns (uint256) {
        return _suspensions[deviceId].length;
    }

    /**
     * @notice Returns suspension period `index` of `deviceId` (0 is the first one).
     * @dev Reverts with {DeviceRegistryUnknownSuspension} when out of range.
     */
    function getSuspension(bytes32 deviceId, uint256 index) external view returns (SuspensionPeriod memory) {
        SuspensionPeriod[] storage periods = _suspensions[deviceId];
        if (index >= periods.length) revert DeviceRegistryUnknownSuspension(deviceId, index);
        return periods[index];
    }

    /**
     * @notice Returns true when time `timestamp` falls inside a suspension period of `deviceId`
     * (from its start, included, to the reactivation, excluded; an open period has no end).
     */
    function isSuspendedAt(bytes32 deviceId, uint64 timestamp) public view returns (bool) {
        SuspensionPeriod[] storage periods = _suspensions[deviceId];
        for (uint256 i = periods.length; i > 0; --i) {
            SuspensionPeriod storage period = periods[i - 1];
            if (period.from > timestamp) continue;
            return period.until == 0 || timestamp < period.until;
        }
        return false;
    }

    /**
     * @notice Returns the EIP-712 digest that the device signs for `reading`.
     */
    function readingDigest(Reading calldata reading) public view returns (bytes32) {
        return _hashTypedDataV4(_hashReading(reading));
    }

    /**
     * @notice Returns true when `signature` over `digest` is by the key of `deviceId` that is valid
     * now, and the device is Active.
     * @dev secp256k1 signatures are 65 bytes (r, s, v); P-256 signatures are 64 bytes (r, s). Both
     * must have a low `s`. Never reverts.
     */
    function verifyReading(bytes32 deviceId, bytes32 digest, bytes calldata signature) external view returns (bool) {
        if (_devices[deviceId].status != Status.Active) return false;
        // Active now, so not inside a suspension now: only the key is checked.
        return _verifyKeyAt(deviceId, digest, signature, uint64(block.timestamp));
    }

    /**
     * @notice Returns true when `signature` over `digest` is by the key of `deviceId` that was valid
     * at time `timestamp` (a key rotated out or revoked before then does not count), and the device
     * was not suspended at that time.
     * @dev Ignores the current status, so readings taken before a suspension or revocation verify;
     * a reading dated inside a suspension period never does, also after the reactivation.
     */
    function verifyReadingAt(
        bytes32 deviceId,
        bytes32 digest,
        bytes calldata signature,
        uint64 timestamp
    ) external view returns (bool) {
        return _verifyAt(deviceId, digest, signature, timestamp);
    }

    /**
     * @notice Returns true when `signature` is by the key of `reading.deviceId` valid at `reading.timestamp`,
     * and the device was not suspended at that time.
     * @dev Computes the EIP-712 digest of `reading` itself.
     */
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
