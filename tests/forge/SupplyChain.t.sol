// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SupplyChain} from "../../contracts/SupplyChain.sol";
import {Base} from "./Base.sol";
import {Deployment} from "./Fixtures.sol";

/// @notice Fuzz tests of every external function of SupplyChain (kept apart: the contract is being
/// reworked on another branch, so these may need adapting after a merge).
contract SupplyChainTest is Deployment {
    address internal constant MAKER = address(0x3A4);
    address internal constant CARRIER = address(0xCA1);
    address internal constant RECEIVER = address(0x4EC);
    address internal constant ORACLE = address(0x04AC);
    bytes32 internal constant ITEM = keccak256("lot-1");
    bytes32 internal constant DEVICE = keccak256("device-1");

    function setUp() public {
        _deployCore();
        vm.warp(1_700_000_000);
        bytes32 manufacturer = chain.MANUFACTURER_ROLE();
        bytes32 oracle = chain.ORACLE_ROLE();
        vm.startPrank(ADMIN);
        chain.grantRole(manufacturer, MAKER);
        chain.grantRole(oracle, ORACLE);
        vm.stopPrank();
        _registerDevice(DEVICE, MAKER, 0xD1);
        bytes32[] memory devices = new bytes32[](1);
        devices[0] = DEVICE;
        vm.prank(MAKER);
        chain.registerItem(ITEM, CARRIER, keccak256("description"), "cid", devices);
    }

    function _item(bytes32 id) internal view returns (SupplyChain.Item memory) {
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
        SupplyChain.Item memory item = _item(id);
        vm.assertEq(item.manufacturer, MAKER, "manufacturer is the caller");
        vm.assertEq(item.custodian, custodian, "custodian");
        vm.assertEq(item.contentHash, hash, "hash");
        vm.assertTrue(item.status == SupplyChain.Status.Active, "active");
        vm.assertTrue(chain.exists(id) && chain.isAttached(id, DEVICE), "exists, device attached");
        vm.assertEq(chain.devicesOf(id).length, 1, "one device");
    }

    function testFuzz_registerItemRefusesNonManufacturersAndBadInput(address caller, bytes32 id, bytes32 unknown) public {
        vm.assume(caller != MAKER && caller != ADMIN && id != 0 && id != ITEM && unknown != DEVICE);
        vm.expectRevert(_unauthorized(caller, chain.MANUFACTURER_ROLE()));
        vm.prank(caller);
        chain.registerItem(id, caller, 0, "", new bytes32[](0));

        vm.startPrank(MAKER);
        vm.expectRevert(SupplyChain.SupplyChainZeroItemId.selector);
        chain.registerItem(0, CARRIER, 0, "", new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainInvalidReceiver.selector, address(0)));
        chain.registerItem(id, address(0), 0, "", new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainItemExists.selector, ITEM));
        chain.registerItem(ITEM, CARRIER, 0, "", new bytes32[](0));
        bytes32[] memory devices = new bytes32[](1);
        devices[0] = unknown;
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainUnknownDevice.selector, unknown));
        chain.registerItem(id, CARRIER, 0, "", devices);
        devices = new bytes32[](2);
        devices[0] = DEVICE;
        devices[1] = DEVICE;
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainDeviceAlreadyAttached.selector, id, DEVICE));
        chain.registerItem(id, CARRIER, 0, "", devices);
        vm.stopPrank();
        vm.assertFalse(chain.exists(id), "nothing registered");
    }

    // ------------------------------------------------------------------------------ devices

    function testFuzz_attachAndDetachAreTheManufacturersOrAnAdmins(address caller, bytes32 other, bool byAdmin) public {
        vm.assume(caller != MAKER && caller != ADMIN && other != 0 && other != DEVICE);
        _registerDevice(other, MAKER, 0xD2);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNotManufacturer.selector, ITEM, caller));
        vm.prank(caller);
        chain.attachDevice(ITEM, other);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNotManufacturer.selector, ITEM, caller));
        vm.prank(caller);
        chain.detachDevice(ITEM, DEVICE);

        vm.prank(byAdmin ? ADMIN : MAKER);
        chain.attachDevice(ITEM, other);
        vm.assertTrue(chain.isAttached(ITEM, other), "attached");
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainDeviceAlreadyAttached.selector, ITEM, other));
        vm.prank(MAKER);
        chain.attachDevice(ITEM, other);
        vm.prank(byAdmin ? ADMIN : MAKER);
        chain.detachDevice(ITEM, DEVICE);
        vm.assertFalse(chain.isAttached(ITEM, DEVICE), "detached");
        bytes32[] memory devices = chain.devicesOf(ITEM);
        vm.assertTrue(devices.length == 1 && devices[0] == other, "list updated");
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainDeviceNotAttached.selector, ITEM, DEVICE));
        vm.prank(MAKER);
        chain.detachDevice(ITEM, DEVICE);
    }

    // ------------------------------------------------------------------------------ custody

    function testFuzz_custodyMovesOnlyWhenTheNamedReceiverAccepts(address to, address intruder) public {
        vm.assume(to != address(0) && to != CARRIER && intruder != to);
        uint32 id = _propose(to);
        vm.assertEq(uint256(id), 1, "first transfer");
        vm.assertEq(chain.pendingTransfer(ITEM).to, to, "pending");
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNotReceiver.selector, ITEM, intruder));
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
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNotCustodian.selector, ITEM, caller));
        vm.prank(caller);
        chain.proposeTransfer(ITEM, RECEIVER, _here(), expiry);
        vm.startPrank(CARRIER);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainInvalidReceiver.selector, address(0)));
        chain.proposeTransfer(ITEM, address(0), _here(), expiry);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainInvalidReceiver.selector, CARRIER));
        chain.proposeTransfer(ITEM, CARRIER, _here(), expiry);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainInvalidExpiry.selector, past));
        chain.proposeTransfer(ITEM, RECEIVER, _here(), past);
        chain.proposeTransfer(ITEM, RECEIVER, _here(), expiry);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainTransferPending.selector, ITEM, 1));
        chain.proposeTransfer(ITEM, RECEIVER, _here(), expiry);
        vm.stopPrank();
    }

    function testFuzz_acceptTransferRefusesAnExpiredProposal(uint32 late) public {
        _propose(RECEIVER);
        uint64 expiry = chain.pendingTransfer(ITEM).expiresAt;
        vm.warp(uint256(expiry) + 1 + late);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainTransferExpired.selector, ITEM, expiry));
        vm.prank(RECEIVER);
        chain.acceptTransfer(ITEM, _here());
        vm.assertEq(_item(ITEM).custodian, CARRIER, "not moved");
    }

    function testFuzz_cancelTransferIsTheCustodiansOrTheReceivers(address caller, bool byReceiver) public {
        vm.assume(caller != CARRIER && caller != RECEIVER);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNoPendingTransfer.selector, ITEM));
        vm.prank(CARRIER);
        chain.cancelTransfer(ITEM);
        _propose(RECEIVER);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNotTransferParty.selector, ITEM, caller));
        vm.prank(caller);
        chain.cancelTransfer(ITEM);
        vm.prank(byReceiver ? RECEIVER : CARRIER);
        chain.cancelTransfer(ITEM);
        vm.assertEq(chain.pendingTransfer(ITEM).to, address(0), "cancelled");
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNoPendingTransfer.selector, ITEM));
        vm.prank(RECEIVER);
        chain.acceptTransfer(ITEM, _here());
    }

    function testFuzz_aHeldItemCannotChangeHands(address caller) public {
        vm.assume(caller != MAKER && caller != ADMIN);
        _propose(RECEIVER);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNotManufacturer.selector, ITEM, caller));
        vm.prank(caller);
        chain.holdItem(ITEM);
        vm.prank(MAKER);
        chain.holdItem(ITEM);
        vm.assertTrue(_item(ITEM).held, "held");
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainItemOnHold.selector, ITEM));
        vm.prank(RECEIVER);
        chain.acceptTransfer(ITEM, _here());
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainItemOnHold.selector, ITEM));
        vm.prank(CARRIER);
        chain.confirmDelivery(ITEM, _here());
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNotManufacturer.selector, ITEM, caller));
        vm.prank(caller);
        chain.releaseItem(ITEM);
        vm.prank(MAKER);
        chain.releaseItem(ITEM);
        vm.prank(RECEIVER);
        chain.acceptTransfer(ITEM, _here());
        vm.assertEq(_item(ITEM).custodian, RECEIVER, "moved once released");
    }

    // ------------------------------------------------------------------------------ evidence

    function testFuzz_recordCheckpointIsTheCustodiansOrAnOraclesWithAnchoredEvidence(
        address caller,
        bytes32 digest,
        bytes32 sigHash,
        uint16 code
    ) public {
        vm.assume(caller != CARRIER && caller != ORACLE && caller != ADMIN);
        SupplyChain.Evidence memory none = _noEvidence();
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNotCheckpointer.selector, ITEM, caller));
        vm.prank(caller);
        chain.recordCheckpoint(ITEM, _here(), code, none);
        vm.prank(CARRIER);
        chain.recordCheckpoint(ITEM, _here(), code, none);

        SupplyChain.Evidence memory forged = SupplyChain.Evidence(keccak256("never anchored"), digest, sigHash, new bytes32[](0));
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(digest, sigHash))));
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainEvidenceNotAnchored.selector, forged.root, leaf));
        vm.prank(ORACLE);
        chain.recordCheckpoint(ITEM, _here(), code, forged);

        SupplyChain.Evidence memory real = _anchoredEvidence(digest, sigHash);
        vm.prank(ORACLE);
        chain.recordCheckpoint(ITEM, _here(), code, real);
        // the root itself (an inner node) cannot pass for a reading
        SupplyChain.Evidence memory rootAsReading = SupplyChain.Evidence(real.root, real.root, sigHash, new bytes32[](0));
        bytes32 rootLeaf = keccak256(bytes.concat(keccak256(abi.encode(real.root, sigHash))));
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainEvidenceNotAnchored.selector, real.root, rootLeaf));
        vm.prank(ORACLE);
        chain.recordCheckpoint(ITEM, _here(), code, rootAsReading);
    }

    function testFuzz_setConditionIsAnOraclesAndChangesTheCondition(address caller, bytes32 digest) public {
        vm.assume(caller != ORACLE && caller != ADMIN);
        SupplyChain.Evidence memory none = _noEvidence();
        vm.expectRevert(_unauthorized(caller, chain.ORACLE_ROLE()));
        vm.prank(caller);
        chain.setCondition(ITEM, SupplyChain.Condition.OutOfCompliance, none);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainSameCondition.selector, ITEM, SupplyChain.Condition.Compliant));
        vm.prank(ORACLE);
        chain.setCondition(ITEM, SupplyChain.Condition.Compliant, none);
        SupplyChain.Evidence memory real = _anchoredEvidence(digest, keccak256("sig"));
        vm.prank(ORACLE);
        chain.setCondition(ITEM, SupplyChain.Condition.OutOfCompliance, real);
        (, SupplyChain.Condition condition) = chain.stateOf(ITEM);
        vm.assertTrue(condition == SupplyChain.Condition.OutOfCompliance, "out of compliance");
    }

    // ------------------------------------------------------------------------------ final states

    function testFuzz_recallIsFinalAndCancelsThePendingTransfer(address caller, string calldata reason) public {
        vm.assume(caller != MAKER && caller != ADMIN);
        _propose(RECEIVER);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNotManufacturer.selector, ITEM, caller));
        vm.prank(caller);
        chain.recallItem(ITEM, reason);
        vm.prank(MAKER);
        chain.recallItem(ITEM, reason);
        (SupplyChain.Status status, ) = chain.stateOf(ITEM);
        vm.assertTrue(status == SupplyChain.Status.Recalled, "recalled");
        vm.assertEq(chain.pendingTransfer(ITEM).to, address(0), "transfer dropped");
        bytes memory closed = abi.encodeWithSelector(SupplyChain.SupplyChainItemClosed.selector, ITEM, SupplyChain.Status.Recalled);
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
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainNotCustodian.selector, ITEM, caller));
        vm.prank(caller);
        chain.confirmDelivery(ITEM, _here());
        _propose(RECEIVER);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainTransferPending.selector, ITEM, 1));
        vm.prank(CARRIER);
        chain.confirmDelivery(ITEM, _here());
        vm.prank(RECEIVER);
        chain.cancelTransfer(ITEM);
        vm.prank(CARRIER);
        chain.confirmDelivery(ITEM, _here());
        (SupplyChain.Status status, ) = chain.stateOf(ITEM);
        vm.assertTrue(status == SupplyChain.Status.Delivered, "delivered");
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainItemClosed.selector, ITEM, SupplyChain.Status.Delivered));
        vm.prank(MAKER);
        chain.recallItem(ITEM, "too late");
    }

    function testFuzz_viewsOfAnUnknownItem(bytes32 id) public {
        vm.assume(id != ITEM);
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainUnknownItem.selector, id));
        chain.getItem(id);
        vm.assertFalse(chain.exists(id), "exists");
        vm.assertEq(chain.devicesOf(id).length, 0, "devices");
        (SupplyChain.Status status, ) = chain.stateOf(id);
        vm.assertTrue(status == SupplyChain.Status.None, "status None");
        vm.expectRevert(abi.encodeWithSelector(SupplyChain.SupplyChainUnknownItem.selector, id));
        vm.prank(CARRIER);
        chain.cancelTransfer(id);
    }
}

/// @notice Drives role changes on the supply chain from every kind of account.
contract ChainRoleHandler is Base {
    SupplyChain public immutable chain;
    address[4] internal actors = [address(0x3A4), address(0xCA1), address(0x4EC), address(0x04AC)];
    mapping(bytes32 role => mapping(address account => bool)) public grantedByAdmin;

    constructor(SupplyChain chain_) {
        chain = chain_;
    }

    function actor(uint256 i) external view returns (address) {
        return actors[i];
    }

    function _role(uint256 seed) internal view returns (bytes32) {
        uint256 pick = seed % 3;
        return pick == 0 ? chain.MANUFACTURER_ROLE() : pick == 1 ? chain.ORACLE_ROLE() : chain.DEFAULT_ADMIN_ROLE();
    }

    function grantAsAnyone(uint256 callerSeed, uint256 roleSeed, uint256 granteeSeed) external {
        bytes32 role = _role(roleSeed);
        address caller = actors[callerSeed % 4];
        vm.prank(caller);
        try chain.grantRole(role, actors[granteeSeed % 4]) {
            revert("a non-admin granted a role");
        } catch {}
    }

    function grantAsAdmin(uint256 roleSeed, uint256 granteeSeed) external {
        bytes32 role = _role(roleSeed);
        if (role == chain.DEFAULT_ADMIN_ROLE()) return; // keep the actors non-admins
        address grantee = actors[granteeSeed % 4];
        vm.prank(ADMIN);
        chain.grantRole(role, grantee);
        grantedByAdmin[role][grantee] = true;
    }

    function revokeAsAdmin(uint256 roleSeed, uint256 seed) external {
        bytes32 role = _role(roleSeed);
        address who = actors[seed % 4];
        vm.prank(ADMIN);
        chain.revokeRole(role, who);
        grantedByAdmin[role][who] = false;
    }

    function renounce(uint256 roleSeed, uint256 seed) external {
        bytes32 role = _role(roleSeed);
        address who = actors[seed % 4];
        vm.prank(who);
        chain.renounceRole(role, who);
        grantedByAdmin[role][who] = false;
    }
}

/// @notice Invariant: roles on the supply chain never grow without the admin.
contract SupplyChainRolesInvariantTest is Deployment {
    ChainRoleHandler internal handler;

    function setUp() public {
        _deployCore();
        handler = new ChainRoleHandler(chain);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_rolesNeverGrowWithoutTheAdmin() public view {
        bytes32[3] memory roles = [chain.MANUFACTURER_ROLE(), chain.ORACLE_ROLE(), chain.DEFAULT_ADMIN_ROLE()];
        for (uint256 r = 0; r < 3; ++r) {
            for (uint256 i = 0; i < 4; ++i) {
                address who = handler.actor(i);
                vm.assertEq(chain.hasRole(roles[r], who), handler.grantedByAdmin(roles[r], who), "role only from the admin");
            }
        }
        vm.assertTrue(chain.hasRole(chain.DEFAULT_ADMIN_ROLE(), ADMIN), "the admin stays");
    }
}
