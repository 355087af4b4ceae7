// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ReadingLeaf} from "./ReadingLeaf.sol";
import {IDataNotary} from "./interfaces/IDataNotary.sol";
import {IDeviceRegistry} from "./interfaces/IDeviceRegistry.sol";
import {ISensorOracle} from "./interfaces/ISensorOracle.sol";
import {ISupplyChain} from "./interfaces/ISupplyChain.sol";

/**
 * @title SupplyChain
 * @notice Physical items (or lots) from registration to delivery: who holds them, where they
 * were seen, in what condition, with sensor evidence anchored in the notary ({IDataNotary}).
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
 * The events map onto GS1 EPCIS 2.0 (docs/supply-chain.md). Types, errors and events are
 * declared in {ISupplyChain}; the registry, the notary and the oracle are called through their
 * interfaces.
 */
contract SupplyChain is ISupplyChain, AccessControl, Multicall {
    /// @notice Role allowed to register items.
    bytes32 public constant MANUFACTURER_ROLE = keccak256("MANUFACTURER_ROLE");
    /// @notice How far a checkpoint's evidence may be dated ahead of the block (device clocks).
    uint64 public constant CLOCK_TOLERANCE = 60;

    /// @inheritdoc ISupplyChain
    IDeviceRegistry public immutable registry;
    /// @inheritdoc ISupplyChain
    IDataNotary public immutable notary;
    /// @inheritdoc ISupplyChain
    address public oracle;
    /// @dev The account that deployed this contract: the one that binds the oracle, once.
    address private immutable _deployer;

    mapping(bytes32 itemId => Item) private _items;
    mapping(bytes32 itemId => Transfer) private _pending;
    mapping(bytes32 itemId => bytes32[]) private _devices; // every device ever attached, in order
    mapping(bytes32 itemId => mapping(bytes32 deviceId => Attachment[])) private _attachments;
    mapping(bytes32 itemId => mapping(bytes32 deviceId => address owner)) private _consents;
    mapping(bytes32 itemId => mapping(bytes32 deviceId => uint32)) private _detachLocks; // device 0: all

    /**
     * @param admin Account that receives the admin and manufacturer roles.
     * @param registry_ The device registry devices are checked against.
     * @param notary_ The notary evidence roots are checked against.
     */
    constructor(address admin, IDeviceRegistry registry_, IDataNotary notary_) {
        registry = registry_;
        notary = notary_;
        _deployer = _msgSender();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MANUFACTURER_ROLE, admin);
    }

    /// @inheritdoc ISupplyChain
    function bindOracle(address oracle_) external {
        if (_msgSender() != _deployer) revert SupplyChainNotDeployer(_msgSender());
        if (oracle != address(0)) revert SupplyChainOracleAlreadyBound(oracle);
        if (oracle_.code.length == 0 || address(ISensorOracle(oracle_).supplyChain()) != address(this)) {
            revert SupplyChainInvalidOracle(oracle_);
        }
        oracle = oracle_;
        emit ConditionOracleBound(oracle_);
    }

    /// @inheritdoc ISupplyChain
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

    /// @inheritdoc ISupplyChain
    function approveAttachment(bytes32 itemId, bytes32 deviceId, bool approved) external {
        _requireOpen(itemId);
        if (_ownerOf(deviceId) != _msgSender()) revert SupplyChainNotDeviceOwner(deviceId, _msgSender());
        _consents[itemId][deviceId] = approved ? _msgSender() : address(0);
        emit AttachmentApproved(itemId, deviceId, _msgSender(), approved);
    }

    /// @inheritdoc ISupplyChain
    function attachDevice(bytes32 itemId, bytes32 deviceId) external {
        _requireOpen(itemId);
        _checkManufacturer(itemId);
        _attach(itemId, deviceId);
    }

    /// @inheritdoc ISupplyChain
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

    /// @inheritdoc ISupplyChain
    function setDetachLock(bytes32 itemId, bytes32 deviceId, bool locked) external {
        if (_msgSender() != oracle || oracle == address(0)) revert SupplyChainNotOracle(_msgSender());
        if (locked) ++_detachLocks[itemId][deviceId];
        else --_detachLocks[itemId][deviceId];
    }

    /// @inheritdoc ISupplyChain
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

    /// @inheritdoc ISupplyChain
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

    /// @inheritdoc ISupplyChain
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

    /// @inheritdoc ISupplyChain
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

    /// @inheritdoc ISupplyChain
    function setCondition(bytes32 itemId, Condition condition, bytes32 evidenceRoot, bytes32 evidenceLeaf) external {
        if (_msgSender() != oracle || oracle == address(0)) revert SupplyChainNotOracle(_msgSender());
        Item storage item = _requireOpen(itemId);
        Condition previous = item.condition;
        if (previous == condition) revert SupplyChainSameCondition(itemId, condition);
        item.condition = condition;
        emit ConditionChanged(itemId, previous, condition, _msgSender(), evidenceRoot, evidenceLeaf);
    }

    /// @inheritdoc ISupplyChain
    function holdItem(bytes32 itemId) external {
        Item storage item = _requireOpen(itemId);
        _checkManufacturer(itemId);
        item.held = true;
        emit ItemHeld(itemId, _msgSender());
    }

    /// @inheritdoc ISupplyChain
    function releaseItem(bytes32 itemId) external {
        Item storage item = _requireOpen(itemId);
        _checkManufacturer(itemId);
        item.held = false;
        emit ItemReleased(itemId, _msgSender());
    }

    /// @inheritdoc ISupplyChain
    function recallItem(bytes32 itemId, string calldata reason) external {
        Item storage item = _requireOpen(itemId);
        _checkManufacturer(itemId);
        _dropPending(itemId);
        item.status = Status.Recalled;
        item.closedAt = uint40(block.timestamp);
        emit ItemRecalled(itemId, _msgSender(), reason);
    }

    /// @inheritdoc ISupplyChain
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

    /// @inheritdoc ISupplyChain
    function getItem(bytes32 itemId) external view returns (Item memory) {
        Item storage item = _items[itemId];
        if (item.status == Status.None) revert SupplyChainUnknownItem(itemId);
        return item;
    }

    /// @inheritdoc ISupplyChain
    function exists(bytes32 itemId) external view returns (bool) {
        return _items[itemId].status != Status.None;
    }

    /// @inheritdoc ISupplyChain
    function pendingTransfer(bytes32 itemId) external view returns (Transfer memory) {
        return _pending[itemId];
    }

    /// @inheritdoc ISupplyChain
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

    /// @inheritdoc ISupplyChain
    function deviceHistoryOf(bytes32 itemId) external view returns (bytes32[] memory) {
        return _devices[itemId];
    }

    /// @inheritdoc ISupplyChain
    function attachmentsOf(bytes32 itemId, bytes32 deviceId) external view returns (Attachment[] memory) {
        return _attachments[itemId][deviceId];
    }

    /// @inheritdoc ISupplyChain
    function isAttached(bytes32 itemId, bytes32 deviceId) external view returns (bool) {
        return _isAttached(itemId, deviceId);
    }

    /// @inheritdoc ISupplyChain
    function attachedThroughout(bytes32 itemId, bytes32 deviceId, uint64 from, uint64 to) public view returns (bool) {
        Attachment[] storage periods = _attachments[itemId][deviceId];
        for (uint256 i = periods.length; i > 0; --i) {
            Attachment storage period = periods[i - 1];
            if (period.attachedAt > from) continue;
            return period.detachedAt == 0 || to < period.detachedAt;
        }
        return false;
    }

    /// @inheritdoc ISupplyChain
    function detachLocksOf(bytes32 itemId, bytes32 deviceId) external view returns (uint32) {
        return _detachLocks[itemId][deviceId];
    }

    /// @inheritdoc ISupplyChain
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
        try registry.getDevice(deviceId) returns (IDeviceRegistry.Device memory device) {
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
        IDeviceRegistry.Reading calldata reading = evidence.reading;
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
