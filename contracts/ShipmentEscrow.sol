// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ISensorOracle} from "./interfaces/ISensorOracle.sol";
import {IShipmentEscrow} from "./interfaces/IShipmentEscrow.sol";
import {ISupplyChain} from "./interfaces/ISupplyChain.sol";

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
 * by their payee (pull payments): a payee that cannot receive ether blocks nobody else. Types,
 * errors and events are declared in {IShipmentEscrow}.
 */
contract ShipmentEscrow is IShipmentEscrow, ReentrancyGuard {
    /// @inheritdoc IShipmentEscrow
    ISupplyChain public immutable supplyChain;

    mapping(bytes32 itemId => Escrow) private _escrows;
    mapping(bytes32 itemId => uint256[]) private _rules;
    mapping(bytes32 itemId => address buyer) private _designated;
    mapping(address account => uint256) private _credits;

    /// @param supplyChain_ The supply chain whose items are paid for.
    constructor(ISupplyChain supplyChain_) {
        supplyChain = supplyChain_;
    }

    /// @inheritdoc IShipmentEscrow
    function designateBuyer(bytes32 itemId, address buyer) external {
        ISupplyChain.Item memory item = _activeItem(itemId);
        if (item.manufacturer != msg.sender) revert EscrowNotSeller(itemId, msg.sender);
        if (_escrows[itemId].buyer != address(0)) revert EscrowExists(itemId);
        if (buyer == address(0)) revert EscrowInvalidTerms();
        _designated[itemId] = buyer;
        emit BuyerDesignated(itemId, msg.sender, buyer);
    }

    /// @inheritdoc IShipmentEscrow
    function open(bytes32 itemId, uint64 deadline, uint256[] calldata ruleIds) external payable {
        ISupplyChain.Item memory item = _activeItem(itemId);
        if (item.condition != ISupplyChain.Condition.Compliant) revert EscrowItemNotOpen(itemId);
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
        ISensorOracle(supplyChain.oracle()).protect(itemId, ruleIds);
    }

    /// @inheritdoc IShipmentEscrow
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
        ISensorOracle(supplyChain.oracle()).unprotect(itemId, _rules[itemId]);
    }

    /// @inheritdoc IShipmentEscrow
    function withdraw() external nonReentrant {
        uint256 amount = _credits[msg.sender];
        if (amount == 0) revert EscrowNothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    /// @inheritdoc IShipmentEscrow
    function settlementOf(bytes32 itemId) public view returns (Outcome) {
        Escrow storage escrow = _escrows[itemId];
        if (escrow.buyer == address(0) || escrow.outcome != Outcome.None) return Outcome.None;
        (ISupplyChain.Status status, ISupplyChain.Condition condition) = supplyChain.stateOf(itemId);
        if (condition == ISupplyChain.Condition.OutOfCompliance) return Outcome.RefundedOnBreach;
        if (status == ISupplyChain.Status.Recalled) return Outcome.RefundedOnRecall;
        if (status == ISupplyChain.Status.Delivered) {
            return supplyChain.getItem(itemId).closedAt > escrow.deadline ? Outcome.RefundedOnLateDelivery : Outcome.PaidToSeller;
        }
        if (block.timestamp > escrow.deadline) return Outcome.RefundedOnExpiry;
        return Outcome.None;
    }

    /// @inheritdoc IShipmentEscrow
    function escrowOf(bytes32 itemId) external view returns (Escrow memory) {
        return _escrows[itemId];
    }

    /// @inheritdoc IShipmentEscrow
    function rulesOf(bytes32 itemId) external view returns (uint256[] memory) {
        return _rules[itemId];
    }

    /// @inheritdoc IShipmentEscrow
    function designatedBuyerOf(bytes32 itemId) external view returns (address) {
        return _designated[itemId];
    }

    function _activeItem(bytes32 itemId) private view returns (ISupplyChain.Item memory item) {
        (ISupplyChain.Status status, ) = supplyChain.stateOf(itemId);
        if (status == ISupplyChain.Status.None) revert EscrowUnknownItem(itemId);
        if (status != ISupplyChain.Status.Active) revert EscrowItemNotOpen(itemId);
        return supplyChain.getItem(itemId);
    }

    /// @inheritdoc IShipmentEscrow
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }
}
