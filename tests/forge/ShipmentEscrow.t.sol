// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISensorOracle} from "../../contracts/interfaces/ISensorOracle.sol";
import {IShipmentEscrow} from "../../contracts/interfaces/IShipmentEscrow.sol";
import {ISupplyChain} from "../../contracts/interfaces/ISupplyChain.sol";
import {SensorOracle} from "../../contracts/SensorOracle.sol";
import {ShipmentEscrow} from "../../contracts/ShipmentEscrow.sol";
import {SupplyChain} from "../../contracts/SupplyChain.sol";
import {Base} from "./Base.sol";
import {Deployment} from "./Fixtures.sol";

/// @notice A buyer that refuses ether (its refunds cannot be paid to it).
contract EtherRefuser {
    function open(ShipmentEscrow escrow, bytes32 itemId, uint64 deadline) external payable {
        escrow.open{value: msg.value}(itemId, deadline, new uint256[](0));
    }

    function withdrawFrom(ShipmentEscrow escrow) external {
        escrow.withdraw();
    }
}

/// @notice Escrow helpers: items made by SELLER (their manufacturer), held by CARRIER, with a
/// device; a rule that marks the item, for escrows to name.
abstract contract EscrowDeployment is Deployment {
    address internal constant CARRIER = address(0xCA1);
    address internal constant BUYER = address(0xB0B);
    address internal constant SELLER = address(0x5E11);

    function _deployEscrow() internal {
        _deployCore();
        bytes32 manufacturer = chain.MANUFACTURER_ROLE();
        vm.prank(ADMIN);
        chain.grantRole(manufacturer, SELLER);
        vm.warp(1_700_000_000);
    }

    /// @dev An item of SELLER held by CARRIER with device `deviceId` (owned by SELLER) attached.
    function _sellerItem(bytes32 itemId, bytes32 deviceId) internal {
        _registerDevice(deviceId, SELLER, 0xD1);
        bytes32[] memory devices = new bytes32[](1);
        devices[0] = deviceId;
        vm.prank(SELLER);
        chain.registerItem(itemId, CARRIER, keccak256("description"), "cid", devices);
    }

    /// @dev A temperature rule on the item (any of its devices when `deviceId` is zero).
    function _rule(bytes32 itemId, bytes32 deviceId, uint8 actions) internal returns (uint256) {
        ISensorOracle.RuleParams memory p = ISensorOracle.RuleParams({
            itemId: itemId,
            deviceId: deviceId,
            metric: "temperature",
            unit: "Cel",
            kind: ISensorOracle.RuleKind.Threshold,
            comparison: ISensorOracle.Comparison.Above,
            lower: 0,
            upper: 800,
            scale: -2,
            minReadings: 1,
            minDuration: 0,
            actions: actions
        });
        vm.prank(SELLER);
        return oracle.addRule(p);
    }

    function _designate(bytes32 itemId, address buyer) internal {
        vm.prank(SELLER);
        escrow.designateBuyer(itemId, buyer);
    }

    function _ids(uint256 a) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](1);
        ids[0] = a;
    }
}

/// @notice Fuzz tests of every external function of ShipmentEscrow.
contract ShipmentEscrowTest is EscrowDeployment {
    bytes32 internal constant ITEM = keccak256("lot-1");
    bytes32 internal constant DEVICE = keccak256("device-1");

    function setUp() public {
        _deployEscrow();
        _sellerItem(ITEM, DEVICE);
        vm.deal(BUYER, type(uint128).max);
    }

    function _open(uint256 amount) internal returns (uint64 deadline) {
        deadline = uint64(block.timestamp + 7 days);
        _designate(ITEM, BUYER);
        vm.prank(BUYER);
        escrow.open{value: amount}(ITEM, deadline, new uint256[](0));
    }

    // ------------------------------------------------------------------------------ designation

    function testFuzz_designateBuyerIsTheSellersAlone(address caller, address buyer, bytes32 unknown) public {
        vm.assume(caller != SELLER && buyer != address(0) && unknown != ITEM);
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowNotSeller.selector, ITEM, caller));
        vm.prank(caller);
        escrow.designateBuyer(ITEM, buyer);
        vm.expectRevert(IShipmentEscrow.EscrowInvalidTerms.selector);
        vm.prank(SELLER);
        escrow.designateBuyer(ITEM, address(0));
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowUnknownItem.selector, unknown));
        vm.prank(SELLER);
        escrow.designateBuyer(unknown, buyer);
        vm.assertEq(escrow.designatedBuyerOf(ITEM), address(0), "nobody designated");

        _designate(ITEM, buyer);
        vm.assertEq(escrow.designatedBuyerOf(ITEM), buyer, "designated");
        _designate(ITEM, BUYER); // the seller may change its mind until the escrow opens
        vm.prank(BUYER);
        escrow.open{value: 1}(ITEM, uint64(block.timestamp + 1 days), new uint256[](0));
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowExists.selector, ITEM));
        vm.prank(SELLER);
        escrow.designateBuyer(ITEM, buyer);
        vm.assertEq(escrow.designatedBuyerOf(ITEM), BUYER, "designation kept");
    }

    function testFuzz_designateBuyerRefusesAClosedItem(address buyer, bool recalled) public {
        vm.assume(buyer != address(0));
        if (recalled) {
            vm.prank(SELLER);
            chain.recallItem(ITEM, "recall");
        } else {
            vm.prank(CARRIER);
            chain.confirmDelivery(ITEM, _here());
        }
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowItemNotOpen.selector, ITEM));
        vm.prank(SELLER);
        escrow.designateBuyer(ITEM, buyer);
    }

    // ------------------------------------------------------------------------------ open

    function testFuzz_openHoldsTheDepositAndProtectsTheNamedRules(uint96 amount, uint32 days_, bool anyDevice) public {
        vm.assume(amount != 0);
        uint256 ruleId = _rule(ITEM, anyDevice ? bytes32(0) : DEVICE, 7);
        uint64 deadline = uint64(block.timestamp + 1 + days_);
        _designate(ITEM, BUYER);
        vm.prank(BUYER);
        escrow.open{value: amount}(ITEM, deadline, _ids(ruleId));
        IShipmentEscrow.Escrow memory e = escrow.escrowOf(ITEM);
        vm.assertEq(e.buyer, BUYER, "buyer");
        vm.assertEq(e.seller, SELLER, "seller is the manufacturer");
        vm.assertEq(e.amount, amount, "amount");
        vm.assertEq(uint256(e.deadline), deadline, "deadline");
        vm.assertEq(address(escrow).balance, amount, "held");
        vm.assertEq(escrow.rulesOf(ITEM).length, 1, "rules named");
        vm.assertEq(uint256(oracle.getRule(ruleId).protections), 1, "rule protected");
        vm.assertEq(uint256(chain.detachLocksOf(ITEM, anyDevice ? bytes32(0) : DEVICE)), 1, "devices locked");
        vm.assertTrue(escrow.settlementOf(ITEM) == IShipmentEscrow.Outcome.None, "undecided");
    }

    function testFuzz_openRefusesAnyoneButTheDesignatedBuyer(address squatter) public {
        vm.assume(squatter != BUYER);
        vm.deal(squatter, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowNotDesignatedBuyer.selector, ITEM, squatter));
        vm.prank(squatter);
        escrow.open{value: 1 ether}(ITEM, uint64(block.timestamp + 1 days), new uint256[](0));
        _designate(ITEM, BUYER);
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowNotDesignatedBuyer.selector, ITEM, squatter));
        vm.prank(squatter);
        escrow.open{value: 1 ether}(ITEM, uint64(block.timestamp + 1 days), new uint256[](0));
        vm.assertEq(escrow.escrowOf(ITEM).buyer, address(0), "no escrow");
        vm.assertEq(address(escrow).balance, 0, "nothing held");
    }

    function testFuzz_openRefusesBadTermsAndClosedOrUnknownItems(bytes32 unknown, uint64 past) public {
        vm.assume(unknown != ITEM);
        past = uint64(_bound(past, 0, block.timestamp));
        uint64 deadline = uint64(block.timestamp + 1 days);
        _designate(ITEM, BUYER);
        uint256[] memory none = new uint256[](0);
        vm.startPrank(BUYER);
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowUnknownItem.selector, unknown));
        escrow.open{value: 1}(unknown, deadline, none);
        vm.expectRevert(IShipmentEscrow.EscrowInvalidTerms.selector);
        escrow.open{value: 0}(ITEM, deadline, none);
        vm.expectRevert(IShipmentEscrow.EscrowInvalidTerms.selector);
        escrow.open{value: 1}(ITEM, past, none);
        vm.stopPrank();
        _setCondition(ITEM, ISupplyChain.Condition.OutOfCompliance);
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowItemNotOpen.selector, ITEM));
        vm.prank(BUYER);
        escrow.open{value: 1}(ITEM, deadline, none);
        vm.assertEq(address(escrow).balance, 0, "nothing held");
    }

    function testFuzz_openRefusesRulesThatCannotProtectIt(uint8 which, uint256 unknown) public {
        bytes32 other = keccak256("lot-2");
        _sellerItem(other, keccak256("device-2"));
        uint256 otherItems = _rule(other, 0, 1);
        uint256 notMarking = _rule(ITEM, 0, 2);
        uint256 disabled = _rule(ITEM, 0, 1);
        vm.prank(SELLER);
        oracle.disableRule(disabled);
        unknown = _bound(unknown, oracle.ruleCount() + 1, type(uint256).max);
        uint256[4] memory bad = [otherItems, notMarking, disabled, unknown];
        uint256 ruleId = bad[which % 4];
        _designate(ITEM, BUYER);
        if (ruleId == unknown) vm.expectRevert(abi.encodeWithSelector(ISensorOracle.OracleUnknownRule.selector, unknown));
        else vm.expectRevert(abi.encodeWithSelector(ISensorOracle.OracleCannotProtect.selector, ruleId, ITEM));
        vm.prank(BUYER);
        escrow.open{value: 1 ether}(ITEM, uint64(block.timestamp + 1 days), _ids(ruleId));
        vm.assertEq(escrow.escrowOf(ITEM).buyer, address(0), "no escrow");
        vm.assertEq(address(escrow).balance, 0, "nothing held");
        vm.assertEq(uint256(chain.detachLocksOf(ITEM, 0)), 0, "nothing locked");
    }

    function testFuzz_openRefusesASecondEscrowForTheItem(address other) public {
        vm.assume(other != address(0));
        _open(1 ether);
        vm.deal(other, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowExists.selector, ITEM));
        vm.prank(other);
        escrow.open{value: 1 ether}(ITEM, uint64(block.timestamp + 1 days), new uint256[](0));
        vm.assertEq(escrow.escrowOf(ITEM).buyer, BUYER, "first escrow kept");
    }

    // ------------------------------------------------------------------------------ protection

    function testFuzz_whileOpenItsRulesStayAndTheirDevicesStayAttached(uint96 amount, bool anyDevice) public {
        vm.assume(amount != 0);
        uint256 ruleId = _rule(ITEM, anyDevice ? bytes32(0) : DEVICE, 1);
        _designate(ITEM, BUYER);
        vm.prank(BUYER);
        escrow.open{value: amount}(ITEM, uint64(block.timestamp + 7 days), _ids(ruleId));
        vm.expectRevert(abi.encodeWithSelector(ISensorOracle.OracleRuleProtected.selector, ruleId));
        vm.prank(SELLER);
        oracle.disableRule(ruleId);
        vm.expectRevert(abi.encodeWithSelector(ISupplyChain.SupplyChainDeviceLocked.selector, ITEM, DEVICE));
        vm.prank(SELLER);
        chain.detachDevice(ITEM, DEVICE);
        vm.assertTrue(oracle.getRule(ruleId).active && chain.isAttached(ITEM, DEVICE), "nothing changed");

        vm.prank(CARRIER);
        chain.confirmDelivery(ITEM, _here());
        escrow.settle(ITEM);
        vm.assertEq(uint256(oracle.getRule(ruleId).protections), 0, "released");
        vm.assertEq(uint256(chain.detachLocksOf(ITEM, anyDevice ? bytes32(0) : DEVICE)), 0, "unlocked");
    }

    function testFuzz_protectAndUnprotectAreTheEscrowsAlone(address caller) public {
        vm.assume(caller != address(escrow));
        uint256 ruleId = _rule(ITEM, 0, 1);
        vm.expectRevert(abi.encodeWithSelector(ISensorOracle.OracleNotEscrow.selector, caller));
        vm.prank(caller);
        oracle.protect(ITEM, _ids(ruleId));
        vm.expectRevert(abi.encodeWithSelector(ISensorOracle.OracleNotEscrow.selector, caller));
        vm.prank(caller);
        oracle.unprotect(ITEM, _ids(ruleId));
        vm.assertEq(uint256(oracle.getRule(ruleId).protections), 0, "not protected");
    }

    // ------------------------------------------------------------------------------ settle

    function testFuzz_compliantDeliveryByTheDeadlinePaysTheSeller(uint96 amount, address anyone, uint32 early) public {
        vm.assume(amount != 0);
        uint64 deadline = _open(amount);
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowNotSettleable.selector, ITEM));
        escrow.settle(ITEM);
        vm.warp(uint256(deadline) - _bound(early, 0, 7 days)); // up to the deadline itself
        vm.prank(CARRIER);
        chain.confirmDelivery(ITEM, _here());
        vm.assertTrue(escrow.settlementOf(ITEM) == IShipmentEscrow.Outcome.PaidToSeller, "decided");
        vm.prank(anyone);
        vm.assertTrue(escrow.settle(ITEM) == IShipmentEscrow.Outcome.PaidToSeller, "paid");
        vm.assertEq(escrow.creditOf(SELLER), amount, "seller credited");
        vm.assertEq(escrow.creditOf(BUYER), 0, "buyer not");
        vm.expectRevert(
            abi.encodeWithSelector(IShipmentEscrow.EscrowAlreadySettled.selector, ITEM, IShipmentEscrow.Outcome.PaidToSeller)
        );
        escrow.settle(ITEM);
        vm.prank(SELLER);
        escrow.withdraw();
        vm.assertEq(SELLER.balance, amount, "seller paid");
        vm.assertEq(address(escrow).balance, 0, "escrow empty");
    }

    function testFuzz_lateDeliveryRefundsTheBuyer(uint96 amount, uint32 late) public {
        vm.assume(amount != 0);
        uint64 deadline = _open(amount);
        vm.warp(uint256(deadline) + 1 + late);
        vm.prank(CARRIER);
        chain.confirmDelivery(ITEM, _here());
        vm.assertTrue(escrow.settle(ITEM) == IShipmentEscrow.Outcome.RefundedOnLateDelivery, "late");
        vm.assertEq(escrow.creditOf(BUYER), amount, "buyer credited");
        vm.assertEq(escrow.creditOf(SELLER), 0, "seller not");
    }

    function testFuzz_breachRecallAndExpiryRefundTheBuyer(uint96 amount, uint8 how, uint32 late) public {
        vm.assume(amount != 0);
        uint64 deadline = _open(amount);
        IShipmentEscrow.Outcome expected;
        if (how % 3 == 0) {
            _setCondition(ITEM, ISupplyChain.Condition.OutOfCompliance);
            expected = IShipmentEscrow.Outcome.RefundedOnBreach;
        } else if (how % 3 == 1) {
            vm.prank(ADMIN);
            chain.recallItem(ITEM, "contaminated");
            expected = IShipmentEscrow.Outcome.RefundedOnRecall;
        } else {
            vm.warp(uint256(deadline) + 1 + late);
            expected = IShipmentEscrow.Outcome.RefundedOnExpiry;
        }
        vm.assertTrue(escrow.settle(ITEM) == expected, "outcome");
        vm.assertEq(escrow.creditOf(BUYER), amount, "buyer credited");
        vm.assertEq(escrow.creditOf(SELLER), 0, "seller not");
        uint256 before = BUYER.balance;
        vm.prank(BUYER);
        escrow.withdraw();
        vm.assertEq(BUYER.balance, before + amount, "refunded");
    }

    function testFuzz_settleRefusesAnItemWithoutEscrow(bytes32 id) public {
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowNotFound.selector, id));
        escrow.settle(id);
        vm.assertTrue(escrow.settlementOf(id) == IShipmentEscrow.Outcome.None, "None");
    }

    function testFuzz_withdrawRefusesAnAccountWithoutCredit(address caller) public {
        vm.expectRevert(abi.encodeWithSelector(IShipmentEscrow.EscrowNothingToWithdraw.selector, caller));
        vm.prank(caller);
        escrow.withdraw();
    }

    function testFuzz_aPayeeThatRefusesEtherBlocksNobodyElse(uint96 amount) public {
        vm.assume(amount > 1);
        EtherRefuser refuser = new EtherRefuser();
        _designate(ITEM, address(refuser));
        refuser.open{value: amount}(escrow, ITEM, uint64(block.timestamp + 1 days));
        bytes32 other = keccak256("lot-2");
        _sellerItem(other, keccak256("device-2"));
        _designate(other, BUYER);
        vm.prank(BUYER);
        escrow.open{value: 1}(other, uint64(block.timestamp + 1 days), new uint256[](0));
        vm.prank(SELLER);
        chain.recallItem(ITEM, "recall"); // the refuser is refunded
        vm.prank(CARRIER);
        chain.confirmDelivery(other, _here());
        escrow.settle(ITEM);
        escrow.settle(other);
        vm.expectRevert(abi.encodeWithSignature("FailedCall()"));
        refuser.withdrawFrom(escrow);
        vm.assertEq(escrow.creditOf(address(refuser)), amount, "credit kept");
        vm.prank(SELLER);
        escrow.withdraw();
        vm.assertEq(SELLER.balance, 1, "the other payee is paid");
    }
}

/// @notice Drives escrows at random: designations, deposits (by the designated buyer or a
/// squatter, some naming a rule), item outcomes, time, settlements, withdrawals.
contract EscrowHandler is Base {
    ShipmentEscrow public immutable escrow;
    SupplyChain public immutable chain;
    SensorOracle public immutable oracle;
    address internal constant CARRIER = address(0xCA1);
    address internal constant SELLER = address(0x5E11);
    address[3] public accounts = [address(0xB0B), address(0xB0C), address(0x5E11)];
    bytes32[4] public items = [keccak256("e-1"), keccak256("e-2"), keccak256("e-3"), keccak256("e-4")];

    uint256 public deposited;
    uint256 public withdrawn;
    uint256 public squatted; // deposits by anyone but the designated buyer that were taken
    mapping(bytes32 itemId => uint256) public paidOut;

    constructor(ShipmentEscrow escrow_, SupplyChain chain_, SensorOracle oracle_) {
        escrow = escrow_;
        chain = chain_;
        oracle = oracle_;
    }

    function designate(uint256 itemSeed, uint256 buyerSeed) external {
        vm.prank(SELLER);
        try escrow.designateBuyer(items[itemSeed % 4], accounts[buyerSeed % 3]) {} catch {}
    }

    function open(uint256 itemSeed, uint256 buyerSeed, uint256 amount, uint32 span, bool withRule) external {
        bytes32 itemId = items[itemSeed % 4];
        address buyer = accounts[buyerSeed % 3];
        amount = _bound(amount, 1, 10 ether);
        vm.deal(buyer, buyer.balance + amount);
        uint256[] memory ruleIds = new uint256[](withRule ? 1 : 0);
        if (withRule) ruleIds[0] = 1 + (itemSeed % 4); // rule i + 1 marks item i
        bool designated = escrow.designatedBuyerOf(itemId) == buyer;
        vm.prank(buyer);
        try escrow.open{value: amount}(itemId, uint64(block.timestamp + 1 + span), ruleIds) {
            deposited += amount;
            if (!designated) ++squatted;
        } catch {}
    }

    function deliver(uint256 itemSeed) external {
        vm.prank(CARRIER);
        try chain.confirmDelivery(items[itemSeed % 4], ISupplyChain.Location(0, 0, 0)) {} catch {}
    }

    function recall(uint256 itemSeed) external {
        vm.prank(ADMIN);
        try chain.recallItem(items[itemSeed % 4], "recall") {} catch {}
    }

    /// @dev A breach, as the bound oracle marks it.
    function breach(uint256 itemSeed) external {
        vm.prank(address(oracle));
        try chain.setCondition(items[itemSeed % 4], ISupplyChain.Condition.OutOfCompliance, 0, 0) {} catch {}
    }

    function passTime(uint32 seconds_) external {
        vm.warp(block.timestamp + (seconds_ % 10 days));
    }

    function settle(uint256 itemSeed, address anyone) external {
        bytes32 itemId = items[itemSeed % 4];
        uint256 amount = escrow.escrowOf(itemId).amount;
        vm.prank(anyone);
        try escrow.settle(itemId) {
            paidOut[itemId] += amount;
        } catch {}
    }

    function withdraw(uint256 accountSeed) external {
        address account = accounts[accountSeed % 3];
        uint256 credit = escrow.creditOf(account);
        vm.prank(account);
        try escrow.withdraw() {
            withdrawn += credit;
        } catch {}
    }
}

/// @notice Invariants: the escrow's balance is what was deposited less what was paid out, and
/// every wei of it is owed to someone (a credit or an unsettled escrow); only the designated
/// buyer deposits; a rule protects an escrow exactly while that escrow is open.
contract ShipmentEscrowInvariantTest is EscrowDeployment {
    EscrowHandler internal handler;

    function setUp() public {
        _deployEscrow();
        handler = new EscrowHandler(escrow, chain, oracle);
        for (uint256 i = 0; i < 4; ++i) {
            bytes32 itemId = handler.items(i);
            _sellerItem(itemId, keccak256(abi.encode("e-device", i)));
            _rule(itemId, 0, 1);
        }
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// forge-config: default.invariant.runs = 32
    function invariant_escrowBalanceIsDepositsLessPayouts() public view {
        vm.assertEq(address(escrow).balance, handler.deposited() - handler.withdrawn(), "balance");
        uint256 owed;
        for (uint256 i = 0; i < 3; ++i) owed += escrow.creditOf(handler.accounts(i));
        for (uint256 i = 0; i < 4; ++i) {
            bytes32 itemId = handler.items(i);
            IShipmentEscrow.Escrow memory e = escrow.escrowOf(itemId);
            if (e.outcome == IShipmentEscrow.Outcome.None) owed += e.amount;
            vm.assertLe(handler.paidOut(itemId), e.amount, "an escrow paid out at most once");
        }
        vm.assertEq(address(escrow).balance, owed, "every wei is owed to someone");
    }

    /// forge-config: default.invariant.runs = 32
    function invariant_onlyTheDesignatedBuyerDeposits() public view {
        vm.assertEq(handler.squatted(), 0, "a deposit by someone the seller did not designate");
        for (uint256 i = 0; i < 4; ++i) {
            bytes32 itemId = handler.items(i);
            address buyer = escrow.escrowOf(itemId).buyer;
            if (buyer != address(0)) vm.assertEq(buyer, escrow.designatedBuyerOf(itemId), "buyer designated");
        }
    }

    /// forge-config: default.invariant.runs = 32
    function invariant_aRuleProtectsAnEscrowExactlyWhileItIsOpen() public view {
        for (uint256 i = 0; i < 4; ++i) {
            bytes32 itemId = handler.items(i);
            IShipmentEscrow.Escrow memory e = escrow.escrowOf(itemId);
            bool open = e.buyer != address(0) && e.outcome == IShipmentEscrow.Outcome.None;
            uint256 expected = open && escrow.rulesOf(itemId).length == 1 ? 1 : 0;
            vm.assertEq(uint256(oracle.getRule(i + 1).protections), expected, "protections");
            vm.assertEq(uint256(chain.detachLocksOf(itemId, 0)), expected, "detach locks");
        }
    }
}
