// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721URIStorage} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721URIStorage.sol";
import {SupplyChain} from "./SupplyChain.sol";

/**
 * @title AssetToken
 * @notice ERC-721 tokens for physical assets tracked in {SupplyChain}: token id = uint256(item id),
 * one token per item, its URI pointing at ERC-721 metadata JSON in a content store. A token follows
 * its asset's condition: it cannot be transferred while the item is out of compliance, and once the
 * item is recalled it is frozen for good.
 */
contract AssetToken is ERC721URIStorage, AccessControl {
    /// @notice Role allowed to mint tokens for items.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice The supply chain whose items the tokens stand for.
    SupplyChain public immutable supplyChain;

    /// @notice The item does not exist in the supply chain.
    error AssetTokenUnknownItem(bytes32 itemId);
    /// @notice The item is recalled: its token is frozen.
    error AssetTokenFrozen(uint256 tokenId);
    /// @notice The item is out of compliance: its token cannot change hands now.
    error AssetTokenItemOutOfCompliance(uint256 tokenId);

    /// @notice A token was minted for an item, with its metadata URI.
    event AssetMinted(uint256 indexed tokenId, bytes32 indexed itemId, address indexed owner, string uri);

    /**
     * @param admin Account that receives the admin and minter roles.
     * @param supplyChain_ The supply chain whose items the tokens stand for.
     */
    constructor(address admin, SupplyChain supplyChain_) ERC721("Provenance Asset", "PASSET") {
        supplyChain = supplyChain_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /**
     * @notice Mints the token of item `itemId` to `to`, with metadata at `uri`.
     * @dev Requirements: MINTER_ROLE; the item exists and is not recalled; no token exists for it.
     * Emits {Transfer}, {MetadataUpdate} and {AssetMinted}.
     * @return tokenId The token's id: the item id as a number.
     */
    function mint(address to, bytes32 itemId, string calldata uri) external onlyRole(MINTER_ROLE) returns (uint256 tokenId) {
        (SupplyChain.Status status, ) = supplyChain.stateOf(itemId);
        if (status == SupplyChain.Status.None) revert AssetTokenUnknownItem(itemId);
        tokenId = uint256(itemId);
        if (status == SupplyChain.Status.Recalled) revert AssetTokenFrozen(tokenId);
        _safeMint(to, tokenId);
        _setTokenURI(tokenId, uri);
        emit AssetMinted(tokenId, itemId, to, uri);
    }

    /**
     * @notice Returns whether the token is frozen for good (its item was recalled).
     */
    function isFrozen(uint256 tokenId) external view returns (bool) {
        (SupplyChain.Status status, ) = supplyChain.stateOf(bytes32(tokenId));
        return status == SupplyChain.Status.Recalled;
    }

    /**
     * @notice Returns whether the token can change hands now.
     */
    function isTransferable(uint256 tokenId) external view returns (bool) {
        (SupplyChain.Status status, SupplyChain.Condition condition) = supplyChain.stateOf(bytes32(tokenId));
        return status != SupplyChain.Status.Recalled && condition == SupplyChain.Condition.Compliant;
    }

    /// @inheritdoc ERC721URIStorage
    function supportsInterface(bytes4 interfaceId) public view override(ERC721URIStorage, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    /// @dev Transfers (not mints) check the item: refused while out of compliance, and for good once recalled.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        from = _ownerOf(tokenId);
        if (from != address(0)) {
            (SupplyChain.Status status, SupplyChain.Condition condition) = supplyChain.stateOf(bytes32(tokenId));
            if (status == SupplyChain.Status.Recalled) revert AssetTokenFrozen(tokenId);
            if (condition == SupplyChain.Condition.OutOfCompliance) revert AssetTokenItemOutOfCompliance(tokenId);
        }
        return super._update(to, tokenId, auth);
    }
}
