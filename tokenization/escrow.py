"""ShipmentEscrow from Python: the designated buyer's deposit for an item, protected by the item's
rules and settled from the item's fate."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address
from web3.contract import Contract
from web3.types import TxReceipt

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.deploy import Deployment
from ledger_service.core.compiler import Artifact
from ledger_service.core.enums import Outcome

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class Escrow:
    """One item's escrow as stored."""

    buyer: str
    deadline: int
    outcome: Outcome
    seller: str
    amount: int


class ShipmentEscrowContract:
    """ShipmentEscrow called from one account."""

    def __init__(self, client: ChainClient, deployment: Deployment, artifacts: dict[str, Artifact]) -> None:
        self.client = client
        abi = artifacts["ShipmentEscrow"].abi
        client.errors.register(abi)
        self.contract: Contract = client.w3.eth.contract(
            address=to_checksum_address(deployment.address_of("ShipmentEscrow")), abi=abi
        )

    def as_account(self, client: ChainClient) -> ShipmentEscrowContract:
        """The same contract called from another account."""
        other = ShipmentEscrowContract.__new__(ShipmentEscrowContract)
        other.client = client
        client.errors.register(self.contract.abi)  # type: ignore[arg-type]
        other.contract = client.w3.eth.contract(address=self.contract.address, abi=self.contract.abi)
        return other

    def designate_buyer(self, item_id: bytes, buyer: str) -> TxReceipt:
        """As the item's manufacturer, names the one account that may open its escrow."""
        return self.client.transact(self.contract.functions.designateBuyer(item_id, to_checksum_address(buyer)))

    def open(self, item_id: bytes, deadline: int, amount_wei: int, rule_ids: list[int] | None = None) -> TxReceipt:
        """As the designated buyer, deposits `amount_wei` for `item_id` (payable to its
        manufacturer), protected by `rule_ids`."""
        return self.client.transact(
            self.contract.functions.open(item_id, deadline, list(rule_ids or [])), value=amount_wei
        )

    def settle(self, item_id: bytes) -> TxReceipt:
        """Settles the item's escrow from its state."""
        return self.client.transact(self.contract.functions.settle(item_id))

    def withdraw(self) -> TxReceipt:
        """Withdraws the caller's credit."""
        return self.client.transact(self.contract.functions.withdraw())

    def escrow_of(self, item_id: bytes) -> Escrow | None:
        """The item's escrow, or None."""
        buyer, deadline, outcome, seller, amount = self.contract.functions.escrowOf(item_id).call()
        if buyer == ZERO_ADDRESS:
            return None
        return Escrow(str(buyer), int(deadline), Outcome(int(outcome)), str(seller), int(amount))

    def rules_of(self, item_id: bytes) -> list[int]:
        """The rules protecting the item's escrow."""
        return [int(r) for r in self.contract.functions.rulesOf(item_id).call()]

    def credit_of(self, account: str) -> int:
        """Wei `account` may withdraw."""
        return int(self.contract.functions.creditOf(to_checksum_address(account)).call())
