// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {SupplyChain} from "./SupplyChain.sol";

/**
 * @title ShipmentEscrow
 * @notice Payment for a shipment held until the item's fate is known in {SupplyChain}: a buyer
 * deposits ether for an item; the seller is paid once the item is delivered in compliance; the
 * buyer is refunded once the item is out of compliance (a proven breach), recalled, or not
 * delivered by the deadline.
 *
 * Settlement reads only the supply chain's state, so anyone may trigger it (the sensor oracle
 * does, in the transaction that proves the breach). Settled amounts are credited and withdrawn
 * by their payee (pull payments): a payee that cannot receive ether blocks nobody else.
 */
contract ShipmentEscrow is ReentrancyGuard {
    /// @notice How an escrow ended.
    enum Outcome {
        None,
        PaidToSeller,
        RefundedOnBreach,
        RefundedOnRecall,
        RefundedOnExpiry
    }

    /// @notice One item's escrow.
    struct Escrow {
        address buyer;
        uint64 deadline;
        Outcome outcome;
        address seller;
        uint256 amount;
    }

    /// @notice The supply chain whose items are paid for.
    SupplyChain public immutable supplyChain;

    mapping(bytes32 itemId => Escrow) private _escrows;
    mapping(address account => uint256) private _credits;

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
    /// @notice The caller has no credit to withdraw.
    error EscrowNothingToWithdraw(address account);

    /// @notice A buyer deposited `amount` for `itemId`, payable to `seller` on compliant delivery.
    event EscrowOpened(bytes32 indexed itemId, address indexed buyer, address indexed seller, uint256 amount, uint64 deadline);
    /// @notice The escrow of `itemId` was settled: `payee` was credited `amount`.
    event EscrowSettled(bytes32 indexed itemId, address indexed payee, Outcome outcome, uint256 amount, address settledBy);
    /// @notice `account` withdrew `amount` of its credit.
    event Withdrawn(address indexed account, uint256 amount);

    /// @param supplyChain_ The supply chain whose items are paid for.
    constructor(SupplyChain supplyChain_) {
        supplyChain = supplyChain_;
    }

    /**
     * @notice Deposits the ether sent as payment for `itemId` to `seller`, refundable unless the
     * item is delivered in compliance by `deadline`.
     * @dev Requirements: the item is active and compliant, has no escrow; a deposit, a seller and
     * a future deadline. Emits {EscrowOpened}.
     */
    function open(bytes32 itemId, address seller, uint64 deadline) external payable {
        (SupplyChain.Status status, SupplyChain.Condition condition) = supplyChain.stateOf(itemId);
        if (status == SupplyChain.Status.None) revert EscrowUnknownItem(itemId);
        if (status != SupplyChain.Status.Active || condition != SupplyChain.Condition.Compliant) {
            revert EscrowItemNotOpen(itemId);
        }
        if (_escrows[itemId].buyer != address(0)) revert EscrowExists(itemId);
        if (msg.value == 0 || seller == address(0) || deadline <= block.timestamp) revert EscrowInvalidTerms();
        _escrows[itemId] = Escrow({
            buyer: msg.sender,
            deadline: deadline,
            outcome: Outcome.None,
            seller: seller,
            amount: msg.value
        });
        emit EscrowOpened(itemId, msg.sender, seller, msg.value, deadline);
    }

    /**
     * @notice Settles the escrow of `itemId` from the item's state: refund on breach, recall or
     * expiry; payment on compliant delivery. Anyone may call it.
     * @dev Requirements: an unsettled escrow whose outcome is decided. Emits {EscrowSettled}.
     * @return outcome How the escrow ended.
     */
    function settle(bytes32 itemId) external returns (Outcome outcome) {
        Escrow storage escrow = _escrows[itemId];
        if (escrow.buyer == address(0)) revert EscrowNotFound(itemId);
        if (escrow.outcome != Outcome.None) revert EscrowAlreadySettled(itemId, escrow.outcome);
        outcome = settlementOf(itemId);
        if (outcome == Outcome.None) revert EscrowNotSettleable(itemId);
        address payee = outcome == Outcome.PaidToSeller ? escrow.seller : escrow.buyer;
        escrow.outcome = outcome;
        _credits[payee] += escrow.amount;
        emit EscrowSettled(itemId, payee, outcome, escrow.amount, msg.sender);
    }

    /**
     * @notice Pays the caller its settled credit.
     * @dev Requirements: a non-zero credit. Emits {Withdrawn}.
     */
    function withdraw() external nonReentrant {
        uint256 amount = _credits[msg.sender];
        if (amount == 0) revert EscrowNothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    /**
     * @notice How the escrow of `itemId` would settle now (None: not decided yet, settled already,
     * or no escrow).
     */
    function settlementOf(bytes32 itemId) public view returns (Outcome) {
        Escrow storage escrow = _escrows[itemId];
        if (escrow.buyer == address(0) || escrow.outcome != Outcome.None) return Outcome.None;
        (SupplyChain.Status status, SupplyChain.Condition condition) = supplyChain.stateOf(itemId);
        if (condition == SupplyChain.Condition.OutOfCompliance) return Outcome.RefundedOnBreach;
        if (status == SupplyChain.Status.Recalled) return Outcome.RefundedOnRecall;
        if (status == SupplyChain.Status.Delivered) return Outcome.PaidToSeller;
        if (block.timestamp > escrow.deadline) return Outcome.RefundedOnExpiry;
        return Outcome.None;
    }

    /// @notice The escrow of `itemId` (a zero buyer: none).
    function escrowOf(bytes32 itemId) external view returns (Escrow memory) {
        return _escrows[itemId];
    }

    /// @notice The ether `account` may withdraw.
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }
}
