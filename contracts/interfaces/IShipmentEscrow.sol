// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISupplyChain} from "./ISupplyChain.sol";

/**
 * @title IShipmentEscrow
 * @notice The types, errors, events and functions of {ShipmentEscrow}: payment for a shipment held
 * until the item's fate is known in the supply chain, paid to the seller on compliant delivery by
 * the deadline and refunded to the buyer otherwise, credited and withdrawn by the payee.
 */
interface IShipmentEscrow {
    /// @notice How an escrow ended.
    enum Outcome {
        None,
        PaidToSeller,
        RefundedOnBreach,
        RefundedOnRecall,
        RefundedOnExpiry,
        RefundedOnLateDelivery
    }

    /// @notice One item's escrow.
    struct Escrow {
        address buyer;
        uint64 deadline;
        Outcome outcome;
        address seller;
        uint256 amount;
    }

    /// @notice The item does not exist in the supply chain.
    error EscrowUnknownItem(bytes32 itemId);
    /// @notice The item already has an escrow.
    error EscrowExists(bytes32 itemId);
    /// @notice The item is delivered, recalled or out of compliance: too late to pay for it.
    error EscrowItemNotOpen(bytes32 itemId);
    /// @notice The deposit, seller or deadline is invalid.
    error EscrowInvalidTerms();
    /// @notice The item has no escrow.
    error EscrowNotFound(bytes32 itemId);
    /// @notice The escrow was settled already.
    error EscrowAlreadySettled(bytes32 itemId, Outcome outcome);
    /// @notice Nothing decides the escrow yet: the item is in transit, compliant, before its deadline.
    error EscrowNotSettleable(bytes32 itemId);
    /// @notice `caller` is not the buyer the item's seller designated.
    error EscrowNotDesignatedBuyer(bytes32 itemId, address caller);
    /// @notice `caller` is not the item's manufacturer.
    error EscrowNotSeller(bytes32 itemId, address caller);
    /// @notice The caller has no credit to withdraw.
    error EscrowNothingToWithdraw(address account);

    /// @notice The item's manufacturer `seller` designated `buyer` as the one who may pay into its escrow.
    event BuyerDesignated(bytes32 indexed itemId, address indexed seller, address indexed buyer);
    /// @notice A buyer deposited `amount` for `itemId`, payable to `seller` on compliant delivery by
    /// `deadline`, protected by rules `ruleIds`.
    event EscrowOpened(
        bytes32 indexed itemId,
        address indexed buyer,
        address indexed seller,
        uint256 amount,
        uint64 deadline,
        uint256[] ruleIds
    );
    /// @notice The escrow of `itemId` was settled: `payee` was credited `amount`.
    event EscrowSettled(bytes32 indexed itemId, address indexed payee, Outcome outcome, uint256 amount, address settledBy);
    /// @notice `account` withdrew `amount` of its credit.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice The supply chain whose items are paid for.
    function supplyChain() external view returns (ISupplyChain);

    /**
     * @notice As the item's manufacturer (its seller), designates `buyer` as the one account that
     * may open the item's escrow.
     * @dev Requirements: the item is active; the caller is its manufacturer; it has no escrow; a
     * non-zero buyer. Emits {BuyerDesignated}.
     */
    function designateBuyer(bytes32 itemId, address buyer) external;

    /**
     * @notice As the item's designated buyer, deposits the ether sent as payment for `itemId` to
     * its manufacturer, refundable unless the item is delivered in compliance by `deadline`;
     * rules `ruleIds` protect it (they cannot be disabled, nor their devices detached, until the
     * escrow settles).
     * @dev Requirements: the item is active and compliant, has no escrow; the caller is its
     * designated buyer; a deposit and a future deadline; each rule is of the item, active, not
     * fired, and marks the item when it fires. Emits {EscrowOpened}.
     */
    function open(bytes32 itemId, uint64 deadline, uint256[] calldata ruleIds) external payable;

    /**
     * @notice Settles the escrow of `itemId` from the item's state: refund on breach, recall or
     * expiry; payment on compliant delivery. Anyone may call it.
     * @dev Requirements: an unsettled escrow whose outcome is decided. Emits {EscrowSettled}.
     * @return outcome How the escrow ended.
     */
    function settle(bytes32 itemId) external returns (Outcome outcome);

    /**
     * @notice Pays the caller its settled credit.
     * @dev Requirements: a non-zero credit. Emits {Withdrawn}.
     */
    function withdraw() external;

    /**
     * @notice How the escrow of `itemId` would settle now (None: not decided yet, settled already,
     * or no escrow).
     */
    function settlementOf(bytes32 itemId) external view returns (Outcome);

    /// @notice The escrow of `itemId` (a zero buyer: none).
    function escrowOf(bytes32 itemId) external view returns (Escrow memory);

    /// @notice The rules protecting the escrow of `itemId`.
    function rulesOf(bytes32 itemId) external view returns (uint256[] memory);

    /// @notice The buyer the item's seller designated (zero: none).
    function designatedBuyerOf(bytes32 itemId) external view returns (address);

    /// @notice The ether `account` may withdraw.
    function creditOf(address account) external view returns (uint256);
}
