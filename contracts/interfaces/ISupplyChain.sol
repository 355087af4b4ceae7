// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDataNotary} from "./IDataNotary.sol";
import {IDeviceRegistry} from "./IDeviceRegistry.sol";

/**
 * @title ISupplyChain
 * @notice The types, errors, events and functions of {SupplyChain}: physical items (or lots) from
 * registration to delivery, who holds them, where they were seen, in what condition, with sensor
 * evidence anchored in the notary. The events map onto GS1 EPCIS 2.0 (docs/supply-chain.md).
 */
interface ISupplyChain {
    /// @notice Where an item is in its life. Delivered and Recalled are final.
    enum Status {
        None,
        Active,
        Delivered,
        Recalled
    }

    /// @notice Whether the item's sensors show it was kept as required.
    enum Condition {
        Compliant,
        OutOfCompliance
    }

    /// @notice A place: microdegrees and a site code (GLN as ASCII, or zero).
    struct Location {
        int32 latitudeE6;
        int32 longitudeE6;
        bytes32 site;
    }

    /// @notice A signed reading proven under a batch root anchored in the notary (root zero: none).
    /// The digest is computed here from the reading's fields, its signature checked against the
    /// device's key valid at the reading's time, and the leaf computed as the notary's trees build
    /// it, so an inner node or the root itself cannot pass for a reading.
    struct Evidence {
        IDeviceRegistry.Reading reading;
        bytes signature;
        bytes32 root;
        bytes32[] proof;
    }

    /// @notice A period a device was attached to an item: from `attachedAt` until `detachedAt`
    /// (zero: still attached), in seconds; a reading at time t is inside when
    /// attachedAt <= t < detachedAt.
    struct Attachment {
        uint64 attachedAt;
        uint64 detachedAt;
    }

    /// @notice An item as stored.
    struct Item {
        address manufacturer;
        Status status;
        Condition condition;
        bool held;
        uint40 registeredAt;
        uint32 transferCount;
        address custodian;
        uint40 closedAt;
        bytes32 contentHash;
    }

    /// @notice A proposed custody transfer, waiting for the receiver (one storage slot; its
    /// location is in the {TransferProposed} event).
    struct Transfer {
        address to;
        uint64 expiresAt;
        uint32 id;
    }

    /// @notice The item id is zero.
    error SupplyChainZeroItemId();
    /// @notice An item with this id exists.
    error SupplyChainItemExists(bytes32 itemId);
    /// @notice No item has this id.
    error SupplyChainUnknownItem(bytes32 itemId);
    /// @notice The device is not in the registry.
    error SupplyChainUnknownDevice(bytes32 deviceId);
    /// @notice The device is already attached to the item.
    error SupplyChainDeviceAlreadyAttached(bytes32 itemId, bytes32 deviceId);
    /// @notice The device is not attached to the item.
    error SupplyChainDeviceNotAttached(bytes32 itemId, bytes32 deviceId);
    /// @notice `caller` is not the item's custodian.
    error SupplyChainNotCustodian(bytes32 itemId, address caller);
    /// @notice `caller` is not the item's manufacturer (nor an admin).
    error SupplyChainNotManufacturer(bytes32 itemId, address caller);
    /// @notice `caller` is not the receiver the transfer names.
    error SupplyChainNotReceiver(bytes32 itemId, address caller);
    /// @notice `caller` is neither the custodian nor the receiver of the pending transfer.
    error SupplyChainNotTransferParty(bytes32 itemId, address caller);
    /// @notice `caller` may not record checkpoints on the item (not its custodian).
    error SupplyChainNotCheckpointer(bytes32 itemId, address caller);
    /// @notice `caller` is not the owner of the device in the registry.
    error SupplyChainNotDeviceOwner(bytes32 deviceId, address caller);
    /// @notice The device's owner has not consented to attaching it to the item.
    error SupplyChainNoOwnerConsent(bytes32 itemId, bytes32 deviceId);
    /// @notice An open escrow relies on the device: it cannot be detached now.
    error SupplyChainDeviceLocked(bytes32 itemId, bytes32 deviceId);
    /// @notice The evidence's reading was not taken while its device was attached to the item.
    error SupplyChainEvidenceNotAttached(bytes32 itemId, bytes32 deviceId, uint64 timestamp);
    /// @notice The evidence's reading is dated after the block time plus {CLOCK_TOLERANCE}.
    error SupplyChainEvidenceFromTheFuture(uint64 timestamp, uint256 blockTime);
    /// @notice The evidence's signature is not by its device's key valid at the reading's time.
    error SupplyChainInvalidEvidenceSignature(bytes32 deviceId);
    /// @notice `caller` is not the bound oracle contract.
    error SupplyChainNotOracle(address caller);
    /// @notice `caller` did not deploy this contract.
    error SupplyChainNotDeployer(address caller);
    /// @notice The oracle was bound already.
    error SupplyChainOracleAlreadyBound(address oracle);
    /// @notice `oracle` is not a sensor oracle for this supply chain.
    error SupplyChainInvalidOracle(address oracle);
    /// @notice The item is delivered or recalled: nothing more happens to it.
    error SupplyChainItemClosed(bytes32 itemId, Status status);
    /// @notice The item is on hold: it cannot change hands.
    error SupplyChainItemOnHold(bytes32 itemId);
    /// @notice A transfer is already pending for the item.
    error SupplyChainTransferPending(bytes32 itemId, uint32 transferId);
    /// @notice No transfer is pending for the item.
    error SupplyChainNoPendingTransfer(bytes32 itemId);
    /// @notice The pending transfer expired at `expiresAt`.
    error SupplyChainTransferExpired(bytes32 itemId, uint64 expiresAt);
    /// @notice The receiver is zero or the custodian itself.
    error SupplyChainInvalidReceiver(address receiver);
    /// @notice The expiry is not in the future.
    error SupplyChainInvalidExpiry(uint64 expiresAt);
    /// @notice The evidence does not prove the leaf under a root the notary anchored.
    error SupplyChainEvidenceNotAnchored(bytes32 root, bytes32 leaf);
    /// @notice The item is already in that condition.
    error SupplyChainSameCondition(bytes32 itemId, Condition condition);

    /// @notice An item was registered (EPCIS ObjectEvent ADD, commissioning).
    event ItemRegistered(
        bytes32 indexed itemId,
        address indexed manufacturer,
        address indexed custodian,
        bytes32 contentHash,
        string metadataCid
    );
    /// @notice A sensor device was attached to an item (EPCIS AssociationEvent ADD).
    event DeviceAttached(bytes32 indexed itemId, bytes32 indexed deviceId, address actor);
    /// @notice A sensor device was detached from an item (EPCIS AssociationEvent DELETE).
    event DeviceDetached(bytes32 indexed itemId, bytes32 indexed deviceId, address actor);
    /// @notice The device's owner approved (or withdrew approval of) attaching it to the item.
    event AttachmentApproved(bytes32 indexed itemId, bytes32 indexed deviceId, address indexed owner, bool approved);
    /// @notice The sensor oracle contract that sets conditions was bound; final.
    event ConditionOracleBound(address indexed oracle);
    /// @notice The custodian proposed a transfer (EPCIS ObjectEvent OBSERVE, shipping).
    event TransferProposed(
        bytes32 indexed itemId,
        uint32 indexed transferId,
        address indexed custodian,
        address receiver,
        Location location,
        uint64 expiresAt
    );
    /// @notice The receiver accepted at `location`: custody changed (EPCIS TransferEvent and
    /// ObjectEvent, receiving).
    event TransferAccepted(
        bytes32 indexed itemId,
        uint32 indexed transferId,
        address indexed previousCustodian,
        address newCustodian,
        Location location
    );
    /// @notice A pending transfer was withdrawn or refused.
    event TransferCancelled(bytes32 indexed itemId, uint32 indexed transferId, address indexed actor);
    /// @notice The item was seen somewhere (EPCIS ObjectEvent OBSERVE, with sensor evidence).
    event CheckpointRecorded(
        bytes32 indexed itemId,
        address indexed recorder,
        uint16 indexed statusCode,
        Location location,
        bytes32 evidenceRoot,
        bytes32 evidenceLeaf
    );
    /// @notice The item's condition changed (EPCIS disposition conformant / non_conformant).
    event ConditionChanged(
        bytes32 indexed itemId,
        Condition previousCondition,
        Condition newCondition,
        address indexed reporter,
        bytes32 evidenceRoot,
        bytes32 evidenceLeaf
    );
    /// @notice The manufacturer put the item on hold (EPCIS disposition on_hold).
    event ItemHeld(bytes32 indexed itemId, address indexed actor);
    /// @notice The manufacturer released the hold (EPCIS disposition active).
    event ItemReleased(bytes32 indexed itemId, address indexed actor);
    /// @notice The manufacturer recalled the item; final (EPCIS disposition recalled).
    event ItemRecalled(bytes32 indexed itemId, address indexed actor, string reason);
    /// @notice The custodian took final delivery; final (EPCIS ObjectEvent, accepting).
    event ItemDelivered(bytes32 indexed itemId, address indexed custodian, Location location);

    /// @notice The device registry devices, owners and signatures are checked against.
    function registry() external view returns (IDeviceRegistry);

    /// @notice The notary evidence roots are checked against.
    function notary() external view returns (IDataNotary);

    /// @notice The sensor oracle contract, the only account that sets conditions and detach locks
    /// (zero until {bindOracle}).
    function oracle() external view returns (address);

    /**
     * @notice Binds the sensor oracle contract `oracle_`, from then on the only account that sets
     * item conditions and detach locks; final. Part of the deployment: the deployer needs no role
     * for it, and keeps none after it.
     * @dev Requirements: the caller deployed this contract; no oracle bound yet; `oracle_` names
     * this contract as its supply chain. Emits {ConditionOracleBound}.
     */
    function bindOracle(address oracle_) external;

    /**
     * @notice Registers item `itemId` made by the caller and held by `custodian`, with the hash of
     * its description and the content id of its metadata, and attaches sensor `deviceIds`.
     * @dev Requirements: MANUFACTURER_ROLE; a new, non-zero id; a non-zero custodian; registered,
     * distinct devices, each owned by the caller (a device someone else owns is attached after
     * registration, with its owner's approval). Emits {ItemRegistered} and one {DeviceAttached}
     * per device.
     */
    function registerItem(
        bytes32 itemId,
        address custodian,
        bytes32 contentHash,
        string calldata metadataCid,
        bytes32[] calldata deviceIds
    ) external;

    /**
     * @notice As the owner of device `deviceId`, approves (or withdraws approval of) attaching it
     * to item `itemId`; an attachment uses the approval up.
     * @dev Requirements: the item is open; the caller owns the device in the registry.
     * Emits {AttachmentApproved}.
     */
    function approveAttachment(bytes32 itemId, bytes32 deviceId, bool approved) external;

    /**
     * @notice Attaches sensor device `deviceId` to an open item, from now on (a new attachment
     * period).
     * @dev Requirements: the caller is the item's manufacturer or an admin; the device is
     * registered and not attached; the caller owns it or its owner approved this (item, device)
     * pair. Emits {DeviceAttached}.
     */
    function attachDevice(bytes32 itemId, bytes32 deviceId) external;

    /**
     * @notice Detaches sensor device `deviceId` from an open item: its attachment period ends now.
     * @dev Requirements: the caller is the item's manufacturer or an admin; the device is attached
     * and no open escrow relies on it. Emits {DeviceDetached}.
     */
    function detachDevice(bytes32 itemId, bytes32 deviceId) external;

    /**
     * @notice Adds (`locked`) or removes one detach lock on device `deviceId` of the item (device
     * zero: every device of the item): a locked device cannot be detached.
     * @dev Requirements: the caller is the bound oracle (which locks the devices of the rules an
     * open escrow relies on, and unlocks them when it settles).
     */
    function setDetachLock(bytes32 itemId, bytes32 deviceId, bool locked) external;

    /**
     * @notice Proposes to hand the item to `to` at `location`; `to` may accept until `expiresAt`.
     * @dev Requirements: the caller is the custodian; the item is open, not on hold, with no
     * pending transfer; `to` is neither zero nor the caller; the expiry is in the future.
     * Emits {TransferProposed}.
     * @return transferId The transfer's number within the item, counting from one.
     */
    function proposeTransfer(
        bytes32 itemId,
        address to,
        Location calldata location,
        uint64 expiresAt
    ) external returns (uint32 transferId);

    /**
     * @notice Accepts the pending transfer of the item, received at `location`: the caller becomes
     * its custodian.
     * @dev Requirements: the caller is the named receiver; the transfer has not expired; the item
     * is open and not on hold. Emits {TransferAccepted}.
     */
    function acceptTransfer(bytes32 itemId, Location calldata location) external;

    /**
     * @notice Withdraws (custodian) or refuses (receiver) the pending transfer of the item.
     * @dev Requirements: a transfer is pending; the caller is its custodian or receiver.
     * Emits {TransferCancelled}.
     */
    function cancelTransfer(bytes32 itemId) external;

    /**
     * @notice Records that the item was seen at `location` with business status `statusCode`,
     * optionally with sensor evidence, which is checked against the notary.
     * @dev Requirements: the caller is the custodian; the item is open; evidence with a non-zero
     * root is a reading of a device attached to the item when it was taken, signed by the device's
     * key valid then, whose leaf is proven under that anchored root. Emits {CheckpointRecorded}.
     */
    function recordCheckpoint(
        bytes32 itemId,
        Location calldata location,
        uint16 statusCode,
        Evidence calldata evidence
    ) external;

    /**
     * @notice Sets the item's condition, naming the evidence the oracle checked (the batch root and
     * leaf of the first breaching reading; zero for a committee report).
     * @dev Requirements: the caller is the bound oracle contract; the item is open; the condition
     * changes. Emits {ConditionChanged}.
     */
    function setCondition(bytes32 itemId, Condition condition, bytes32 evidenceRoot, bytes32 evidenceLeaf) external;

    /**
     * @notice Puts the item on hold: no transfer can be proposed or accepted until it is released.
     * @dev Requirements: the item's manufacturer or an admin; the item is open. Emits {ItemHeld}.
     */
    function holdItem(bytes32 itemId) external;

    /**
     * @notice Releases the hold on the item.
     * @dev Requirements: the item's manufacturer or an admin; the item is open. Emits {ItemReleased}.
     */
    function releaseItem(bytes32 itemId) external;

    /**
     * @notice Recalls the item for `reason`; final. A pending transfer is cancelled.
     * @dev Requirements: the item's manufacturer or an admin; the item is open.
     * Emits {TransferCancelled} when a transfer was pending, then {ItemRecalled}.
     */
    function recallItem(bytes32 itemId, string calldata reason) external;

    /**
     * @notice The custodian takes final delivery of the item at `location`; final.
     * @dev Requirements: the caller is the custodian; the item is open, not on hold, with no
     * pending transfer. Emits {ItemDelivered}.
     */
    function confirmDelivery(bytes32 itemId, Location calldata location) external;

    /**
     * @notice Returns the item (reverts with {SupplyChainUnknownItem} for an unknown id).
     */
    function getItem(bytes32 itemId) external view returns (Item memory);

    /**
     * @notice Returns whether the item exists.
     */
    function exists(bytes32 itemId) external view returns (bool);

    /**
     * @notice Returns the pending transfer of the item (`to` zero when none).
     */
    function pendingTransfer(bytes32 itemId) external view returns (Transfer memory);

    /**
     * @notice Returns the sensor devices attached to the item now.
     */
    function devicesOf(bytes32 itemId) external view returns (bytes32[] memory devices);

    /**
     * @notice Returns every device ever attached to the item, in the order first attached.
     */
    function deviceHistoryOf(bytes32 itemId) external view returns (bytes32[] memory);

    /**
     * @notice Returns the periods `deviceId` was attached to the item, oldest first.
     */
    function attachmentsOf(bytes32 itemId, bytes32 deviceId) external view returns (Attachment[] memory);

    /**
     * @notice Returns whether `deviceId` is attached to the item now.
     */
    function isAttached(bytes32 itemId, bytes32 deviceId) external view returns (bool);

    /**
     * @notice Returns whether one attachment period of `deviceId` to the item covers the whole
     * time from `from` to `to` (inclusive; `from` <= `to`).
     */
    function attachedThroughout(bytes32 itemId, bytes32 deviceId, uint64 from, uint64 to) external view returns (bool);

    /**
     * @notice Returns the detach locks on `deviceId` of the item (device zero: on all its devices).
     */
    function detachLocksOf(bytes32 itemId, bytes32 deviceId) external view returns (uint32);

    /**
     * @notice Returns the item's status and condition in one call (for the asset token).
     */
    function stateOf(bytes32 itemId) external view returns (Status status, Condition condition);
}
