"""Minting asset tokens for items, writing their ERC-721 metadata to the content store, and
reading who owns them and how they changed hands."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.deploy import Deployment
from ledger_service.core.compiler import Artifact
from ledger_service.core.supply_chain import SupplyChainContract
from ledger_service.services.content import ContentStore

URI_SCHEME = "ipfs://"


@dataclass(frozen=True)
class Token:
    """An asset token as the chain holds it now."""

    token_id: int
    item_id: bytes
    owner: str
    uri: str
    frozen: bool
    transferable: bool


@dataclass(frozen=True)
class TokenTransfer:
    """One change of hands (a mint has `from_address` zero)."""

    token_id: int
    from_address: str
    to_address: str
    block_number: int
    transaction_hash: str


def token_id_of(item_id: bytes) -> int:
    """The token id of an item: the item id as a number."""
    return int.from_bytes(item_id, "big")


def metadata_for(
    item: Any, devices: list[bytes], supply_chain: str, chain_id: int, metadata_cid: str
) -> dict[str, Any]:
    """ERC-721 metadata JSON of an item's token: name, description and the item's provenance facts."""
    item_hex = "0x" + item.item_id.hex()
    return {
        "name": f"Asset {item_hex[:10]}…",
        "description": "A physical asset tracked in SupplyChain; its custody, checkpoints and sensor "
        "readings are anchored on chain.",
        "external_url": f"/explorer/items/{item_hex}",
        "properties": {
            "item_id": item_hex,
            "content_hash": "0x" + item.content_hash.hex(),
            "item_metadata": metadata_cid,
            "manufacturer": item.manufacturer,
            "devices": ["0x" + d.hex() for d in devices],
            "supply_chain": supply_chain,
            "chain_id": chain_id,
        },
    }


class AssetTokens:
    """AssetToken called from one account, with a content store for the metadata."""

    def __init__(
        self,
        client: ChainClient,
        deployment: Deployment,
        artifacts: dict[str, Artifact],
        content: ContentStore,
    ) -> None:
        self.client = client
        self.deployment = deployment
        self.content = content
        client.errors.register(artifacts["AssetToken"].abi)
        self.contract: Contract = client.w3.eth.contract(
            address=to_checksum_address(deployment.address_of("AssetToken")), abi=artifacts["AssetToken"].abi
        )
        self.supply_chain = SupplyChainContract(client, deployment, artifacts)

    def mint(self, item_id: bytes, owner: str, item_metadata_cid: str = "") -> tuple[int, str]:
        """Writes the item's token metadata to the content store and mints the token to `owner`;
        returns (token id, metadata URI)."""
        item = self.supply_chain.get_item(item_id)
        metadata = metadata_for(
            item,
            self.supply_chain.devices_of(item_id),
            self.supply_chain.contract.address,
            self.deployment.chain_id,
            item_metadata_cid,
        )
        cid = self.content.put(json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode())
        uri = URI_SCHEME + cid
        self.client.transact(self.contract.functions.mint(to_checksum_address(owner), item_id, uri))
        return token_id_of(item_id), uri

    def transfer(self, token_id: int, to: str) -> None:
        """Transfers a token the caller owns."""
        self.client.transact(
            self.contract.functions.safeTransferFrom(self.client.operator.address, to_checksum_address(to), token_id)
        )

    def token(self, token_id: int) -> Token:
        """The token now (raises the contract's `ERC721NonexistentToken` when there is none)."""
        functions = self.contract.functions
        return Token(
            token_id=token_id,
            item_id=token_id.to_bytes(32, "big"),
            owner=str(functions.ownerOf(token_id).call()),
            uri=str(functions.tokenURI(token_id).call()),
            frozen=bool(functions.isFrozen(token_id).call()),
            transferable=bool(functions.isTransferable(token_id).call()),
        )

    def metadata(self, token_id: int) -> dict[str, Any]:
        """The token's metadata JSON, from the content store."""
        uri = self.token(token_id).uri
        if not uri.startswith(URI_SCHEME):
            raise ValueError(f"token {token_id} has metadata outside the content store: {uri}")
        data: dict[str, Any] = json.loads(self.content.get(uri[len(URI_SCHEME) :]))
        return data

    def history(self, token_id: int) -> list[TokenTransfer]:
        """Every change of hands of the token, oldest first, from the chain's Transfer events."""
        start = self.deployment.contracts["AssetToken"].block_number
        logs = self.contract.events.Transfer().get_logs(from_block=start, argument_filters={"tokenId": token_id})
        return [
            TokenTransfer(
                token_id=token_id,
                from_address=str(entry["args"]["from"]),
                to_address=str(entry["args"]["to"]),
                block_number=int(entry["blockNumber"]),
                transaction_hash=HexBytes(entry["transactionHash"]).to_0x_hex(),
            )
            for entry in logs
        ]
