// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721URIStorage} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721URIStorage.sol";
import {ERC721Utils} from "@openzeppelin/contracts/token/ERC721/utils/ERC721Utils.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IAssetToken} from "./interfaces/IAssetToken.sol";
import {ISupplyChain} from "./interfaces/ISupplyChain.sol";

/**
 * @title AssetToken
 * @notice ERC-721 tokens for physical assets tracked in {SupplyChain}: token id = uint256(item id),
 * one token per item, its URI pointing at ERC-721 metadata JSON in a content store. A token follows
 * its asset's condition: it cannot be transferred while the item is out of compliance, and once the
 * item is recalled it is frozen for good. A freezer (the sensor oracle) may also freeze a token
 * on a breach, until an admin lifts it. Errors and events are declared in {IAssetToken}.
 */
contract AssetToken is IAssetToken, ERC721URIStorage, AccessControl {
    /// @notice Role allowed to mint tokens for items.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Role allowed to freeze tokens (the sensor oracle, on a proven breach).
    bytes32 public constant FREEZER_ROLE = keccak256("FREEZER_ROLE");

    /// @inheritdoc IAssetToken
    ISupplyChain public immutable supplyChain;

    mapping(uint256 tokenId => bool) private _frozen;

    /**
     * @param admin Account that receives the admin and minter roles.
     * @param supplyChain_ The supply chain whose items the tokens stand for.
     */
    constructor(address admin, ISupplyChain supplyChain_) ERC721("Provenance Asset", "PASSET") {
        supplyChain = supplyChain_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @inheritdoc IAssetToken
    function mint(address to, bytes32 itemId, string calldata uri) external onlyRole(MINTER_ROLE) returns (uint256 tokenId) {
        (ISupplyChain.Status status, ) = supplyChain.stateOf(itemId);
        if (status == ISupplyChain.Status.None) revert AssetTokenUnknownItem(itemId);
        tokenId = uint256(itemId);
        if (status == ISupplyChain.Status.Recalled) revert AssetTokenFrozen(tokenId);
        _mint(to, tokenId);
        _setTokenURI(tokenId, uri);
        emit AssetMinted(tokenId, itemId, to, uri);
        ERC721Utils.checkOnERC721Received(_msgSender(), address(0), to, tokenId, "");
    }

    /// @inheritdoc IAssetToken
    function freeze(uint256 tokenId, bytes32 reason) external onlyRole(FREEZER_ROLE) {
        if (_ownerOf(tokenId) == address(0)) revert AssetTokenUnknownToken(tokenId);
        if (_frozen[tokenId]) return;
        _frozen[tokenId] = true;
        emit TokenFrozen(tokenId, _msgSender(), reason);
    }

    /// @inheritdoc IAssetToken
    function unfreeze(uint256 tokenId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_frozen[tokenId]) revert AssetTokenNotFrozen(tokenId);
        _frozen[tokenId] = false;
        emit TokenUnfrozen(tokenId, _msgSender());
    }

    /// @inheritdoc IAssetToken
    function exists(uint256 tokenId) external view returns (bool) {
        return _ownerOf(tokenId) != address(0);
    }

    /// @inheritdoc IAssetToken
    function isFrozen(uint256 tokenId) public view returns (bool) {
        if (_frozen[tokenId]) return true;
        (ISupplyChain.Status status, ) = supplyChain.stateOf(bytes32(tokenId));
        return status == ISupplyChain.Status.Recalled;
    }

    /// @inheritdoc IAssetToken
    function isTransferable(uint256 tokenId) external view returns (bool) {
        (ISupplyChain.Status status, ISupplyChain.Condition condition) = supplyChain.stateOf(bytes32(tokenId));
        return !_frozen[tokenId] && status != ISupplyChain.Status.Recalled && condition == ISupplyChain.Condition.Compliant;
    }

    /// @inheritdoc ERC721URIStorage
    function supportsInterface(bytes4 interfaceId) public view override(IERC165, ERC721URIStorage, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    /// @dev Transfers (not mints) check the item: refused while out of compliance, and for good once recalled.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        from = _ownerOf(tokenId);
        if (from != address(0)) {
            (ISupplyChain.Status status, ISupplyChain.Condition condition) = supplyChain.stateOf(bytes32(tokenId));
            if (status == ISupplyChain.Status.Recalled || _frozen[tokenId]) revert AssetTokenFrozen(tokenId);
            if (condition == ISupplyChain.Condition.OutOfCompliance) revert AssetTokenItemOutOfCompliance(tokenId);
        }
        return super._update(to, tokenId, auth);
    }
}
