// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721URIStorage} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721URIStorage.sol";
import {ERC721Utils} from "@openzeppelin/contracts/token/ERC721/utils/ERC721Utils.sol";
import {SupplyChain} from "./SupplyChain.sol";

/**
 * @title AssetToken
 * @notice ERC-721 tokens for physical assets tracked in {SupplyChain}: token id = uint256(item id),
 * one token per item, its URI pointing at ERC-721 metadata JSON in a content store. A token follows
 * its asset's condition: it cannot be transferred while the item is out of compliance, and once the
 * item is recalled it is frozen for good. A freezer (the sensor oracle) may also freeze a token
 * on a breach, until an admin lifts it.
 */
contract AssetToken is ERC721URIStorage, AccessControl {
    /// @notice Role allowed to mint tokens for items.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Role allowed to freeze tokens (the sensor oracle, on a proven breach).
    bytes32 public constant FREEZER_ROLE = keccak256("FREEZER_ROLE");

    /// @notice The supply chain whose items the tokens stand for.
    SupplyChain public immutable supplyChain;

    mapping(uint256 tokenId => bool) private _frozen;

    /// @notice The item does not exist in the supply chain.
    error AssetTokenUnknownItem(bytes32 itemId);
    /// @notice The item is recalled: its token is frozen.
    error AssetTokenFrozen(uint256 tokenId);
    /// @notice The item is out of compliance: its token cannot change hands now.
    error AssetTokenItemOutOfCompliance(uint256 tokenId);

    /// @notice The token does not exist.
    error AssetTokenUnknownToken(uint256 tokenId);
    /// @notice The token is not frozen by a freezer.
    error AssetTokenNotFrozen(uint256 tokenId);

    /// @notice `actor` froze the token for `reason` (a report id).
    event TokenFrozen(uint256 indexed tokenId, address indexed actor, bytes32 reason);
    /// @notice `actor` lifted a freeze.
    event TokenUnfrozen(uint256 indexed tokenId, address indexed actor);
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
     * @dev Requirements: MINTER_ROLE; the item exists and is not recalled; no token exists for it;
     * a contract receiver accepts ERC-721 tokens. Emits {Transfer}, {MetadataUpdate} and
     * {AssetMinted}. The receiver is asked last, once the token, its URI and the events are in
     * place (what `_safeMint` does, with the acceptance check after the URI instead of before).
     * @return tokenId The token's id: the item id as a number.
     */
    function mint(address to, bytes32 itemId, string calldata uri) external onlyRole(MINTER_ROLE) returns (uint256 tokenId) {
        (SupplyChain.Status status, ) = supplyChain.stateOf(itemId);
        if (status == SupplyChain.Status.None) revert AssetTokenUnknownItem(itemId);
        tokenId = uint256(itemId);
        if (status == SupplyChain.Status.Recalled) revert AssetTokenFrozen(tokenId);
        _mint(to, tokenId);
        _setTokenURI(tokenId, uri);
        emit AssetMinted(tokenId, itemId, to, uri);
        ERC721Utils.checkOnERC721Received(_msgSender(), address(0), to, tokenId, "");
    }

    /**
     * @notice Freezes the token for `reason` (a report id): it cannot change hands until an admin
     * unfreezes it. Freezing a frozen token changes nothing.
     * @dev Requirements: FREEZER_ROLE; the token exists. Emits {TokenFrozen} when it was not frozen.
     */
    function freeze(uint256 tokenId, bytes32 reason) external onlyRole(FREEZER_ROLE) {
        if (_ownerOf(tokenId) == address(0)) revert AssetTokenUnknownToken(tokenId);
        if (_frozen[tokenId]) return;
        _frozen[tokenId] = true;
        emit TokenFrozen(tokenId, _msgSender(), reason);
    }

    /**
     * @notice Lifts a freeze (a recalled item's token stays frozen).
     * @dev Requirements: DEFAULT_ADMIN_ROLE; the token is frozen by a freezer. Emits {TokenUnfrozen}.
     */
    function unfreeze(uint256 tokenId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_frozen[tokenId]) revert AssetTokenNotFrozen(tokenId);
        _frozen[tokenId] = false;
        emit TokenUnfrozen(tokenId, _msgSender());
    }

    /// @notice Returns whether a token exists with id `tokenId`.
    function exists(uint256 tokenId) external view returns (bool) {
        return _ownerOf(tokenId) != address(0);
    }

    /**
     * @notice Returns whether the token is frozen: by a freezer, or for good (its item was recalled).
     */
    function isFrozen(uint256 tokenId) public view returns (bool) {
        if (_frozen[tokenId]) return true;
        (SupplyChain.Status status, ) = supplyChain.stateOf(bytes32(tokenId));
        return status == SupplyChain.Status.Recalled;
    }

    /**
     * @notice Returns whether the token can change hands now.
     */
    function isTransferable(uint256 tokenId) external view returns (bool) {
        (SupplyChain.Status status, SupplyChain.Condition condition) = supplyChain.stateOf(bytes32(tokenId));
        return !_frozen[tokenId] && status != SupplyChain.Status.Recalled && condition == SupplyChain.Condition.Compliant;
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
            if (status == SupplyChain.Status.Recalled || _frozen[tokenId]) revert AssetTokenFrozen(tokenId);
            if (condition == SupplyChain.Condition.OutOfCompliance) revert AssetTokenItemOutOfCompliance(tokenId);
        }
        return super._update(to, tokenId, auth);
    }
}
