// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";

/// @notice What SupplyChain needs of the device registry.
interface IDeviceDirectory {
    function isRegistered(bytes32 deviceId) external view returns (bool);
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
 * are recorded by the custodian or an oracle, optionally with evidence: a reading leaf and its
 * Merkle proof against a batch root the notary anchored, checked here. The condition (compliant or
 * out of compliance) is set by oracles with the evidence that caused it. Manufacturers may hold,
 * release and recall their items; Delivered and Recalled are final.
 *
 * Locations are WGS 84 coordinates in microdegrees (`latitudeE6`, `longitudeE6`) and a 32-byte
 * site code (a GS1 GLN as ASCII digits, right-padded with zeros, or zero when unknown).
 * The events map onto GS1 EPCIS 2.0 (docs/supply-chain.md).
 */
contract SupplyChain is AccessControl, Multicall {
    /// @notice Role allowed to register items.
    bytes32 public constant MANUFACTURER_ROLE = keccak256("MANUFACTURER_ROLE");
    /// @notice Role allowed to record checkpoints on any item and to set conditions.
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");

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
    /// The leaf is computed here from the reading's EIP-712 digest and the keccak-256 of its
    /// signature, as the notary's trees build it, so an inner node or the root itself cannot pass
    /// for a reading.
    struct Evidence {
        bytes32 root;
        bytes32 digest;
        bytes32 signatureHash;
        bytes32[] proof;
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
        bytes32 contentHash;
    }

    /// @notice A proposed custody transfer, waiting for the receiver (one storage slot; its
    /// location is in the {TransferProposed} event).
    struct Transfer {
        address to;
        uint64 expiresAt;
        uint32 id;
    }

    IDeviceDirectory public immutable registry;
    IReadingNotary public immutable notary;

    mapping(bytes32 itemId => Item) private _items;
    mapping(bytes32 itemId => Transfer) private _pending;
    mapping(bytes32 itemId => bytes32[]) private _devices;
    mapping(bytes32 itemId => mapping(bytes32 deviceId => bool)) private _attached;

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
    /// @notice `caller` may not record checkpoints on the item (not custodian, not oracle).
    error SupplyChainNotCheckpointer(bytes32 itemId, address caller);
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
     * @param admin Account that receives the admin, manufacturer and oracle roles.
     * @param registry_ The device registry devices are checked against.
     * @param notary_ The notary evidence roots are checked against.
     */
    constructor(address admin, IDeviceDirectory registry_, IReadingNotary notary_) {
        registry = registry_;
        notary = notary_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MANUFACTURER_ROLE, admin);
        _grantRole(ORACLE_ROLE, admin);
    }

    /**
     * @notice Registers item `itemId` made by the caller and held by `custodian`, with the hash of
     * its description and the content id of its metadata, and attaches sensor `deviceIds`.
     * @dev Requirements: MANUFACTURER_ROLE; a new, non-zero id; a non-zero custodian; registered,
     * distinct devices. Emits {ItemRegistered} and one {DeviceAttached} per device.
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
     * @notice Attaches sensor device `deviceId` to an open item.
     * @dev Requirements: the caller is the item's manufacturer or an admin. Emits {DeviceAttached}.
     */
    function attachDevice(bytes32 itemId, bytes32 deviceId) external {
        _requireOpen(itemId);
        _checkManufacturer(itemId);
        _attach(itemId, deviceId);
    }

    /**
     * @notice Detaches sensor device `deviceId` from an open item.
     * @dev Requirements: the caller is the item's manufacturer or an admin. Emits {DeviceDetached}.
     */
    function detachDevice(bytes32 itemId, bytes32 deviceId) external {
        _requireOpen(itemId);
        _checkManufacturer(itemId);
        if (!_attached[itemId][deviceId]) revert SupplyChainDeviceNotAttached(itemId, deviceId);
        _attached[itemId][deviceId] = false;
        bytes32[] storage devices = _devices[itemId];
        for (uint256 i = 0; i < devices.length; ++i) {
            if (devices[i] == deviceId) {
                devices[i] = devices[devices.length - 1];
                devices.pop();
                break;
            }
        }
        emit DeviceDetached(itemId, deviceId, _msgSender());
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
     * @dev Requirements: the caller is the custodian or has ORACLE_ROLE; the item is open; evidence
     * with a non-zero root must prove its leaf under that anchored root. Emits {CheckpointRecorded}.
     */
    function recordCheckpoint(
        bytes32 itemId,
        Location calldata location,
        uint16 statusCode,
        Evidence calldata evidence
    ) external {
        Item storage item = _requireOpen(itemId);
        if (item.custodian != _msgSender() && !hasRole(ORACLE_ROLE, _msgSender())) {
            revert SupplyChainNotCheckpointer(itemId, _msgSender());
        }
        bytes32 leaf = _checkEvidence(evidence);
        emit CheckpointRecorded(itemId, _msgSender(), statusCode, location, evidence.root, leaf);
    }

    /**
     * @notice Sets the item's condition, with the evidence that shows it (root zero: none given).
     * @dev Requirements: ORACLE_ROLE; the item is open; the condition changes; evidence with a
     * non-zero root must be anchored. Emits {ConditionChanged}.
     */
    function setCondition(
        bytes32 itemId,
        Condition condition,
        Evidence calldata evidence
    ) external onlyRole(ORACLE_ROLE) {
        Item storage item = _requireOpen(itemId);
        Condition previous = item.condition;
        if (previous == condition) revert SupplyChainSameCondition(itemId, condition);
        bytes32 leaf = _checkEvidence(evidence);
        item.condition = condition;
        emit ConditionChanged(itemId, previous, condition, _msgSender(), evidence.root, leaf);
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
     * @notice Returns the sensor devices attached to the item.
     */
    function devicesOf(bytes32 itemId) external view returns (bytes32[] memory) {
        return _devices[itemId];
    }

    /**
     * @notice Returns whether `deviceId` is attached to the item.
     */
    function isAttached(bytes32 itemId, bytes32 deviceId) external view returns (bool) {
        return _attached[itemId][deviceId];
    }

    /**
     * @notice Returns the item's status and condition in one call (for the asset token).
     */
    function stateOf(bytes32 itemId) external view returns (Status status, Condition condition) {
        Item storage item = _items[itemId];
        return (item.status, item.condition);
    }

    function _attach(bytes32 itemId, bytes32 deviceId) private {
        if (!registry.isRegistered(deviceId)) revert SupplyChainUnknownDevice(deviceId);
        if (_attached[itemId][deviceId]) revert SupplyChainDeviceAlreadyAttached(itemId, deviceId);
        _attached[itemId][deviceId] = true;
        _devices[itemId].push(deviceId);
        emit DeviceAttached(itemId, deviceId, _msgSender());
    }

    function _dropPending(bytes32 itemId) private {
        Transfer storage pending = _pending[itemId];
        if (pending.to != address(0)) {
            uint32 transferId = pending.id;
            delete _pending[itemId];
            emit TransferCancelled(itemId, transferId, _msgSender());
        }
    }

    /// @dev Returns the reading's leaf (zero without evidence); reverts unless it is proven under
    /// an anchored root.
    function _checkEvidence(Evidence calldata evidence) private view returns (bytes32 leaf) {
        if (evidence.root == bytes32(0)) return bytes32(0);
        leaf = keccak256(bytes.concat(keccak256(abi.encode(evidence.digest, evidence.signatureHash))));
        if (!notary.verify(evidence.root, leaf, evidence.proof)) {
            revert SupplyChainEvidenceNotAnchored(evidence.root, leaf);
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
