// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {SupplyChain} from "./SupplyChain.sol";

/// @notice What the escrow needs of the sensor oracle bound to the supply chain.
interface IRuleGuard {
    function protect(bytes32 itemId, uint256[] calldata ruleIds) external;

    function unprotect(bytes32 itemId, uint256[] calldata ruleIds) external;
}

/**
 * @title ShipmentEscrow
 * @notice Payment for a shipment held until the item's fate is known in {SupplyChain}: the item's
 * manufacturer (the seller) designates its buyer; that buyer, and no one else, deposits ether for
 * the item, naming the sensor rules that protect the payment; the seller is paid once the item is
 * delivered in compliance by the deadline; the buyer is refunded once the item is out of
 * compliance (a proven breach), recalled, delivered late, or not delivered by the deadline.
 *
 * While the escrow is open, the sensor oracle bound to the supply chain keeps its rules from being
 * disabled and their devices from being detached; settling releases them.
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

    /// @notice The supply chain whose items are paid for.
    SupplyChain public immutable supplyChain;

    mapping(bytes32 itemId => Escrow) private _escrows;
    mapping(bytes32 itemId => uint256[]) private _rules;
    mapping(bytes32 itemId => address buyer) private _designated;
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

    /// @param supplyChain_ The supply chain whose items are paid for.
    constructor(SupplyChain supplyChain_) {
        supplyChain = supplyChain_;
    }

    /**
     * @notice As the item's manufacturer (its seller), designates `buyer` as the one account that
     * may open the item's escrow.
     * @dev Requirements: the item is active; the caller is its manufacturer; it has no escrow; a
     * non-zero buyer. Emits {BuyerDesignated}.
     */
    function designateBuyer(bytes32 itemId, address buyer) external {
        SupplyChain.Item memory item = _activeItem(itemId);
        if (item.manufacturer != msg.sender) revert EscrowNotSeller(itemId, msg.sender);
        if (_escrows[itemId].buyer != address(0)) revert EscrowExists(itemId);
        if (buyer == address(0)) revert EscrowInvalidTerms();
        _designated[itemId] = buyer;
        emit BuyerDesignated(itemId, msg.sender, buyer);
    }

    /**
     * @notice As the item's designated buyer, deposits the ether sent as payment for `itemId` to
     * its manufacturer, refundable unless the item is delivered in compliance by `deadline`;
     * rules `ruleIds` protect it (they cannot be disabled, nor their devices detached, until the
     * escrow settles).
     * @dev Requirements: the item is active and compliant, has no escrow; the caller is its
     * designated buyer; a deposit and a future deadline; each rule is of the item, active, not
     * fired, and marks the item when it fires. Emits {EscrowOpened}.
     */
    function open(bytes32 itemId, uint64 deadline, uint256[] calldata ruleIds) external payable {
        SupplyChain.Item memory item = _activeItem(itemId);
        if (item.condition != SupplyChain.Condition.Compliant) revert EscrowItemNotOpen(itemId);
        if (_escrows[itemId].buyer != address(0)) revert EscrowExists(itemId);
        if (_designated[itemId] != msg.sender) revert EscrowNotDesignatedBuyer(itemId, msg.sender);
        if (msg.value == 0 || deadline <= block.timestamp) revert EscrowInvalidTerms();
        _escrows[itemId] = Escrow({
            buyer: msg.sender,
            deadline: deadline,
            outcome: Outcome.None,
            seller: item.manufacturer,
            amount: msg.value
        });
        _rules[itemId] = ruleIds;
        emit EscrowOpened(itemId, msg.sender, item.manufacturer, msg.value, deadline, ruleIds);
        IRuleGuard(supplyChain.oracle()).protect(itemId, ruleIds);
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
        IRuleGuard(supplyChain.oracle()).unprotect(itemId, _rules[itemId]);
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
        if (status == SupplyChain.Status.Delivered) {
            return supplyChain.getItem(itemId).closedAt > escrow.deadline ? Outcome.RefundedOnLateDelivery : Outcome.PaidToSeller;
        }
        if (block.timestamp > escrow.deadline) return Outcome.RefundedOnExpiry;
        return Outcome.None;
    }

    /// @notice The escrow of `itemId` (a zero buyer: none).
    function escrowOf(bytes32 itemId) external view returns (Escrow memory) {
        return _escrows[itemId];
    }

    /// @notice The rules protecting the escrow of `itemId`.
    function rulesOf(bytes32 itemId) external view returns (uint256[] memory) {
        return _rules[itemId];
    }

    /// @notice The buyer the item's seller designated (zero: none).
    function designatedBuyerOf(bytes32 itemId) external view returns (address) {
        return _designated[itemId];
    }

    function _activeItem(bytes32 itemId) private view returns (SupplyChain.Item memory item) {
        (SupplyChain.Status status, ) = supplyChain.stateOf(itemId);
        if (status == SupplyChain.Status.None) revert EscrowUnknownItem(itemId);
        if (status != SupplyChain.Status.Active) revert EscrowItemNotOpen(itemId);
        return supplyChain.getItem(itemId);
    }

    /// @notice The ether `account` may withdraw.
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }
}
