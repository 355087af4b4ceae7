"""Parties: on-chain accounts the service holds keys for, so that an API key can act as a
custodian (a carrier, a warehouse) rather than as the operator.

Each party's key lives in the data directory (`parties/NAME.key`, mode 0600), made on first use;
on a dev chain the account is funded from the node's first unlocked account.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger_service.chain.client import ChainClient
from ledger_service.errors import ConfigurationError

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def check_party_name(name: str) -> str:
    """`name` if it is a valid party name (lowercase letters, digits, dashes; up to 63)."""
    if not _NAME.match(name):
        raise ConfigurationError(f"party name {name!r}: use lowercase letters, digits and dashes (up to 63)")
    return name


def party_account(data_dir: Path, name: str) -> LocalAccount:
    """The party's account, its key made and kept in the data directory on first use."""
    path = data_dir / "parties" / f"{check_party_name(name)}.key"
    if path.exists():
        account: LocalAccount = Account.from_key(path.read_text().strip())
        return account
    path.parent.mkdir(parents=True, exist_ok=True)
    created: LocalAccount = Account.create()
    draft = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(created.key.hex())
    try:
        os.link(draft, path)  # appears complete or not at all; the first writer wins
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    kept: LocalAccount = Account.from_key(path.read_text().strip())
    return kept


class Parties:
    """Chain clients of the parties, one per name, made on first use and funded on dev chains."""

    def __init__(self, data_dir: Path, rpc_url: str, operator: ChainClient) -> None:
        self.data_dir = data_dir
        self.rpc_url = rpc_url
        self.operator = operator
        self._clients: dict[str, ChainClient] = {}
        self._lock = threading.Lock()

    def client(self, name: str | None) -> ChainClient:
        """The client acting as party `name`, or the operator's for None."""
        if name is None:
            return self.operator
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = ChainClient(self.rpc_url, party_account(self.data_dir, name))
                client.errors = self.operator.errors
                client.ensure_funded()
                self._clients[name] = client
            return client

    def address(self, name: str) -> str:
        """The party's address (made on first use)."""
        return str(party_account(self.data_dir, name).address)
