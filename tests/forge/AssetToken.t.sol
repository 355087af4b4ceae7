// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AssetToken} from "../../contracts/AssetToken.sol";
import {IAssetToken} from "../../contracts/interfaces/IAssetToken.sol";
import {ISupplyChain} from "../../contracts/interfaces/ISupplyChain.sol";
import {SupplyChain} from "../../contracts/SupplyChain.sol";
import {Base} from "./Base.sol";
import {Deployment} from "./Fixtures.sol";

/// @notice A contract that takes ERC-721 tokens (answers onERC721Received).
contract TokenTaker {
    function onERC721Received(address, address, uint256, bytes calldata) external pure returns (bytes4) {
        return this.onERC721Received.selector;
    }
}

/// @notice Fuzz tests of every external function of AssetToken.
contract AssetTokenTest is Deployment {
    address internal constant FREEZER = address(0xF2);
    address internal constant HOLDER = address(0x401);
    address internal constant BUYER = address(0x402);
    bytes32 internal constant ITEM = keccak256("item-1");

    function setUp() public {
        _deployCore();
        bytes32 freezer = token.FREEZER_ROLE();
        vm.prank(ADMIN);
        token.grantRole(freezer, FREEZER);
        _registerItem(ITEM, HOLDER);
    }

    function _mint(bytes32 itemId, address to) internal returns (uint256) {
        vm.prank(ADMIN);
        return token.mint(to, itemId, "ipfs://meta");
    }

    function _assumeHolder(address to) internal view {
        _assumeOutsider(to);
        vm.assume(to.code.length == 0 && to != HOLDER && to != FREEZER);
    }

    function testFuzz_mintGivesTheItemsTokenToTheReceiver(bytes32 itemId, address to, string calldata uri) public {
        vm.assume(itemId != 0 && itemId != ITEM);
        _assumeHolder(to);
        _registerItem(itemId, to);
        vm.prank(ADMIN);
        uint256 id = token.mint(to, itemId, uri);
        vm.assertEq(id, uint256(itemId), "token id is the item id");
        vm.assertEq(token.ownerOf(id), to, "owner");
        vm.assertTrue(token.exists(id), "exists");
        vm.assertEq(keccak256(bytes(token.tokenURI(id))), keccak256(bytes(uri)), "uri");
        vm.assertTrue(token.isTransferable(id), "transferable");
        vm.assertFalse(token.isFrozen(id), "not frozen");
    }

    function test_mintToAContractThatTakesTokens() public {
        TokenTaker taker = new TokenTaker();
        uint256 id = _mint(ITEM, address(taker));
        vm.assertEq(token.ownerOf(id), address(taker), "owner");
    }

    function testFuzz_mintRefusesAReceiverContractThatTakesNoTokens(string calldata uri) public {
        vm.expectRevert(abi.encodeWithSignature("ERC721InvalidReceiver(address)", address(this)));
        vm.prank(ADMIN);
        token.mint(address(this), ITEM, uri);
        vm.assertFalse(token.exists(uint256(ITEM)), "nothing minted");
    }

    function testFuzz_mintRefusesACallerWithoutTheMinterRole(address caller) public {
        vm.assume(caller != ADMIN);
        vm.expectRevert(_unauthorized(caller, token.MINTER_ROLE()));
        vm.prank(caller);
        token.mint(caller, ITEM, "");
        vm.assertFalse(token.exists(uint256(ITEM)), "nothing minted");
    }

    function testFuzz_mintRefusesAnUnknownItem(bytes32 itemId) public {
        vm.assume(itemId != ITEM);
        vm.expectRevert(abi.encodeWithSelector(IAssetToken.AssetTokenUnknownItem.selector, itemId));
        vm.prank(ADMIN);
        token.mint(HOLDER, itemId, "");
        vm.assertFalse(token.exists(uint256(itemId)), "nothing minted");
    }

    function testFuzz_mintRefusesARecalledItem(string calldata reason) public {
        vm.prank(ADMIN);
        chain.recallItem(ITEM, reason);
        vm.expectRevert(abi.encodeWithSelector(IAssetToken.AssetTokenFrozen.selector, uint256(ITEM)));
        vm.prank(ADMIN);
        token.mint(HOLDER, ITEM, "");
        vm.assertFalse(token.exists(uint256(ITEM)), "nothing minted");
    }

    function testFuzz_mintRefusesASecondTokenForTheItem(address other) public {
        _assumeHolder(other);
        _mint(ITEM, HOLDER);
        vm.expectRevert(abi.encodeWithSignature("ERC721InvalidSender(address)", address(0)));
        vm.prank(ADMIN);
        token.mint(other, ITEM, "");
        vm.assertEq(token.ownerOf(uint256(ITEM)), HOLDER, "first owner kept");
    }

    function testFuzz_transferMovesACompliantToken(address to) public {
        _assumeHolder(to);
        uint256 id = _mint(ITEM, HOLDER);
        vm.prank(HOLDER);
        token.transferFrom(HOLDER, to, id);
        vm.assertEq(token.ownerOf(id), to, "moved");
    }

    function testFuzz_freezeStopsTransfersUntilTheAdminUnfreezes(bytes32 reason, address to) public {
        _assumeHolder(to);
        uint256 id = _mint(ITEM, HOLDER);
        vm.prank(FREEZER);
        token.freeze(id, reason);
        vm.assertTrue(token.isFrozen(id), "frozen");
        vm.assertFalse(token.isTransferable(id), "not transferable");

        vm.expectRevert(abi.encodeWithSelector(IAssetToken.AssetTokenFrozen.selector, id));
        vm.prank(HOLDER);
        token.transferFrom(HOLDER, to, id);
        vm.prank(HOLDER);
        token.approve(BUYER, id);
        vm.expectRevert(abi.encodeWithSelector(IAssetToken.AssetTokenFrozen.selector, id));
        vm.prank(BUYER);
        token.safeTransferFrom(HOLDER, to, id);
        vm.assertEq(token.ownerOf(id), HOLDER, "not moved");

        vm.prank(FREEZER);
        token.freeze(id, reason); // freezing again changes nothing
        vm.prank(ADMIN);
        token.unfreeze(id);
        vm.assertFalse(token.isFrozen(id), "unfrozen");
        vm.prank(HOLDER);
        token.transferFrom(HOLDER, to, id);
        vm.assertEq(token.ownerOf(id), to, "moves again");
    }

    function testFuzz_freezeRefusesACallerWithoutTheFreezerRole(address caller, bytes32 reason) public {
        vm.assume(caller != FREEZER);
        uint256 id = _mint(ITEM, HOLDER);
        vm.expectRevert(_unauthorized(caller, token.FREEZER_ROLE()));
        vm.prank(caller);
        token.freeze(id, reason);
        vm.assertFalse(token.isFrozen(id), "not frozen");
    }

    function testFuzz_freezeRefusesAnUnknownToken(uint256 id, bytes32 reason) public {
        vm.expectRevert(abi.encodeWithSelector(IAssetToken.AssetTokenUnknownToken.selector, id));
        vm.prank(FREEZER);
        token.freeze(id, reason);
    }

    function testFuzz_unfreezeRefusesANonAdmin(address caller) public {
        vm.assume(caller != ADMIN);
        uint256 id = _mint(ITEM, HOLDER);
        vm.prank(FREEZER);
        token.freeze(id, "breach");
        vm.expectRevert(_unauthorized(caller, token.DEFAULT_ADMIN_ROLE()));
        vm.prank(caller);
        token.unfreeze(id);
        vm.assertTrue(token.isFrozen(id), "still frozen");
    }

    function testFuzz_unfreezeRefusesATokenNotFrozen(uint256 id) public {
        vm.expectRevert(abi.encodeWithSelector(IAssetToken.AssetTokenNotFrozen.selector, id));
        vm.prank(ADMIN);
        token.unfreeze(id);
    }

    function testFuzz_aRecalledItemsTokenIsFrozenForGood(address to, string calldata reason) public {
        _assumeHolder(to);
        uint256 id = _mint(ITEM, HOLDER);
        vm.prank(ADMIN);
        chain.recallItem(ITEM, reason);
        vm.assertTrue(token.isFrozen(id), "frozen by the recall");
        vm.expectRevert(abi.encodeWithSelector(IAssetToken.AssetTokenNotFrozen.selector, id));
        vm.prank(ADMIN);
        token.unfreeze(id);
        vm.expectRevert(abi.encodeWithSelector(IAssetToken.AssetTokenFrozen.selector, id));
        vm.prank(HOLDER);
        token.transferFrom(HOLDER, to, id);
        vm.assertEq(token.ownerOf(id), HOLDER, "not moved");
    }

    function testFuzz_anOutOfComplianceItemsTokenCannotMove(address to) public {
        _assumeHolder(to);
        uint256 id = _mint(ITEM, HOLDER);
        _setCondition(ITEM, ISupplyChain.Condition.OutOfCompliance);
        vm.assertFalse(token.isTransferable(id), "not transferable");
        vm.assertFalse(token.isFrozen(id), "not frozen either");
        vm.expectRevert(abi.encodeWithSelector(IAssetToken.AssetTokenItemOutOfCompliance.selector, id));
        vm.prank(HOLDER);
        token.transferFrom(HOLDER, to, id);
        _setCondition(ITEM, ISupplyChain.Condition.Compliant);
        vm.prank(HOLDER);
        token.transferFrom(HOLDER, to, id);
        vm.assertEq(token.ownerOf(id), to, "moves once compliant again");
    }

    function testFuzz_existsIsFalseForAnUnmintedId(uint256 id) public view {
        vm.assertFalse(token.exists(id), "exists");
        vm.assertFalse(token.isFrozen(id), "isFrozen");
    }

    function testFuzz_supportsInterfaceNamesERC721AccessControlAndERC4906(bytes4 other) public view {
        vm.assume(other != 0x80ac58cd && other != 0x5b5e139f && other != 0x7965db0b && other != 0x49064906);
        vm.assume(other != 0x01ffc9a7);
        vm.assertTrue(token.supportsInterface(0x80ac58cd), "ERC721");
        vm.assertTrue(token.supportsInterface(0x5b5e139f), "ERC721Metadata");
        vm.assertTrue(token.supportsInterface(0x7965db0b), "IAccessControl");
        vm.assertTrue(token.supportsInterface(0x49064906), "ERC4906");
        vm.assertFalse(token.supportsInterface(other), "another interface");
    }
}

/// @notice Drives tokens at random: transfers, approvals, freezes, unfreezes, recalls, conditions.
contract TokenHandler is Base {
    AssetToken public immutable token;
    SupplyChain public immutable chain;
    address internal constant FREEZER = address(0xF2);
    address[4] internal holders = [address(0x401), address(0x402), address(0x403), address(0x404)];
    bytes32[3] public items = [keccak256("item-1"), keccak256("item-2"), keccak256("item-3")];

    mapping(uint256 tokenId => address) public ownerWhenFrozen;
    mapping(uint256 tokenId => bool) public trackedFrozen;
    uint256 public movesWhileBlocked;

    constructor(AssetToken token_, SupplyChain chain_) {
        token = token_;
        chain = chain_;
    }

    function _id(uint256 seed) internal view returns (uint256) {
        return uint256(items[seed % 3]);
    }

    function _track(uint256 id) internal {
        bool frozen = token.isFrozen(id);
        if (frozen && !trackedFrozen[id]) ownerWhenFrozen[id] = token.ownerOf(id);
        trackedFrozen[id] = frozen;
    }

    function transfer(uint256 tokenSeed, uint256 toSeed, bool viaOperator) external {
        uint256 id = _id(tokenSeed);
        address from = token.ownerOf(id);
        address to = holders[toSeed % 4];
        bool blocked = !token.isTransferable(id);
        if (viaOperator) {
            address operator = holders[(toSeed + 1) % 4];
            vm.prank(from);
            token.setApprovalForAll(operator, true);
            vm.prank(operator);
        } else {
            vm.prank(from);
        }
        try token.transferFrom(from, to, id) {
            if (blocked) ++movesWhileBlocked;
        } catch {}
        _track(id);
    }

    function freeze(uint256 tokenSeed, bytes32 reason) external {
        uint256 id = _id(tokenSeed);
        vm.prank(FREEZER);
        token.freeze(id, reason);
        _track(id);
    }

    function unfreezeAsAdmin(uint256 tokenSeed) external {
        uint256 id = _id(tokenSeed);
        vm.prank(ADMIN);
        try token.unfreeze(id) {} catch {}
        _track(id);
    }

    function unfreezeAsHolder(uint256 tokenSeed) external {
        uint256 id = _id(tokenSeed);
        vm.prank(token.ownerOf(id));
        try token.unfreeze(id) {
            revert("a holder lifted a freeze");
        } catch {}
    }

    function recall(uint256 tokenSeed) external {
        uint256 id = _id(tokenSeed);
        vm.prank(ADMIN);
        try chain.recallItem(bytes32(id), "recall") {} catch {}
        _track(id);
    }

    /// @dev As the bound oracle, the only account that sets conditions.
    function setCondition(uint256 tokenSeed, bool compliant) external {
        uint256 id = _id(tokenSeed);
        ISupplyChain.Condition condition = compliant ? ISupplyChain.Condition.Compliant : ISupplyChain.Condition.OutOfCompliance;
        vm.prank(chain.oracle());
        try chain.setCondition(bytes32(id), condition, bytes32(0), bytes32(0)) {} catch {}
        _track(id);
    }
}

/// @notice Invariant: a frozen token never moves (nor one whose item is out of compliance).
contract AssetTokenInvariantTest is Deployment {
    TokenHandler internal handler;

    function setUp() public {
        _deployCore();
        handler = new TokenHandler(token, chain);
        bytes32 freezer = token.FREEZER_ROLE();
        vm.prank(ADMIN);
        token.grantRole(freezer, address(0xF2));
        for (uint256 i = 0; i < 3; ++i) {
            bytes32 itemId = handler.items(i);
            _registerItem(itemId, address(0x401));
            vm.prank(ADMIN);
            token.mint(address(uint160(0x401 + i)), itemId, "");
        }
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_aFrozenTokenNeverMoves() public view {
        vm.assertEq(handler.movesWhileBlocked(), 0, "a blocked token moved");
        for (uint256 i = 0; i < 3; ++i) {
            uint256 id = uint256(handler.items(i));
            if (token.isFrozen(id)) {
                vm.assertEq(token.ownerOf(id), handler.ownerWhenFrozen(id), "frozen token changed hands");
            }
        }
    }
}
