// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DeviceRegistry} from "../../contracts/DeviceRegistry.sol";
import {IDeviceRegistry} from "../../contracts/interfaces/IDeviceRegistry.sol";
import {Base} from "./Base.sol";

/// @notice Fuzz tests of every external function of DeviceRegistry (kept apart: the registry is
/// being reworked on another branch, so these may need adapting after a merge).
contract DeviceRegistryTest is Base {
    DeviceRegistry internal registry;
    address internal constant REGISTRAR = address(0x2E6);
    address internal constant OWNER = address(0x0E1);
    bytes32 internal constant DEVICE = keccak256("device-1");
    uint256 internal constant DEVICE_KEY = 0xD1;
    uint256 internal constant P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551;

    function setUp() public {
        registry = new DeviceRegistry(ADMIN);
        bytes32 role = registry.REGISTRAR_ROLE();
        vm.prank(ADMIN);
        registry.grantRole(role, REGISTRAR);
        vm.warp(1_700_000_000);
        _register(DEVICE, OWNER, _secp(vm.addr(DEVICE_KEY)));
    }

    function _secp(address signer) internal pure returns (IDeviceRegistry.PublicKey memory) {
        return IDeviceRegistry.PublicKey(IDeviceRegistry.KeyType.Secp256k1, signer, 0, 0);
    }

    function _meta() internal pure returns (IDeviceRegistry.Metadata memory) {
        return IDeviceRegistry.Metadata("TH-100", keccak256("fw-1"), "cid");
    }

    function _register(bytes32 id, address owner, IDeviceRegistry.PublicKey memory key) internal {
        vm.prank(REGISTRAR);
        registry.registerDevice(id, owner, key, _meta());
    }

    function _reading(bytes32 id, uint64 sequence, uint64 timestamp) internal pure returns (IDeviceRegistry.Reading memory) {
        return IDeviceRegistry.Reading(id, sequence, timestamp, "temperature", 2150, -2, "Cel", keccak256("payload"));
    }

    function _status(bytes32 id) internal view returns (IDeviceRegistry.Status) {
        return registry.getDevice(id).status;
    }

    // ------------------------------------------------------------------------------ registration

    function testFuzz_registerDeviceStoresDeviceAndFirstKey(bytes32 id, address owner, address signer) public {
        vm.assume(id != 0 && id != DEVICE && owner != address(0) && signer != address(0));
        _register(id, owner, _secp(signer));
        IDeviceRegistry.Device memory device = registry.getDevice(id);
        vm.assertEq(device.owner, owner, "owner");
        vm.assertTrue(device.status == IDeviceRegistry.Status.Active, "active");
        vm.assertEq(uint256(device.registeredAt), block.timestamp, "registeredAt");
        vm.assertTrue(registry.isRegistered(id), "registered");
        vm.assertEq(registry.keyCount(id), 1, "one key");
        IDeviceRegistry.KeyRecord memory key = registry.getKey(id, 0);
        vm.assertEq(key.key.signer, signer, "signer");
        vm.assertEq(uint256(key.validFrom), block.timestamp, "validFrom");
        vm.assertEq(uint256(key.validUntil), 0, "still valid");
    }

    function testFuzz_registerDeviceRefusesACallerWithoutTheRole(address caller, bytes32 id) public {
        vm.assume(caller != REGISTRAR && caller != ADMIN && id != 0 && id != DEVICE);
        vm.expectRevert(_unauthorized(caller, registry.REGISTRAR_ROLE()));
        vm.prank(caller);
        registry.registerDevice(id, caller, _secp(caller), _meta());
        vm.assertFalse(registry.isRegistered(id), "nothing registered");
    }

    function testFuzz_registerDeviceRefusesBadIdsOwnersAndKeys(bytes32 id, address signer, bytes32 junk) public {
        vm.assume(id != 0 && id != DEVICE && signer != address(0) && junk != 0);
        vm.startPrank(REGISTRAR);
        vm.expectRevert(IDeviceRegistry.DeviceRegistryZeroDeviceId.selector);
        registry.registerDevice(0, OWNER, _secp(signer), _meta());
        vm.expectRevert(IDeviceRegistry.DeviceRegistryZeroOwner.selector);
        registry.registerDevice(id, address(0), _secp(signer), _meta());
        vm.expectRevert(IDeviceRegistry.DeviceRegistryInvalidKey.selector);
        registry.registerDevice(id, OWNER, _secp(address(0)), _meta());
        vm.expectRevert(IDeviceRegistry.DeviceRegistryInvalidKey.selector);
        registry.registerDevice(id, OWNER, IDeviceRegistry.PublicKey(IDeviceRegistry.KeyType.Secp256k1, signer, junk, 0), _meta());
        vm.expectRevert(IDeviceRegistry.DeviceRegistryInvalidKey.selector);
        registry.registerDevice(id, OWNER, IDeviceRegistry.PublicKey(IDeviceRegistry.KeyType.None, signer, 0, 0), _meta());
        vm.expectRevert(IDeviceRegistry.DeviceRegistryInvalidKey.selector);
        registry.registerDevice(id, OWNER, IDeviceRegistry.PublicKey(IDeviceRegistry.KeyType.P256, address(0), junk, junk), _meta());
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryDeviceAlreadyRegistered.selector, DEVICE));
        registry.registerDevice(DEVICE, signer, _secp(signer), _meta());
        vm.stopPrank();
        vm.assertFalse(registry.isRegistered(id), "nothing registered");
        vm.assertEq(registry.getDevice(DEVICE).owner, OWNER, "first registration kept");
    }

    // ------------------------------------------------------------------------------ keys

    function testFuzz_rotateKeyKeepsTheHistorySoOldReadingsVerify(uint256 newKey, uint32 later) public {
        newKey = _bound(newKey, 1, 2 ** 160);
        vm.assume(newKey != DEVICE_KEY);
        uint64 t0 = uint64(block.timestamp);
        IDeviceRegistry.Reading memory old = _reading(DEVICE, 1, t0);
        bytes memory oldSig = _sign(DEVICE_KEY, registry.readingDigest(old));
        vm.warp(uint256(t0) + 1 + later);
        vm.prank(OWNER);
        registry.rotateKey(DEVICE, _secp(vm.addr(newKey)));
        vm.assertEq(registry.keyCount(DEVICE), 2, "two keys");
        vm.assertEq(uint256(registry.getKey(DEVICE, 0).validUntil), block.timestamp, "old key closed now");
        vm.assertTrue(registry.verifySignedReading(old, oldSig), "an old reading verifies with the old key");

        IDeviceRegistry.Reading memory fresh = _reading(DEVICE, 2, uint64(block.timestamp));
        bytes32 digest = registry.readingDigest(fresh);
        vm.assertFalse(registry.verifySignedReading(fresh, _sign(DEVICE_KEY, digest)), "the old key no longer signs");
        vm.assertTrue(registry.verifySignedReading(fresh, _sign(newKey, digest)), "the new key signs");
        vm.assertFalse(registry.verifySignedReading(old, _sign(newKey, registry.readingDigest(old))), "new key, old time");
    }

    function testFuzz_rotateKeyRefusesANonOwnerTheSameKeyAndARevokedDevice(address caller, uint256 newKey) public {
        newKey = _bound(newKey, 1, 2 ** 160);
        vm.assume(caller != OWNER && newKey != DEVICE_KEY);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnauthorizedOwner.selector, DEVICE, caller));
        vm.prank(caller);
        registry.rotateKey(DEVICE, _secp(vm.addr(newKey)));
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistrySameKey.selector, DEVICE));
        vm.prank(OWNER);
        registry.rotateKey(DEVICE, _secp(vm.addr(DEVICE_KEY)));
        vm.prank(OWNER);
        registry.revokeDevice(DEVICE);
        vm.expectRevert(
            abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryInvalidStatus.selector, DEVICE, IDeviceRegistry.Status.Revoked)
        );
        vm.prank(OWNER);
        registry.rotateKey(DEVICE, _secp(vm.addr(newKey)));
        vm.assertEq(registry.keyCount(DEVICE), 1, "no key added");
    }

    function testFuzz_getKeyRefusesAnIndexOutOfRange(uint256 index) public {
        vm.assume(index != 0);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnknownKey.selector, DEVICE, index));
        registry.getKey(DEVICE, index);
    }

    /// forge-config: default.fuzz.runs = 64
    function testFuzz_aP256KeyVerifiesItsLowSSignatures(uint256 key, bytes32 id) public {
        key = _bound(key, 1, P256_N - 1);
        vm.assume(id != 0 && id != DEVICE);
        (uint256 x, uint256 y) = vm.publicKeyP256(key);
        _register(id, OWNER, IDeviceRegistry.PublicKey(IDeviceRegistry.KeyType.P256, address(0), bytes32(x), bytes32(y)));
        IDeviceRegistry.Reading memory reading = _reading(id, 1, uint64(block.timestamp));
        bytes32 digest = registry.readingDigest(reading);
        (bytes32 r, bytes32 s) = vm.signP256(key, digest);
        if (uint256(s) > P256_N / 2) s = bytes32(P256_N - uint256(s));
        vm.assertTrue(registry.verifySignedReading(reading, abi.encodePacked(r, s)), "low-s signature");
        vm.assertFalse(registry.verifySignedReading(reading, abi.encodePacked(r, bytes32(P256_N - uint256(s)))), "high s");
        vm.assertFalse(registry.verifyReading(id, digest, abi.encodePacked(r, s, uint8(27))), "65 bytes for P-256");
    }

    // ------------------------------------------------------------------------------ readings

    function testFuzz_verifyReadingAcceptsOnlyTheDevicesKeyWhileActive(uint256 otherKey, bytes32 digest) public {
        otherKey = _bound(otherKey, 1, 2 ** 160);
        vm.assume(otherKey != DEVICE_KEY);
        bytes memory sig = _sign(DEVICE_KEY, digest);
        vm.assertTrue(registry.verifyReading(DEVICE, digest, sig), "device's key");
        vm.assertFalse(registry.verifyReading(DEVICE, digest, _sign(otherKey, digest)), "another key");
        vm.assertFalse(registry.verifyReading(DEVICE, keccak256(abi.encode(digest)), sig), "another digest");
        vm.assertFalse(registry.verifyReading(keccak256("unknown"), digest, sig), "unknown device");
        vm.assertFalse(registry.verifyReading(DEVICE, digest, hex"1234"), "malformed signature never reverts");
        vm.warp(block.timestamp + 1 hours);
        vm.prank(OWNER);
        registry.suspendDevice(DEVICE);
        vm.assertFalse(registry.verifyReading(DEVICE, digest, sig), "suspended");
        vm.assertFalse(registry.verifyReadingAt(DEVICE, digest, sig, uint64(block.timestamp)), "dated inside the suspension");
        vm.assertTrue(registry.verifyReadingAt(DEVICE, digest, sig, uint64(block.timestamp - 1)), "dated before it");
    }

    // ------------------------------------------------------------------------------ suspensions

    function testFuzz_suspensionPeriodsAreRecordedAndReadingsInsideThemNeverVerify(
        uint32 first,
        uint32 length,
        uint32 gap,
        uint64 at,
        bytes32 digest
    ) public {
        uint64 t0 = uint64(block.timestamp);
        first = uint32(_bound(first, 1, 30 days));
        length = uint32(_bound(length, 1, 30 days));
        gap = uint32(_bound(gap, 1, 30 days));
        vm.warp(t0 + first);
        vm.prank(OWNER);
        registry.suspendDevice(DEVICE);
        vm.warp(t0 + first + length);
        vm.prank(OWNER);
        registry.reactivateDevice(DEVICE);
        vm.warp(t0 + first + length + gap);
        vm.prank(OWNER);
        registry.suspendDevice(DEVICE); // still open
        vm.assertEq(registry.suspensionCount(DEVICE), 2, "two suspensions");
        IDeviceRegistry.SuspensionPeriod memory closed = registry.getSuspension(DEVICE, 0);
        vm.assertEq(uint256(closed.from), t0 + first, "from");
        vm.assertEq(uint256(closed.until), t0 + first + length, "until");
        IDeviceRegistry.SuspensionPeriod memory open = registry.getSuspension(DEVICE, 1);
        vm.assertEq(uint256(open.from), t0 + first + length + gap, "from");
        vm.assertEq(uint256(open.until), 0, "still suspended");

        at = uint64(_bound(at, t0, t0 + first + length + gap + 30 days));
        bool inside = (at >= closed.from && at < closed.until) || at >= open.from;
        vm.assertEq(registry.isSuspendedAt(DEVICE, at), inside, "isSuspendedAt");
        bytes memory sig = _sign(DEVICE_KEY, digest);
        vm.assertEq(registry.verifyReadingAt(DEVICE, digest, sig, at), !inside, "verifyReadingAt");
        IDeviceRegistry.Reading memory reading = _reading(DEVICE, 1, at);
        vm.assertEq(
            registry.verifySignedReading(reading, _sign(DEVICE_KEY, registry.readingDigest(reading))),
            !inside,
            "verifySignedReading"
        );
    }

    function testFuzz_suspensionViewsOfAnUnsuspendedOrUnknownDevice(bytes32 id, uint256 index, uint64 at) public {
        vm.assertEq(registry.suspensionCount(id), 0, "none");
        vm.assertFalse(registry.isSuspendedAt(id, at), "never suspended");
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnknownSuspension.selector, id, index));
        registry.getSuspension(id, index);
    }

    function testFuzz_verifyReadingAtRefusesATimeBeforeTheFirstKey(bytes32 digest, uint64 before) public view {
        before = uint64(_bound(before, 0, block.timestamp - 1));
        vm.assertFalse(registry.verifyReadingAt(DEVICE, digest, _sign(DEVICE_KEY, digest), before), "before registration");
    }

    function testFuzz_readingDigestBindsEveryField(int256 value, int8 scale, uint64 sequence) public view {
        IDeviceRegistry.Reading memory a = _reading(DEVICE, sequence, 100);
        IDeviceRegistry.Reading memory b = _reading(DEVICE, sequence, 100);
        a.value = value;
        b.value = value;
        a.scale = scale;
        b.scale = scale;
        vm.assertEq(registry.readingDigest(a), registry.readingDigest(b), "same reading, same digest");
        b.unit = "degF";
        vm.assertTrue(registry.readingDigest(a) != registry.readingDigest(b), "unit is signed");
        b = _reading(DEVICE, sequence, 100);
        b.value = value;
        b.scale = scale == type(int8).max ? scale - 1 : scale + 1;
        vm.assertTrue(registry.readingDigest(a) != registry.readingDigest(b), "scale is signed");
    }

    // ------------------------------------------------------------------------------ lifecycle

    function testFuzz_suspendAndReactivateAreTheOwnersAndFollowTheStatus(address caller) public {
        vm.assume(caller != OWNER);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnauthorizedOwner.selector, DEVICE, caller));
        vm.prank(caller);
        registry.suspendDevice(DEVICE);
        vm.expectRevert(
            abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryInvalidStatus.selector, DEVICE, IDeviceRegistry.Status.Active)
        );
        vm.prank(OWNER);
        registry.reactivateDevice(DEVICE);
        vm.prank(OWNER);
        registry.suspendDevice(DEVICE);
        vm.assertTrue(_status(DEVICE) == IDeviceRegistry.Status.Suspended, "suspended");
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnauthorizedOwner.selector, DEVICE, caller));
        vm.prank(caller);
        registry.reactivateDevice(DEVICE);
        vm.prank(OWNER);
        registry.reactivateDevice(DEVICE);
        vm.assertTrue(_status(DEVICE) == IDeviceRegistry.Status.Active, "active again");
    }

    function testFuzz_revokeDeviceIsTheOwnersOrTheAdminsAndFinal(address caller, bool byAdmin) public {
        vm.assume(caller != OWNER && caller != ADMIN);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnauthorizedOwner.selector, DEVICE, caller));
        vm.prank(caller);
        registry.revokeDevice(DEVICE);
        vm.assertTrue(_status(DEVICE) == IDeviceRegistry.Status.Active, "not revoked");
        vm.prank(byAdmin ? ADMIN : OWNER);
        registry.revokeDevice(DEVICE);
        vm.assertTrue(_status(DEVICE) == IDeviceRegistry.Status.Revoked, "revoked");
        vm.assertEq(uint256(registry.getKey(DEVICE, 0).validUntil), block.timestamp, "key closed");
        vm.expectRevert(
            abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryInvalidStatus.selector, DEVICE, IDeviceRegistry.Status.Revoked)
        );
        vm.prank(OWNER);
        registry.revokeDevice(DEVICE);
        vm.expectRevert(
            abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryInvalidStatus.selector, DEVICE, IDeviceRegistry.Status.Revoked)
        );
        vm.prank(OWNER);
        registry.reactivateDevice(DEVICE);
    }

    function testFuzz_transferDeviceOwnershipIsTheOwnersAlone(address caller, address newOwner) public {
        vm.assume(caller != OWNER && newOwner != address(0) && newOwner != OWNER);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnauthorizedOwner.selector, DEVICE, caller));
        vm.prank(caller);
        registry.transferDeviceOwnership(DEVICE, caller);
        vm.expectRevert(IDeviceRegistry.DeviceRegistryZeroOwner.selector);
        vm.prank(OWNER);
        registry.transferDeviceOwnership(DEVICE, address(0));
        vm.prank(OWNER);
        registry.transferDeviceOwnership(DEVICE, newOwner);
        vm.assertEq(registry.getDevice(DEVICE).owner, newOwner, "new owner");
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnauthorizedOwner.selector, DEVICE, OWNER));
        vm.prank(OWNER);
        registry.suspendDevice(DEVICE);
        vm.prank(newOwner);
        registry.revokeDevice(DEVICE);
        vm.expectRevert(
            abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryInvalidStatus.selector, DEVICE, IDeviceRegistry.Status.Revoked)
        );
        vm.prank(newOwner);
        registry.transferDeviceOwnership(DEVICE, OWNER);
    }

    function testFuzz_updateDeviceMetadataIsTheOwnersUntilRevoked(address caller, string calldata model) public {
        vm.assume(caller != OWNER);
        IDeviceRegistry.Metadata memory meta = IDeviceRegistry.Metadata(model, keccak256("fw-2"), "cid-2");
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnauthorizedOwner.selector, DEVICE, caller));
        vm.prank(caller);
        registry.updateDeviceMetadata(DEVICE, meta);
        vm.prank(OWNER);
        registry.updateDeviceMetadata(DEVICE, meta);
        vm.assertEq(keccak256(bytes(registry.getDevice(DEVICE).metadata.model)), keccak256(bytes(model)), "model");
        vm.prank(OWNER);
        registry.revokeDevice(DEVICE);
        vm.expectRevert(
            abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryInvalidStatus.selector, DEVICE, IDeviceRegistry.Status.Revoked)
        );
        vm.prank(OWNER);
        registry.updateDeviceMetadata(DEVICE, _meta());
    }

    function testFuzz_getDeviceRefusesAnUnknownId(bytes32 id) public {
        vm.assume(id != DEVICE);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnknownDevice.selector, id));
        registry.getDevice(id);
        vm.assertFalse(registry.isRegistered(id), "isRegistered");
        vm.assertEq(registry.keyCount(id), 0, "keyCount");
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnknownDevice.selector, id));
        vm.prank(OWNER);
        registry.suspendDevice(id);
    }

    function testFuzz_multicallRegistersAFleetWithEachCallChecked(bytes32 a, bytes32 b, address caller) public {
        vm.assume(a != 0 && b != 0 && a != b && a != DEVICE && b != DEVICE && caller != REGISTRAR && caller != ADMIN);
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(DeviceRegistry.registerDevice, (a, OWNER, _secp(address(0xA)), _meta()));
        calls[1] = abi.encodeCall(DeviceRegistry.registerDevice, (b, OWNER, _secp(address(0xB)), _meta()));
        vm.expectRevert(_unauthorized(caller, registry.REGISTRAR_ROLE()));
        vm.prank(caller);
        registry.multicall(calls);
        vm.assertFalse(registry.isRegistered(a), "a stranger registers nothing");
        vm.prank(REGISTRAR);
        registry.multicall(calls);
        vm.assertTrue(registry.isRegistered(a) && registry.isRegistered(b), "both registered");
    }
}
