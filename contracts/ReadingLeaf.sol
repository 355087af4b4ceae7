// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title ReadingLeaf
 * @notice The Merkle leaf of a signed sensor reading, as the service's batch trees hold it:
 * `keccak256(keccak256(abi.encode(digest, keccak256(signature))))`, OpenZeppelin's double-hashed
 * leaf of the pair (EIP-712 digest of the reading, hash of the device's signature). One definition
 * for every contract that takes a reading as evidence (SupplyChain checkpoints, SensorOracle reports),
 * so the leaf a checkpoint proves and the leaf a rule fires on can never drift apart.
 */
library ReadingLeaf {
    /// @notice The leaf of the reading whose EIP-712 digest is `digest`, signed with `signature`.
    function compute(bytes32 digest, bytes calldata signature) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(digest, keccak256(signature)))));
    }
}
