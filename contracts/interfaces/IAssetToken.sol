// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {ISupplyChain} from "./ISupplyChain.sol";

/**
 * @title IAssetToken
 * @notice The errors, events and functions of {AssetToken}, beyond ERC-721's: one token per
 * physical item of the supply chain (token id = uint256(item id)), which cannot change hands while
 * its item is out of compliance, is frozen for good once the item is recalled, and may be frozen
 * by a freezer (the sensor oracle) on a breach.
 */
interface IAssetToken is IERC721 {
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

    /// @notice The supply chain whose items the tokens stand for.
    function supplyChain() external view returns (ISupplyChain);

    /**
     * @notice Mints the token of item `itemId` to `to`, with metadata at `uri`.
     * @dev Requirements: MINTER_ROLE; the item exists and is not recalled; no token exists for it;
     * a contract receiver accepts ERC-721 tokens. Emits {Transfer}, {MetadataUpdate} and
     * {AssetMinted}. The receiver is asked last, once the token, its URI and the events are in
     * place (what `_safeMint` does, with the acceptance check after the URI instead of before).
     * @return tokenId The token's id: the item id as a number.
     */
    function mint(address to, bytes32 itemId, string calldata uri) external returns (uint256 tokenId);

    /**
     * @notice Freezes the token for `reason` (a report id): it cannot change hands until an admin
     * unfreezes it. Freezing a frozen token changes nothing.
     * @dev Requirements: FREEZER_ROLE; the token exists. Emits {TokenFrozen} when it was not frozen.
     */
    function freeze(uint256 tokenId, bytes32 reason) external;

    /**
     * @notice Lifts a freeze (a recalled item's token stays frozen).
     * @dev Requirements: DEFAULT_ADMIN_ROLE; the token is frozen by a freezer. Emits {TokenUnfrozen}.
     */
    function unfreeze(uint256 tokenId) external;

    /// @notice Returns whether a token exists with id `tokenId`.
    function exists(uint256 tokenId) external view returns (bool);

    /**
     * @notice Returns whether the token is frozen: by a freezer, or for good (its item was recalled).
     */
    function isFrozen(uint256 tokenId) external view returns (bool);

    /**
     * @notice Returns whether the token can change hands now.
     */
    function isTransferable(uint256 tokenId) external view returns (bool);
}
