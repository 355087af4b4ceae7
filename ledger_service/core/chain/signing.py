"""What signs the service's transactions: a key in this process (`eth_account`'s `LocalAccount`)
or a remote signer (`ledger_service.core.chain.remote_signer.RemoteSigner`)."""

from __future__ import annotations

from typing import Any, Protocol


class Signed(Protocol):
    """A signed transaction."""

    @property
    def raw_transaction(self) -> Any: ...

    @property
    def hash(self) -> Any: ...


class Signer(Protocol):
    """What signs a sender's transactions: a key in this process (`LocalAccount`) or a remote
    signer (`ledger_service.core.chain.remote_signer.RemoteSigner`)."""

    @property
    def address(self) -> Any: ...

    def sign_transaction(self, transaction_dict: dict[str, Any]) -> Signed: ...
