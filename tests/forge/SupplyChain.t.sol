// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ISupplyChain} from "../../contracts/interfaces/ISupplyChain.sol";
import {SupplyChain} from "../../contracts/SupplyChain.sol";
import {Base} from "./Base.sol";
import {Deployment} from "./Fixtures.sol";

/// @notice A contract that names a supply chain, as a sensor oracle does (for {SupplyChain.bindOracle}).
contract OracleNaming {
    address public immutable supplyChain;

    constructor(address supplyChain_) {
        supplyChain = supplyChain_;
    }
}

/// @notice Fuzz tests of every external function of SupplyChain.
contract SupplyChainTest is Deployment {
    address internal constant MAKER = address(0x3A4);
    address internal constant CARRIER = address(0xCA1);
    address internal constant RECEIVER = address(0x4EC);
    address internal constant OWNER = address(0x0E1);
    bytes32 internal constant ITEM = keccak256("lot-1");
    bytes32 internal constant DEVICE = keccak256("device-1");
    bytes32 internal constant FOREIGN = keccak256("device-of-another-owner");
    uint256 internal constant DEVICE_KEY = 0xD1;

    function setUp() public {
        _deployCore();
        vm.warp(1_700_000_000);
        bytes32 manufacturer = chain.MANUFACTURER_ROLE();
        vm.prank(ADMIN);
        chain.grantRole(manufacturer, MAKER);
        _registerDevice(DEVICE, MAKER, DEVICE_KEY);
        bytes32[] memory devices = new bytes32[](1);
        devices[0] = DEVICE;
        vm.prank(MAKER);
        chain.registerItem(ITEM, CARRIER, keccak256("description"), "cid", devices);
    }

    function _item(bytes32 id) internal view returns (ISupplyChain.Item memory) {
        return chain.getItem(id);
    }

    function _propose(address to) internal returns (uint32) {
        vm.prank(CARRIER);
        return chain.proposeTransfer(ITEM, to, _here(), uint64(block.timestamp + 1 days));
    }

    // ------------------------------------------------------------------------------ registration

    function testFuzz_registerItemRecordsManufacturerCustodianAndDevices(bytes32 id, address custodian, bytes32 hash) public {
        vm.assume(id != 0 && id != ITEM && custodian != address(0));
        bytes32[] memory devices = new bytes32[](1);
        devices[0] = DEVICE;
        vm.prank(MAKER);
        chain.registerItem(id, custodian, hash, "cid", devices);
        ISupplyChain.Item memory item = _item(id);
        vm.assertEq(item.manufacturer, MAKER, "manufacturer is the caller");
        vm.assertEq(item.custodian, custodian, "custodian");
        vm.assertEq(item.contentHash, hash, "hash");
        vm.assertTrue(item.status == ISupplyChain.Status.Active, "active");
        vm.assertTrue(chain.exists(id) && chain.isAttached(id, DEVICE), "exists, device attached");
        vm.assertEq(chain.devicesOf(id).length, 1, "one device");
    }

    function testFuzz_registerItemRefusesNonManufacturersAndBadInput(address caller, bytes32 id, bytes32 unknown) public {
        vm.assume(caller != MAKER && caller != ADMIN && id != 0 && id != ITEM && unknown != DEVICE);
        vm.expectRevert(_unauthorized(caller, chain.MANUFACTURER_ROLE()));
        vm.prank(caller);
        chain.registerItem(id, caller, 0, "", new bytes32[](0));

        vm.startPrank(MAKER);
        vm.expectRevert(ISupplyChain.SupplyChainZeroItemId.selector);
        chain.registerItem(0, CARRIER, 0, "", new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainInvalidReceiver.selector, address(0)));
        chain.registerItem(id, address(0), 0, "", new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainItemExists.selector, ITEM));
        chain.registerItem(ITEM, CARRIER, 0, "", new bytes32[](0));
        bytes32[] memory devices = new bytes32[](1);
        devices[0] = unknown;
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainUnknownDevice.selector, unknown));
        chain.registerItem(id, CARRIER, 0, "", devices);
        devices = new bytes32[](2);
        devices[0] = DEVICE;
        devices[1] = DEVICE;
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainDeviceAlreadyAttached.selector, id, DEVICE));
        chain.registerItem(id, CARRIER, 0, "", devices);
        vm.stopPrank();
        vm.assertFalse(chain.exists(id), "nothing registered");
    }

    // ------------------------------------------------------------------------------ devices

    function testFuzz_attachAndDetachAreTheManufacturersOrAnAdmins(address caller, bytes32 other, bool byAdmin) public {
        vm.assume(caller != MAKER && caller != ADMIN && other != 0 && other != DEVICE);
        _registerDevice(other, MAKER, 0xD2);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotManufacturer.selector, ITEM, caller));
        vm.prank(caller);
        chain.attachDevice(ITEM, other);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotManufacturer.selector, ITEM, caller));
        vm.prank(caller);
        chain.detachDevice(ITEM, DEVICE);

        if (byAdmin) {
            vm.prank(MAKER); // the device's owner consents to an admin attaching it
            chain.approveAttachment(ITEM, other, true);
        }
        vm.prank(byAdmin ? ADMIN : MAKER);
        chain.attachDevice(ITEM, other);
        vm.assertTrue(chain.isAttached(ITEM, other), "attached");
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainDeviceAlreadyAttached.selector, ITEM, other));
        vm.prank(MAKER);
        chain.attachDevice(ITEM, other);
        vm.prank(byAdmin ? ADMIN : MAKER);
        chain.detachDevice(ITEM, DEVICE);
        vm.assertFalse(chain.isAttached(ITEM, DEVICE), "detached");
        bytes32[] memory devices = chain.devicesOf(ITEM);
        vm.assertTrue(devices.length == 1 && devices[0] == other, "list updated");
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainDeviceNotAttached.selector, ITEM, DEVICE));
        vm.prank(MAKER);
        chain.detachDevice(ITEM, DEVICE);
    }

    // ------------------------------------------------------------------------------ custody

    function testFuzz_custodyMovesOnlyWhenTheNamedReceiverAccepts(address to, address intruder) public {
        vm.assume(to != address(0) && to != CARRIER && intruder != to);
        uint32 id = _propose(to);
        vm.assertEq(uint256(id), 1, "first transfer");
        vm.assertEq(chain.pendingTransfer(ITEM).to, to, "pending");
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotReceiver.selector, ITEM, intruder));
        vm.prank(intruder);
        chain.acceptTransfer(ITEM, _here());
        vm.assertEq(_item(ITEM).custodian, CARRIER, "not moved");
        vm.prank(to);
        chain.acceptTransfer(ITEM, _here());
        vm.assertEq(_item(ITEM).custodian, to, "moved");
        vm.assertEq(chain.pendingTransfer(ITEM).to, address(0), "nothing pending");
        vm.assertEq(uint256(_item(ITEM).transferCount), 1, "count");
    }

    function testFuzz_proposeTransferRefusesNonCustodiansAndBadTerms(address caller, uint64 past) public {
        vm.assume(caller != CARRIER);
        past = uint64(_bound(past, 0, block.timestamp));
        uint64 expiry = uint64(block.timestamp + 1 hours);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotCustodian.selector, ITEM, caller));
        vm.prank(caller);
        chain.proposeTransfer(ITEM, RECEIVER, _here(), expiry);
        vm.startPrank(CARRIER);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainInvalidReceiver.selector, address(0)));
        chain.proposeTransfer(ITEM, address(0), _here(), expiry);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainInvalidReceiver.selector, CARRIER));
        chain.proposeTransfer(ITEM, CARRIER, _here(), expiry);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainInvalidExpiry.selector, past));
        chain.proposeTransfer(ITEM, RECEIVER, _here(), past);
        chain.proposeTransfer(ITEM, RECEIVER, _here(), expiry);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainTransferPending.selector, ITEM, 1));
        chain.proposeTransfer(ITEM, RECEIVER, _here(), expiry);
        vm.stopPrank();
    }

    function testFuzz_acceptTransferRefusesAnExpiredProposal(uint32 late) public {
        _propose(RECEIVER);
        uint64 expiry = chain.pendingTransfer(ITEM).expiresAt;
        vm.warp(uint256(expiry) + 1 + late);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainTransferExpired.selector, ITEM, expiry));
        vm.prank(RECEIVER);
        chain.acceptTransfer(ITEM, _here());
        vm.assertEq(_item(ITEM).custodian, CARRIER, "not moved");
    }

    function testFuzz_cancelTransferIsTheCustodiansOrTheReceivers(address caller, bool byReceiver) public {
        vm.assume(caller != CARRIER && caller != RECEIVER);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNoPendingTransfer.selector, ITEM));
        vm.prank(CARRIER);
        chain.cancelTransfer(ITEM);
        _propose(RECEIVER);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotTransferParty.selector, ITEM, caller));
        vm.prank(caller);
        chain.cancelTransfer(ITEM);
        vm.prank(byReceiver ? RECEIVER : CARRIER);
        chain.cancelTransfer(ITEM);
        vm.assertEq(chain.pendingTransfer(ITEM).to, address(0), "cancelled");
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNoPendingTransfer.selector, ITEM));
        vm.prank(RECEIVER);
        chain.acceptTransfer(ITEM, _here());
    }

    function testFuzz_aHeldItemCannotChangeHands(address caller) public {
        vm.assume(caller != MAKER && caller != ADMIN);
        _propose(RECEIVER);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotManufacturer.selector, ITEM, caller));
        vm.prank(caller);
        chain.holdItem(ITEM);
        vm.prank(MAKER);
        chain.holdItem(ITEM);
        vm.assertTrue(_item(ITEM).held, "held");
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainItemOnHold.selector, ITEM));
        vm.prank(RECEIVER);
        chain.acceptTransfer(ITEM, _here());
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainItemOnHold.selector, ITEM));
        vm.prank(CARRIER);
        chain.confirmDelivery(ITEM, _here());
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotManufacturer.selector, ITEM, caller));
        vm.prank(caller);
        chain.releaseItem(ITEM);
        vm.prank(MAKER);
        chain.releaseItem(ITEM);
        vm.prank(RECEIVER);
        chain.acceptTransfer(ITEM, _here());
        vm.assertEq(_item(ITEM).custodian, RECEIVER, "moved once released");
    }

    // ------------------------------------------------------------------------------ consent

    function testFuzz_attachingAnotherOwnersDeviceNeedsItsApprovalUsedOnce(address stranger, bool byAdmin) public {
        vm.assume(stranger != OWNER && stranger != MAKER);
        _registerDevice(FOREIGN, OWNER, 0xD2);
        address manager = byAdmin ? ADMIN : MAKER;
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNoOwnerConsent.selector, ITEM, FOREIGN));
        vm.prank(manager);
        chain.attachDevice(ITEM, FOREIGN);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotDeviceOwner.selector, FOREIGN, stranger));
        vm.prank(stranger);
        chain.approveAttachment(ITEM, FOREIGN, true);

        vm.prank(OWNER);
        chain.approveAttachment(ITEM, FOREIGN, true);
        vm.prank(manager);
        chain.attachDevice(ITEM, FOREIGN);
        vm.assertTrue(chain.isAttached(ITEM, FOREIGN), "attached with consent");
        vm.prank(manager);
        chain.detachDevice(ITEM, FOREIGN);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNoOwnerConsent.selector, ITEM, FOREIGN));
        vm.prank(manager);
        chain.attachDevice(ITEM, FOREIGN); // the approval was used up

        vm.prank(OWNER);
        chain.approveAttachment(ITEM, FOREIGN, true);
        vm.prank(OWNER);
        chain.approveAttachment(ITEM, FOREIGN, false);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNoOwnerConsent.selector, ITEM, FOREIGN));
        vm.prank(manager);
        chain.attachDevice(ITEM, FOREIGN); // withdrawn
        vm.assertEq(chain.attachmentsOf(ITEM, FOREIGN).length, 1, "one period only");
    }

    function testFuzz_anApprovalIsForOneItemAndByTheOwnerAtTheTime(bytes32 otherItem, address newOwner) public {
        vm.assume(otherItem != 0 && otherItem != ITEM && newOwner != OWNER && newOwner != address(0));
        _registerDevice(FOREIGN, OWNER, 0xD2);
        vm.prank(MAKER);
        chain.registerItem(otherItem, CARRIER, 0, "", new bytes32[](0));
        vm.prank(OWNER);
        chain.approveAttachment(ITEM, FOREIGN, true);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNoOwnerConsent.selector, otherItem, FOREIGN));
        vm.prank(MAKER);
        chain.attachDevice(otherItem, FOREIGN);
        vm.prank(OWNER);
        registry.transferDeviceOwnership(FOREIGN, newOwner);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNoOwnerConsent.selector, ITEM, FOREIGN));
        vm.prank(MAKER);
        chain.attachDevice(ITEM, FOREIGN); // the previous owner's approval no longer counts
        vm.assertFalse(chain.isAttached(ITEM, FOREIGN) || chain.isAttached(otherItem, FOREIGN), "attached nowhere");
    }

    function testFuzz_approveAttachmentRefusesUnknownDevicesAndClosedItems(bytes32 unknown, bytes32 unknownItem) public {
        vm.assume(unknown != DEVICE && unknownItem != ITEM);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainUnknownDevice.selector, unknown));
        vm.prank(MAKER);
        chain.approveAttachment(ITEM, unknown, true);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainUnknownItem.selector, unknownItem));
        vm.prank(MAKER);
        chain.approveAttachment(unknownItem, DEVICE, true);
        vm.prank(MAKER);
        chain.recallItem(ITEM, "recall");
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainItemClosed.selector, ITEM, ISupplyChain.Status.Recalled));
        vm.prank(MAKER);
        chain.approveAttachment(ITEM, DEVICE, true);
    }

    function testFuzz_registerItemRefusesADeviceOfAnotherOwner(bytes32 id) public {
        vm.assume(id != 0 && id != ITEM);
        _registerDevice(FOREIGN, OWNER, 0xD2);
        bytes32[] memory devices = new bytes32[](1);
        devices[0] = FOREIGN;
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNoOwnerConsent.selector, id, FOREIGN));
        vm.prank(MAKER);
        chain.registerItem(id, CARRIER, 0, "", devices);
        vm.assertFalse(chain.exists(id), "nothing registered");
    }

    // ------------------------------------------------------------------------------ periods

    /// @dev Whether one of `periods` covers [from, to]: the model attachedThroughout is checked against.
    function _covered(ISupplyChain.Attachment[] memory periods, uint64 from, uint64 to) internal pure returns (bool) {
        for (uint256 i = 0; i < periods.length; ++i) {
            if (periods[i].attachedAt <= from && (periods[i].detachedAt == 0 || to < periods[i].detachedAt)) return true;
        }
        return false;
    }

    function testFuzz_attachmentPeriodsRecordEachAttachAndDetach(uint32 first, uint32 gap, uint32 from, uint32 span) public {
        uint64 t0 = uint64(block.timestamp);
        first = uint32(_bound(first, 1, 30 days));
        gap = uint32(_bound(gap, 1, 30 days));
        vm.warp(t0 + first);
        vm.prank(MAKER);
        chain.detachDevice(ITEM, DEVICE);
        vm.warp(t0 + first + gap);
        vm.prank(MAKER);
        chain.attachDevice(ITEM, DEVICE);
        ISupplyChain.Attachment[] memory periods = chain.attachmentsOf(ITEM, DEVICE);
        vm.assertEq(periods.length, 2, "two periods");
        vm.assertEq(uint256(periods[0].attachedAt), t0, "first from");
        vm.assertEq(uint256(periods[0].detachedAt), t0 + first, "first until");
        vm.assertEq(uint256(periods[1].attachedAt), t0 + first + gap, "second from");
        vm.assertEq(uint256(periods[1].detachedAt), 0, "still attached");
        vm.assertEq(chain.deviceHistoryOf(ITEM).length, 1, "history names the device once");

        uint64 a = uint64(_bound(from, t0 - 1 days, t0 + first + gap + 1 days));
        uint64 b = a + uint64(_bound(span, 0, 2 days));
        vm.assertEq(chain.attachedThroughout(ITEM, DEVICE, a, b), _covered(periods, a, b), "attachedThroughout");
        vm.assertFalse(chain.attachedThroughout(ITEM, DEVICE, t0 + first, t0 + first), "detachment instant excluded");
        vm.assertFalse(chain.attachedThroughout(ITEM, DEVICE, t0, t0 + first + gap), "a stretch across the gap");
        vm.assertFalse(chain.attachedThroughout(ITEM, FOREIGN, a, b), "a device never attached");
    }

    // ------------------------------------------------------------------------------ detach locks

    function testFuzz_setDetachLockIsTheOraclesAndLocksStack(address caller, bool allDevices, uint8 extra) public {
        vm.assume(caller != address(oracle));
        bytes32 target = allDevices ? bytes32(0) : DEVICE;
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotOracle.selector, caller));
        vm.prank(caller);
        chain.setDetachLock(ITEM, target, true);
        uint256 locks = 1 + (extra % 3);
        vm.startPrank(address(oracle));
        for (uint256 i = 0; i < locks; ++i) chain.setDetachLock(ITEM, target, true);
        vm.stopPrank();
        vm.assertEq(uint256(chain.detachLocksOf(ITEM, target)), locks, "locks counted");
        for (uint256 i = 0; i < locks; ++i) {
            vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainDeviceLocked.selector, ITEM, DEVICE));
            vm.prank(MAKER);
            chain.detachDevice(ITEM, DEVICE);
            vm.prank(address(oracle));
            chain.setDetachLock(ITEM, target, false);
        }
        vm.assertTrue(chain.isAttached(ITEM, DEVICE), "stayed attached while locked");
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        vm.prank(address(oracle));
        chain.setDetachLock(ITEM, target, false); // no lock left to remove
        vm.prank(MAKER);
        chain.detachDevice(ITEM, DEVICE);
        vm.assertFalse(chain.isAttached(ITEM, DEVICE), "detached once unlocked");
    }

    // ------------------------------------------------------------------------------ evidence

    function testFuzz_recordCheckpointTakesSignedAnchoredEvidenceOfAnAttachedDevice(address caller, uint16 code, uint32 age) public {
        vm.assume(caller != CARRIER);
        ISupplyChain.Evidence memory none = _noEvidence();
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotCheckpointer.selector, ITEM, caller));
        vm.prank(caller);
        chain.recordCheckpoint(ITEM, _here(), code, none);
        vm.prank(CARRIER);
        chain.recordCheckpoint(ITEM, _here(), code, none);

        age = uint32(_bound(age, 0, 30 days));
        vm.warp(block.timestamp + age);
        ISupplyChain.Evidence memory real = _evidence(DEVICE, 1, uint64(block.timestamp - age), DEVICE_KEY);
        vm.prank(CARRIER);
        chain.recordCheckpoint(ITEM, _here(), code, real);

        ISupplyChain.Evidence memory forged = _evidence(DEVICE, 2, uint64(block.timestamp), 0xF0F);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainInvalidEvidenceSignature.selector, DEVICE));
        vm.prank(CARRIER);
        chain.recordCheckpoint(ITEM, _here(), code, forged);

        bytes32 leaf = real.root; // a one-leaf batch: the root is the leaf
        real.root = keccak256("never anchored");
        ISupplyChain.Evidence memory unanchored = real;
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainEvidenceNotAnchored.selector, unanchored.root, leaf));
        vm.prank(CARRIER);
        chain.recordCheckpoint(ITEM, _here(), code, unanchored);
    }

    function testFuzz_recordCheckpointRefusesReadingsFromOutsideTheAttachment(uint32 before, uint32 after_) public {
        uint64 t0 = uint64(block.timestamp);
        before = uint32(_bound(before, 1, 30 days));
        after_ = uint32(_bound(after_, 0, 30 days));
        ISupplyChain.Evidence memory early = _evidence(DEVICE, 1, t0 - before, DEVICE_KEY);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainEvidenceNotAttached.selector, ITEM, DEVICE, t0 - before));
        vm.prank(CARRIER);
        chain.recordCheckpoint(ITEM, _here(), 1, early);

        vm.warp(t0 + 1 days);
        vm.prank(MAKER);
        chain.detachDevice(ITEM, DEVICE);
        vm.warp(t0 + 1 days + after_ + 1);
        uint64 late = t0 + 1 days + after_;
        ISupplyChain.Evidence memory afterDetach = _evidence(DEVICE, 2, late, DEVICE_KEY);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainEvidenceNotAttached.selector, ITEM, DEVICE, late));
        vm.prank(CARRIER);
        chain.recordCheckpoint(ITEM, _here(), 1, afterDetach);

        ISupplyChain.Evidence memory inside = _evidence(DEVICE, 3, t0 + 1 days - 1, DEVICE_KEY);
        vm.prank(CARRIER);
        chain.recordCheckpoint(ITEM, _here(), 1, inside); // taken while it was attached: still counts
    }

    function testFuzz_recordCheckpointRefusesAReadingDatedInsideASuspension(uint32 into, uint32 length) public {
        uint64 t0 = uint64(block.timestamp);
        length = uint32(_bound(length, 1, 30 days));
        into = uint32(_bound(into, 0, length - 1));
        vm.warp(t0 + 1 hours);
        vm.prank(MAKER);
        registry.suspendDevice(DEVICE);
        vm.warp(t0 + 1 hours + length);
        vm.prank(MAKER);
        registry.reactivateDevice(DEVICE);
        ISupplyChain.Evidence memory suspended = _evidence(DEVICE, 1, t0 + 1 hours + into, DEVICE_KEY);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainInvalidEvidenceSignature.selector, DEVICE));
        vm.prank(CARRIER);
        chain.recordCheckpoint(ITEM, _here(), 1, suspended);
        ISupplyChain.Evidence memory afterwards = _evidence(DEVICE, 2, t0 + 1 hours + length, DEVICE_KEY);
        vm.prank(CARRIER);
        chain.recordCheckpoint(ITEM, _here(), 1, afterwards);
    }

    // ------------------------------------------------------------------------------ oracle

    function testFuzz_setConditionIsTheBoundOraclesAlone(address caller, bytes32 root, bytes32 leaf) public {
        vm.assume(caller != address(oracle));
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotOracle.selector, caller));
        vm.prank(caller);
        chain.setCondition(ITEM, ISupplyChain.Condition.OutOfCompliance, root, leaf);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainSameCondition.selector, ITEM, ISupplyChain.Condition.Compliant));
        vm.prank(address(oracle));
        chain.setCondition(ITEM, ISupplyChain.Condition.Compliant, root, leaf);
        vm.prank(address(oracle));
        chain.setCondition(ITEM, ISupplyChain.Condition.OutOfCompliance, root, leaf);
        (, ISupplyChain.Condition condition) = chain.stateOf(ITEM);
        vm.assertTrue(condition == ISupplyChain.Condition.OutOfCompliance, "out of compliance");
    }

    function testFuzz_bindOracleIsTheDeployersOnceAndOnlyToAnOracleOfThisChain(address caller, address eoa) public {
        vm.assume(caller != address(this) && eoa.code.length == 0);
        SupplyChain fresh = new SupplyChain(ADMIN, registry, notary); // deployer: this
        OracleNaming ofFresh = new OracleNaming(address(fresh));
        OracleNaming ofOther = new OracleNaming(address(chain));
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotDeployer.selector, caller));
        vm.prank(caller);
        fresh.bindOracle(address(ofFresh));
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainInvalidOracle.selector, eoa));
        fresh.bindOracle(eoa);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainInvalidOracle.selector, address(ofOther)));
        fresh.bindOracle(address(ofOther));
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotOracle.selector, address(0)));
        vm.prank(address(0));
        fresh.setCondition(ITEM, ISupplyChain.Condition.OutOfCompliance, 0, 0); // unbound: nobody, not even zero
        vm.assertEq(fresh.oracle(), address(0), "unbound");

        fresh.bindOracle(address(ofFresh));
        vm.assertEq(fresh.oracle(), address(ofFresh), "bound");
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainOracleAlreadyBound.selector, address(ofFresh)));
        fresh.bindOracle(address(ofFresh));
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainOracleAlreadyBound.selector, address(oracle)));
        chain.bindOracle(address(ofOther));
    }

    // ------------------------------------------------------------------------------ final states

    function testFuzz_recallIsFinalAndCancelsThePendingTransfer(address caller, string calldata reason) public {
        vm.assume(caller != MAKER && caller != ADMIN);
        _propose(RECEIVER);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotManufacturer.selector, ITEM, caller));
        vm.prank(caller);
        chain.recallItem(ITEM, reason);
        vm.prank(MAKER);
        chain.recallItem(ITEM, reason);
        (ISupplyChain.Status status, ) = chain.stateOf(ITEM);
        vm.assertTrue(status == ISupplyChain.Status.Recalled, "recalled");
        vm.assertEq(chain.pendingTransfer(ITEM).to, address(0), "transfer dropped");
        bytes memory closed = abi.encodeWithSelector(ISupplyChain.SupplyChainItemClosed.selector, ITEM, ISupplyChain.Status.Recalled);
        vm.expectRevert(closed);
        vm.prank(MAKER);
        chain.releaseItem(ITEM);
        vm.expectRevert(closed);
        vm.prank(CARRIER);
        chain.confirmDelivery(ITEM, _here());
        vm.expectRevert(closed);
        vm.prank(MAKER);
        chain.attachDevice(ITEM, DEVICE);
    }

    function testFuzz_confirmDeliveryIsTheCustodiansWithNothingPending(address caller) public {
        vm.assume(caller != CARRIER);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainNotCustodian.selector, ITEM, caller));
        vm.prank(caller);
        chain.confirmDelivery(ITEM, _here());
        _propose(RECEIVER);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainTransferPending.selector, ITEM, 1));
        vm.prank(CARRIER);
        chain.confirmDelivery(ITEM, _here());
        vm.prank(RECEIVER);
        chain.cancelTransfer(ITEM);
        vm.prank(CARRIER);
        chain.confirmDelivery(ITEM, _here());
        (ISupplyChain.Status status, ) = chain.stateOf(ITEM);
        vm.assertTrue(status == ISupplyChain.Status.Delivered, "delivered");
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainItemClosed.selector, ITEM, ISupplyChain.Status.Delivered));
        vm.prank(MAKER);
        chain.recallItem(ITEM, "too late");
    }

    function testFuzz_viewsOfAnUnknownItem(bytes32 id) public {
        vm.assume(id != ITEM);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainUnknownItem.selector, id));
        chain.getItem(id);
        vm.assertFalse(chain.exists(id), "exists");
        vm.assertEq(chain.devicesOf(id).length, 0, "devices");
        (ISupplyChain.Status status, ) = chain.stateOf(id);
        vm.assertTrue(status == ISupplyChain.Status.None, "status None");
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainUnknownItem.selector, id));
        vm.prank(CARRIER);
        chain.cancelTransfer(id);
    }
}

/// @notice Drives role changes on every AccessControl contract of the deployment from every kind of
/// account, and tries to rebind the supply chain's oracle.
contract RoleHandler is Base {
    SupplyChain public immutable chain;
    address[4] internal actors = [address(0x3A4), address(0xCA1), address(0x4EC), address(0x04AC)];
    IAccessControl[] internal targets;
    bytes32[] internal roles;
    mapping(uint256 pair => mapping(address account => bool)) public grantedByAdmin;

    constructor(SupplyChain chain_, IAccessControl[] memory targets_, bytes32[] memory roles_) {
        chain = chain_;
        targets = targets_;
        roles = roles_;
    }

    function pairs() external view returns (uint256) {
        return roles.length;
    }

    function actor(uint256 i) external view returns (address) {
        return actors[i];
    }

    function holds(uint256 pair, address account) external view returns (bool) {
        return targets[pair].hasRole(roles[pair], account);
    }

    function grantAsAnyone(uint256 callerSeed, uint256 pairSeed, uint256 granteeSeed) external {
        uint256 pair = pairSeed % roles.length;
        vm.prank(actors[callerSeed % 4]);
        try targets[pair].grantRole(roles[pair], actors[granteeSeed % 4]) {
            revert("a non-admin granted a role");
        } catch {}
    }

    function grantAsAdmin(uint256 pairSeed, uint256 granteeSeed) external {
        uint256 pair = pairSeed % roles.length;
        if (roles[pair] == bytes32(0)) return; // keep the actors non-admins
        address grantee = actors[granteeSeed % 4];
        vm.prank(ADMIN);
        targets[pair].grantRole(roles[pair], grantee);
        grantedByAdmin[pair][grantee] = true;
    }

    function revokeAsAdmin(uint256 pairSeed, uint256 seed) external {
        uint256 pair = pairSeed % roles.length;
        address who = actors[seed % 4];
        vm.prank(ADMIN);
        targets[pair].revokeRole(roles[pair], who);
        grantedByAdmin[pair][who] = false;
    }

    function renounce(uint256 pairSeed, uint256 seed) external {
        uint256 pair = pairSeed % roles.length;
        address who = actors[seed % 4];
        vm.prank(who);
        targets[pair].renounceRole(roles[pair], who);
        grantedByAdmin[pair][who] = false;
    }

    function rebindOracle(uint256 callerSeed, bool asAdmin) external {
        OracleNaming rogue = new OracleNaming(address(chain));
        vm.prank(asAdmin ? ADMIN : actors[callerSeed % 4]);
        try chain.bindOracle(address(rogue)) {
            revert("the oracle was rebound");
        } catch {}
    }
}

/// @notice Invariant: roles on every contract never grow without the admin, the admin stays, and
/// the supply chain's bound oracle never changes.
contract RolesInvariantTest is Deployment {
    RoleHandler internal handler;

    function setUp() public {
        _deployCore();
        IAccessControl[] memory targets = new IAccessControl[](10);
        bytes32[] memory roles = new bytes32[](10);
        (targets[0], roles[0]) = (chain, chain.MANUFACTURER_ROLE());
        (targets[1], roles[1]) = (chain, bytes32(0));
        (targets[2], roles[2]) = (registry, registry.REGISTRAR_ROLE());
        (targets[3], roles[3]) = (registry, bytes32(0));
        (targets[4], roles[4]) = (token, token.MINTER_ROLE());
        (targets[5], roles[5]) = (token, token.FREEZER_ROLE());
        (targets[6], roles[6]) = (token, bytes32(0));
        (targets[7], roles[7]) = (notary, notary.ANCHORER_ROLE());
        (targets[8], roles[8]) = (notary, bytes32(0));
        (targets[9], roles[9]) = (oracle, bytes32(0));
        handler = new RoleHandler(chain, targets, roles);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// forge-config: default.invariant.runs = 16
    function invariant_rolesNeverGrowWithoutTheAdmin() public view {
        for (uint256 pair = 0; pair < handler.pairs(); ++pair) {
            for (uint256 i = 0; i < 4; ++i) {
                address who = handler.actor(i);
                vm.assertEq(handler.holds(pair, who), handler.grantedByAdmin(pair, who), "role only from the admin");
            }
        }
        vm.assertTrue(
            chain.hasRole(0, ADMIN) && registry.hasRole(0, ADMIN) && token.hasRole(0, ADMIN) &&
                notary.hasRole(0, ADMIN) && oracle.hasRole(0, ADMIN),
            "the admin stays"
        );
        vm.assertEq(chain.oracle(), address(oracle), "the bound oracle stays");
    }
}
