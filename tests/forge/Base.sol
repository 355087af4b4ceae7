// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm, VM_ADDRESS} from "./Vm.sol";

/// @notice What an invariant test returns from `targetSelectors()`: the functions forge may call.
struct FuzzSelector {
    address addr;
    bytes4[] selectors;
}

/**
 * @notice Shared helpers of the forge tests: the cheatcodes, bounded fuzz inputs, and the accounts
 * the tests act as. Tests are named for the case they prove; a refusal is checked by its custom
 * error (with arguments) and by the state not changing.
 */
abstract contract Base {
    Vm internal constant vm = Vm(VM_ADDRESS);

    address internal constant ADMIN = address(0xAD);
    address internal constant STRANGER = address(0xBAD);

    /// @dev `x` folded into [lo, hi] (both included), uniformly enough for fuzzing.
    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        if (lo == 0 && hi == type(uint256).max) return x;
        return lo + (x % (hi - lo + 1));
    }

    /// @dev A 65-byte (r, s, v) secp256k1 signature of `digest` by `key`.
    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev The revert data of OpenZeppelin's AccessControlUnauthorizedAccount(account, role).
    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSignature("AccessControlUnauthorizedAccount(address,bytes32)", account, role);
    }

    /// @dev An address that is none of the test's own (not zero, not a precompile, not the test,
    /// not the cheatcode address).
    function _assumeOutsider(address a) internal view {
        vm.assume(uint160(a) > 0x100 && a != address(this) && a != VM_ADDRESS && a != ADMIN);
        vm.assume(a != 0x000000000000000000636F6e736F6c652e6c6f67); // console.log
        vm.assume(a != 0x4e59b44847b379578588920cA78FbF26c0B4956C); // CREATE2 deployer
    }
}
