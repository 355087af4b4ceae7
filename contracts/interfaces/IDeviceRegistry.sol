// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IDeviceRegistry
 * @notice The types, errors, events and functions of {DeviceRegistry}: on-chain identities of the
 * IoT devices whose signed readings the ledger notarizes, each with its owner, its history of
 * signing keys (secp256k1 or P-256) and its suspension periods.
 */
interface IDeviceRegistry {
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
    ) external;

    /**
     * @notice Replaces the signing key of `deviceId` with `newKey`, keeping the id.
     * @dev Requirements: the caller owns the device; it is not revoked; `newKey` is valid and differs
     * from the current key. The current key stays in the history, valid until this block.
     * Emits {DeviceKeyRotated}.
     */
    function rotateKey(bytes32 deviceId, PublicKey calldata newKey) external;

    /**
     * @notice Suspends `deviceId`: its readings are refused until it is reactivated, and readings
     * dated from now until the reactivation never verify.
     * @dev Requirements: the caller owns the device; it is Active. Opens a suspension period at this
     * block's time. Emits {DeviceStatusChanged}.
     */
    function suspendDevice(bytes32 deviceId) external;

    /**
     * @notice Reactivates a suspended device.
     * @dev Requirements: the caller owns the device; it is Suspended. Closes the open suspension
     * period at this block's time; readings dated inside it stay refused. Emits {DeviceStatusChanged}.
     */
    function reactivateDevice(bytes32 deviceId) external;

    /**
     * @notice Revokes `deviceId` for good; its current key stops being valid in this block.
     * @dev Requirements: the caller owns the device or has DEFAULT_ADMIN_ROLE; it is not revoked yet.
     * Readings taken before the revocation still verify. Emits {DeviceStatusChanged}.
     */
    function revokeDevice(bytes32 deviceId) external;

    /**
     * @notice Hands `deviceId` over to `newOwner`.
     * @dev Requirements: the caller owns the device; `newOwner` is non-zero; the device is not revoked.
     * Emits {DeviceOwnershipTransferred}.
     */
    function transferDeviceOwnership(bytes32 deviceId, address newOwner) external;

    /**
     * @notice Replaces the metadata of `deviceId` (after a firmware update, for example).
     * @dev Requirements: the caller owns the device; it is not revoked. Emits {DeviceMetadataUpdated}.
     */
    function updateDeviceMetadata(bytes32 deviceId, Metadata calldata metadata) external;

    /**
     * @notice Returns the registered device `deviceId`.
     * @dev Reverts with {DeviceRegistryUnknownDevice} when it is not registered.
     */
    function getDevice(bytes32 deviceId) external view returns (Device memory);

    /// @notice Returns whether `deviceId` is registered (in any status).
    function isRegistered(bytes32 deviceId) external view returns (bool);

    /// @notice Returns how many keys `deviceId` has had.
    function keyCount(bytes32 deviceId) external view returns (uint256);

    /**
     * @notice Returns key `index` of `deviceId`'s history (0 is the key it was registered with).
     * @dev Reverts with {DeviceRegistryUnknownKey} when out of range.
     */
    function getKey(bytes32 deviceId, uint256 index) external view returns (KeyRecord memory);

    /// @notice Returns how many times `deviceId` has been suspended.
    function suspensionCount(bytes32 deviceId) external view returns (uint256);

    /**
     * @notice Returns suspension period `index` of `deviceId` (0 is the first one).
     * @dev Reverts with {DeviceRegistryUnknownSuspension} when out of range.
     */
    function getSuspension(bytes32 deviceId, uint256 index) external view returns (SuspensionPeriod memory);

    /**
     * @notice Returns true when time `timestamp` falls inside a suspension period of `deviceId`
     * (from its start, included, to the reactivation, excluded; an open period has no end).
     */
    function isSuspendedAt(bytes32 deviceId, uint64 timestamp) external view returns (bool);

    /// @notice Returns the EIP-712 digest that the device signs for `reading`.
    function readingDigest(Reading calldata reading) external view returns (bytes32);

    /**
     * @notice Returns true when `signature` over `digest` is by the key of `deviceId` that is valid
     * now, and the device is Active.
     * @dev secp256k1 signatures are 65 bytes (r, s, v); P-256 signatures are 64 bytes (r, s). Both
     * must have a low `s`. Never reverts.
     */
    function verifyReading(bytes32 deviceId, bytes32 digest, bytes calldata signature) external view returns (bool);

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
    ) external view returns (bool);

    /**
     * @notice Returns true when `signature` is by the key of `reading.deviceId` valid at `reading.timestamp`,
     * and the device was not suspended at that time.
     * @dev Computes the EIP-712 digest of `reading` itself.
     */
    function verifySignedReading(Reading calldata reading, bytes calldata signature) external view returns (bool);
}
