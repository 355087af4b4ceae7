// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {DeviceRegistry} from "./DeviceRegistry.sol";
import {ReadingLeaf} from "./ReadingLeaf.sol";

/// @notice What SupplyChain needs to know of the oracle it is bound to.
interface IConditionOracle {
    function supplyChain() external view returns (address);
}

/// @notice What SupplyChain needs of the notary.
interface IReadingNotary {
    function verify(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);
}

/**
 * @title SupplyChain
 * @notice Physical items (or lots) from registration to delivery: who holds them, where they
 * were seen, in what condition, with sensor evidence anchored in {IReadingNotary}.
 *
 * Custody changes hands in two steps: the custodian proposes a transfer to a named receiver (with
 * a location and an expiry) and the receiver accepts it; either may cancel before that. Checkpoints
 * are recorded by the custodian, optionally with evidence: a signed reading of a device attached to
 * the item when the reading was taken, and its Merkle proof against a batch root the notary
 * anchored, all checked here. The condition (compliant or out of compliance) is set only by the
 * sensor oracle contract bound once at deployment ({bindOracle}), in the transaction that proves
 * the breach: no account holds a key that changes it. Manufacturers may hold, release and recall
 * their items; Delivered and Recalled are final.
 *
 * Devices are attached to an item for periods (attached from, detached at; a device may be attached
 * again later): evidence counts only when the reading's timestamp lies inside one of them.
 * Attaching needs the device owner's consent: the owner attaches it, or approves the (item,
 * device) pair first with {approveAttachment} (used up by the attachment). While an escrow relies
 * on an item's rules, the oracle locks the devices they watch ({setDetachLock}): they cannot be
 * detached.
 *
 * Locations are WGS 84 coordinates in microdegrees (`latitudeE6`, `longitudeE6`) and a 32-byte
 * site code (a GS1 GLN as ASCII digits, right-padded with zeros, or zero when unknown).
 * The events map onto GS1 EPCIS 2.0 (docs/supply-chain.md).
 */
contract SupplyChain is AccessControl, Multicall {
    /// @notice Role allowed to register items.
    bytes32 public constant MANUFACTURER_ROLE = keccak256("MANUFACTURER_ROLE");
    /// @notice How far a checkpoint's evidence may be dated ahead of the block (device clocks).
    uint64 public constant CLOCK_TOLERANCE = 60;

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
        DeviceRegistry.Reading reading;
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

    /// @notice The device registry devices, owners and signatures are checked against.
    DeviceRegistry public immutable registry;
    /// @notice The notary evidence roots are checked against.
    IReadingNotary public immutable notary;
    /// @notice The sensor oracle contract, the only account that sets conditions and detach locks
    /// (zero until {bindOracle}).
    address public oracle;
    /// @dev The account that deployed this contract: the one that binds the oracle, once.
    address private immutable _deployer;

    mapping(bytes32 itemId => Item) private _items;
    mapping(bytes32 itemId => Transfer) private _pending;
    mapping(bytes32 itemId => bytes32[]) private _devices; // every device ever attached, in order
    mapping(bytes32 itemId => mapping(bytes32 deviceId => Attachment[])) private _attachments;
    mapping(bytes32 itemId => mapping(bytes32 deviceId => address owner)) private _consents;
    mapping(bytes32 itemId => mapping(bytes32 deviceId => uint32)) private _detachLocks; // device 0: all

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

    /**
     * @param admin Account that receives the admin and manufacturer roles.
     * @param registry_ The device registry devices are checked against.
     * @param notary_ The notary evidence roots are checked against.
     */
    constructor(address admin, DeviceRegistry registry_, IReadingNotary notary_) {
        registry = registry_;
        notary = notary_;
        _deployer = _msgSender();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MANUFACTURER_ROLE, admin);
    }

    /**
     * @notice Binds the sensor oracle contract `oracle_`, from then on the only account that sets
     * item conditions and detach locks; final. Part of the deployment: the deployer needs no role
     * for it, and keeps none after it.
     * @dev Requirements: the caller deployed this contract; no oracle bound yet; `oracle_` names
     * this contract as its supply chain. Emits {ConditionOracleBound}.
     */
    function bindOracle(address oracle_) external {
        if (_msgSender() != _deployer) revert SupplyChainNotDeployer(_msgSender());
        if (oracle != address(0)) revert SupplyChainOracleAlreadyBound(oracle);
        if (oracle_.code.length == 0 || IConditionOracle(oracle_).supplyChain() != address(this)) {
            revert SupplyChainInvalidOracle(oracle_);
        }
        oracle = oracle_;
        emit ConditionOracleBound(oracle_);
    }

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
    ) external onlyRole(MANUFACTURER_ROLE) {
        if (itemId == bytes32(0)) revert SupplyChainZeroItemId();
        if (custodian == address(0)) revert SupplyChainInvalidReceiver(custodian);
        Item storage item = _items[itemId];
        if (item.status != Status.None) revert SupplyChainItemExists(itemId);
        item.manufacturer = _msgSender();
        item.status = Status.Active;
        item.registeredAt = uint40(block.timestamp);
        item.custodian = custodian;
        item.contentHash = contentHash;
        emit ItemRegistered(itemId, _msgSender(), custodian, contentHash, metadataCid);
        for (uint256 i = 0; i < deviceIds.length; ++i) {
            _attach(itemId, deviceIds[i]);
        }
    }

    /**
     * @notice As the owner of device `deviceId`, approves (or withdraws approval of) attaching it
     * to item `itemId`; an attachment uses the approval up.
     * @dev Requirements: the item is open; the caller owns the device in the registry.
     * Emits {AttachmentApproved}.
     */
    function approveAttachment(bytes32 itemId, bytes32 deviceId, bool approved) external {
        _requireOpen(itemId);
        if (_ownerOf(deviceId) != _msgSender()) revert SupplyChainNotDeviceOwner(deviceId, _msgSender());
        _consents[itemId][deviceId] = approved ? _msgSender() : address(0);
        emit AttachmentApproved(itemId, deviceId, _msgSender(), approved);
    }

    /**
     * @notice Attaches sensor device `deviceId` to an open item, from now on (a new attachment
     * period).
     * @dev Requirements: the caller is the item's manufacturer or an admin; the device is
     * registered and not attached; the caller owns it or its owner approved this (item, device)
     * pair. Emits {DeviceAttached}.
     */
    function attachDevice(bytes32 itemId, bytes32 deviceId) external {
        _requireOpen(itemId);
        _checkManufacturer(itemId);
        _attach(itemId, deviceId);
    }

    /**
     * @notice Detaches sensor device `deviceId` from an open item: its attachment period ends now.
     * @dev Requirements: the caller is the item's manufacturer or an admin; the device is attached
     * and no open escrow relies on it. Emits {DeviceDetached}.
     */
    function detachDevice(bytes32 itemId, bytes32 deviceId) external {
        _requireOpen(itemId);
        _checkManufacturer(itemId);
        Attachment[] storage periods = _attachments[itemId][deviceId];
        uint256 count = periods.length;
        if (count == 0 || periods[count - 1].detachedAt != 0) revert SupplyChainDeviceNotAttached(itemId, deviceId);
        if (_detachLocks[itemId][bytes32(0)] != 0 || _detachLocks[itemId][deviceId] != 0) {
            revert SupplyChainDeviceLocked(itemId, deviceId);
        }
        periods[count - 1].detachedAt = uint64(block.timestamp);
        emit DeviceDetached(itemId, deviceId, _msgSender());
    }

    /**
     * @notice Adds (`locked`) or removes one detach lock on device `deviceId` of the item (device
     * zero: every device of the item): a locked device cannot be detached.
     * @dev Requirements: the caller is the bound oracle (which locks the devices of the rules an
     * open escrow relies on, and unlocks them when it settles).
     */
    function setDetachLock(bytes32 itemId, bytes32 deviceId, bool locked) external {
        if (_msgSender() != oracle || oracle == address(0)) revert SupplyChainNotOracle(_msgSender());
        if (locked) ++_detachLocks[itemId][deviceId];
        else --_detachLocks[itemId][deviceId];
    }

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
    ) external returns (uint32 transferId) {
        Item storage item = _requireOpen(itemId);
        if (item.custodian != _msgSender()) revert SupplyChainNotCustodian(itemId, _msgSender());
        if (item.held) revert SupplyChainItemOnHold(itemId);
        Transfer storage pending = _pending[itemId];
        if (pending.to != address(0)) revert SupplyChainTransferPending(itemId, pending.id);
        if (to == address(0) || to == _msgSender()) revert SupplyChainInvalidReceiver(to);
        if (expiresAt <= block.timestamp) revert SupplyChainInvalidExpiry(expiresAt);
        transferId = item.transferCount + 1;
        item.transferCount = transferId;
        _pending[itemId] = Transfer({to: to, expiresAt: expiresAt, id: transferId});
        emit TransferProposed(itemId, transferId, _msgSender(), to, location, expiresAt);
    }

    /**
     * @notice Accepts the pending transfer of the item, received at `location`: the caller becomes
     * its custodian.
     * @dev Requirements: the caller is the named receiver; the transfer has not expired; the item
     * is open and not on hold. Emits {TransferAccepted}.
     */
    function acceptTransfer(bytes32 itemId, Location calldata location) external {
        Item storage item = _requireOpen(itemId);
        Transfer storage pending = _pending[itemId];
        if (pending.to == address(0)) revert SupplyChainNoPendingTransfer(itemId);
        if (pending.to != _msgSender()) revert SupplyChainNotReceiver(itemId, _msgSender());
        if (block.timestamp > pending.expiresAt) revert SupplyChainTransferExpired(itemId, pending.expiresAt);
        if (item.held) revert SupplyChainItemOnHold(itemId);
        address from = item.custodian;
        uint32 transferId = pending.id;
        delete _pending[itemId];
        item.custodian = _msgSender();
        emit TransferAccepted(itemId, transferId, from, _msgSender(), location);
    }

    /**
     * @notice Withdraws (custodian) or refuses (receiver) the pending transfer of the item.
     * @dev Requirements: a transfer is pending; the caller is its custodian or receiver.
     * Emits {TransferCancelled}.
     */
    function cancelTransfer(bytes32 itemId) external {
        Item storage item = _items[itemId];
        if (item.status == Status.None) revert SupplyChainUnknownItem(itemId);
        Transfer storage pending = _pending[itemId];
        if (pending.to == address(0)) revert SupplyChainNoPendingTransfer(itemId);
        if (_msgSender() != item.custodian && _msgSender() != pending.to) {
            revert SupplyChainNotTransferParty(itemId, _msgSender());
        }
        uint32 transferId = pending.id;
        delete _pending[itemId];
        emit TransferCancelled(itemId, transferId, _msgSender());
    }

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
    ) external {
        Item storage item = _requireOpen(itemId);
        if (item.custodian != _msgSender()) revert SupplyChainNotCheckpointer(itemId, _msgSender());
        bytes32 leaf = _checkEvidence(itemId, evidence);
        emit CheckpointRecorded(itemId, _msgSender(), statusCode, location, evidence.root, leaf);
    }

    /**
     * @notice Sets the item's condition, naming the evidence the oracle checked (the batch root and
     * leaf of the first breaching reading; zero for a committee report).
     * @dev Requirements: the caller is the bound oracle contract; the item is open; the condition
     * changes. Emits {ConditionChanged}.
     */
    function setCondition(bytes32 itemId, Condition condition, bytes32 evidenceRoot, bytes32 evidenceLeaf) external {
        if (_msgSender() != oracle || oracle == address(0)) revert SupplyChainNotOracle(_msgSender());
        Item storage item = _requireOpen(itemId);
        Condition previous = item.condition;
        if (previous == condition) revert SupplyChainSameCondition(itemId, condition);
        item.condition = condition;
        emit ConditionChanged(itemId, previous, condition, _msgSender(), evidenceRoot, evidenceLeaf);
    }

    /**
     * @notice Puts the item on hold: no transfer can be proposed or accepted until it is released.
     * @dev Requirements: the item's manufacturer or an admin; the item is open. Emits {ItemHeld}.
     */
    function holdItem(bytes32 itemId) external {
        Item storage item = _requireOpen(itemId);
        _checkManufacturer(itemId);
        item.held = true;
        emit ItemHeld(itemId, _msgSender());
    }

    /**
     * @notice Releases the hold on the item.
     * @dev Requirements: the item's manufacturer or an admin; the item is open. Emits {ItemReleased}.
     */
    function releaseItem(bytes32 itemId) external {
        Item storage item = _requireOpen(itemId);
        _checkManufacturer(itemId);
        item.held = false;
        emit ItemReleased(itemId, _msgSender());
    }

    /**
     * @notice Recalls the item for `reason`; final. A pending transfer is cancelled.
     * @dev Requirements: the item's manufacturer or an admin; the item is open.
     * Emits {TransferCancelled} when a transfer was pending, then {ItemRecalled}.
     */
    function recallItem(bytes32 itemId, string calldata reason) external {
        Item storage item = _requireOpen(itemId);
        _checkManufacturer(itemId);
        _dropPending(itemId);
        item.status = Status.Recalled;
        item.closedAt = uint40(block.timestamp);
        emit ItemRecalled(itemId, _msgSender(), reason);
    }

    /**
     * @notice The custodian takes final delivery of the item at `location`; final.
     * @dev Requirements: the caller is the custodian; the item is open, not on hold, with no
     * pending transfer. Emits {ItemDelivered}.
     */
    function confirmDelivery(bytes32 itemId, Location calldata location) external {
        Item storage item = _requireOpen(itemId);
        if (item.custodian != _msgSender()) revert SupplyChainNotCustodian(itemId, _msgSender());
        if (item.held) revert SupplyChainItemOnHold(itemId);
        Transfer storage pending = _pending[itemId];
        if (pending.to != address(0)) revert SupplyChainTransferPending(itemId, pending.id);
        item.status = Status.Delivered;
        item.closedAt = uint40(block.timestamp);
        emit ItemDelivered(itemId, _msgSender(), location);
    }

    /**
     * @notice Returns the item (reverts with {SupplyChainUnknownItem} for an unknown id).
     */
    function getItem(bytes32 itemId) external view returns (Item memory) {
        Item storage item = _items[itemId];
        if (item.status == Status.None) revert SupplyChainUnknownItem(itemId);
        return item;
    }

    /**
     * @notice Returns whether the item exists.
     */
    function exists(bytes32 itemId) external view returns (bool) {
        return _items[itemId].status != Status.None;
    }

    /**
     * @notice Returns the pending transfer of the item (`to` zero when none).
     */
    function pendingTransfer(bytes32 itemId) external view returns (Transfer memory) {
        return _pending[itemId];
    }

    /**
     * @notice Returns the sensor devices attached to the item now.
     */
    function devicesOf(bytes32 itemId) external view returns (bytes32[] memory devices) {
        bytes32[] storage all = _devices[itemId];
        devices = new bytes32[](all.length);
        uint256 count;
        for (uint256 i = 0; i < all.length; ++i) {
            if (_isAttached(itemId, all[i])) devices[count++] = all[i];
        }
        assembly ("memory-safe") {
            mstore(devices, count)
        }
    }

    /**
     * @notice Returns every device ever attached to the item, in the order first attached.
     */
    function deviceHistoryOf(bytes32 itemId) external view returns (bytes32[] memory) {
        return _devices[itemId];
    }

    /**
     * @notice Returns the periods `deviceId` was attached to the item, oldest first.
     */
    function attachmentsOf(bytes32 itemId, bytes32 deviceId) external view returns (Attachment[] memory) {
        return _attachments[itemId][deviceId];
    }

    /**
     * @notice Returns whether `deviceId` is attached to the item now.
     */
    function isAttached(bytes32 itemId, bytes32 deviceId) external view returns (bool) {
        return _isAttached(itemId, deviceId);
    }

    /**
     * @notice Returns whether one attachment period of `deviceId` to the item covers the whole
     * time from `from` to `to` (inclusive; `from` <= `to`).
     */
    function attachedThroughout(bytes32 itemId, bytes32 deviceId, uint64 from, uint64 to) public view returns (bool) {
        Attachment[] storage periods = _attachments[itemId][deviceId];
        for (uint256 i = periods.length; i > 0; --i) {
            Attachment storage period = periods[i - 1];
            if (period.attachedAt > from) continue;
            return period.detachedAt == 0 || to < period.detachedAt;
        }
        return false;
    }

    /**
     * @notice Returns the detach locks on `deviceId` of the item (device zero: on all its devices).
     */
    function detachLocksOf(bytes32 itemId, bytes32 deviceId) external view returns (uint32) {
        return _detachLocks[itemId][deviceId];
    }

    /**
     * @notice Returns the item's status and condition in one call (for the asset token).
     */
    function stateOf(bytes32 itemId) external view returns (Status status, Condition condition) {
        Item storage item = _items[itemId];
        return (item.status, item.condition);
    }

    function _attach(bytes32 itemId, bytes32 deviceId) private {
        address owner = _ownerOf(deviceId);
        Attachment[] storage periods = _attachments[itemId][deviceId];
        uint256 count = periods.length;
        if (count != 0 && periods[count - 1].detachedAt == 0) revert SupplyChainDeviceAlreadyAttached(itemId, deviceId);
        if (owner != _msgSender()) {
            if (_consents[itemId][deviceId] != owner) revert SupplyChainNoOwnerConsent(itemId, deviceId);
            delete _consents[itemId][deviceId];
        }
        if (count == 0) _devices[itemId].push(deviceId);
        periods.push(Attachment({attachedAt: uint64(block.timestamp), detachedAt: 0}));
        emit DeviceAttached(itemId, deviceId, _msgSender());
    }

    /// @dev The device's owner in the registry; reverts with {SupplyChainUnknownDevice} when it is
    /// not registered.
    function _ownerOf(bytes32 deviceId) private view returns (address) {
        try registry.getDevice(deviceId) returns (DeviceRegistry.Device memory device) {
            return device.owner;
        } catch {
            revert SupplyChainUnknownDevice(deviceId);
        }
    }

    function _isAttached(bytes32 itemId, bytes32 deviceId) private view returns (bool) {
        Attachment[] storage periods = _attachments[itemId][deviceId];
        uint256 count = periods.length;
        return count != 0 && periods[count - 1].detachedAt == 0;
    }

    function _dropPending(bytes32 itemId) private {
        Transfer storage pending = _pending[itemId];
        if (pending.to != address(0)) {
            uint32 transferId = pending.id;
            delete _pending[itemId];
            emit TransferCancelled(itemId, transferId, _msgSender());
        }
    }

    /// @dev Returns the reading's leaf (zero without evidence); reverts unless the reading was
    /// taken while its device was attached to the item, is signed by the device's key valid then,
    /// and is proven under an anchored root.
    function _checkEvidence(bytes32 itemId, Evidence calldata evidence) private view returns (bytes32 leaf) {
        if (evidence.root == bytes32(0)) return bytes32(0);
        DeviceRegistry.Reading calldata reading = evidence.reading;
        if (!attachedThroughout(itemId, reading.deviceId, reading.timestamp, reading.timestamp)) {
            revert SupplyChainEvidenceNotAttached(itemId, reading.deviceId, reading.timestamp);
        }
        bytes32 digest = registry.readingDigest(reading);
        if (!registry.verifyReadingAt(reading.deviceId, digest, evidence.signature, reading.timestamp)) {
            revert SupplyChainInvalidEvidenceSignature(reading.deviceId);
        }
        leaf = ReadingLeaf.compute(digest, evidence.signature);
        if (!notary.verify(evidence.root, leaf, evidence.proof)) {
            revert SupplyChainEvidenceNotAnchored(evidence.root, leaf);
        }
        if (reading.timestamp > block.timestamp + CLOCK_TOLERANCE) {
            revert SupplyChainEvidenceFromTheFuture(reading.timestamp, block.timestamp);
        }
    }

    function _requireOpen(bytes32 itemId) private view returns (Item storage item) {
        item = _items[itemId];
        if (item.status == Status.None) revert SupplyChainUnknownItem(itemId);
        if (item.status != Status.Active) revert SupplyChainItemClosed(itemId, item.status);
    }

    function _checkManufacturer(bytes32 itemId) private view {
        if (_items[itemId].manufacturer != _msgSender() && !hasRole(DEFAULT_ADMIN_ROLE, _msgSender())) {
            revert SupplyChainNotManufacturer(itemId, _msgSender());
        }
    }
}
