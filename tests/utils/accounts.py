"""Accounts on the session's chain."""

from __future__ import annotations

from eth_account import Account

from ledger_service.core.chain.client import ChainClient


def outsider(client: ChainClient) -> ChainClient:
    """A client whose operator holds no role, funded by the node."""
    stranger = ChainClient(client.rpc_url, Account.create())
    stranger.errors = client.errors
    stranger.ensure_funded()
    return stranger
