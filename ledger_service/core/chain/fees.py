"""Fees of operator transactions: EIP-1559 where the chain has a base fee, legacy pricing where it
has not, never above the configured cap, and the bump a replacement needs.

A fresh EIP-1559 quote offers `2 x base fee + tip` as the max fee, so the transaction stays
includable through six blocks of base fee rising at the protocol's 12.5 % a block. A replacement
(same nonce) must raise both the max fee and the tip by at least 10 % for nodes to accept it; it
raises them by 12.5 %, or to a fresh quote if the market moved further.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from ledger_service.core.settings import Settings

GWEI = 10**9
#: A replacement's fees over the replaced one's: 12.5 % (nodes ask for at least 10 %).
BUMP = (1125, 1000)


def _bump(value: int) -> int:
    return -(-value * BUMP[0] // BUMP[1]) + 1  # rounded up, and at least one wei more


@dataclass(frozen=True)
class Fees:
    """What a transaction offers per gas: `max_fee` and `tip` (EIP-1559), or `gas_price` (legacy)."""

    max_fee: int | None = None
    tip: int | None = None
    gas_price: int | None = None

    @property
    def offered(self) -> int:
        """The most the transaction may pay per gas."""
        return int(self.max_fee if self.max_fee is not None else self.gas_price or 0)

    def params(self) -> dict[str, Any]:
        """The transaction fields for these fees."""
        if self.gas_price is not None:
            return {"gasPrice": self.gas_price}
        return {"maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": self.tip}

    def bumped(self) -> Fees:
        """These fees raised enough to replace a transaction that offers them."""
        if self.gas_price is not None:
            return Fees(gas_price=_bump(self.gas_price))
        return Fees(max_fee=_bump(int(self.max_fee or 0)), tip=_bump(int(self.tip or 0)))

    def at_least(self, other: Fees) -> Fees:
        """Each fee the higher of the two."""
        if self.gas_price is not None or other.gas_price is not None:
            return Fees(gas_price=max(self.gas_price or 0, other.gas_price or 0))
        return Fees(max_fee=max(self.max_fee or 0, other.max_fee or 0), tip=max(self.tip or 0, other.tip or 0))


@dataclass(frozen=True)
class FeePolicy:
    """How this service prices its transactions: an optional cap and an optional fixed tip (wei)."""

    cap: int | None = None
    tip: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> FeePolicy:
        """`PROVENANCE_MAX_FEE_GWEI` and `PROVENANCE_PRIORITY_FEE_GWEI`."""
        cap = None if settings.max_fee_gwei is None else int(settings.max_fee_gwei * GWEI)
        tip = None if settings.priority_fee_gwei is None else int(settings.priority_fee_gwei * GWEI)
        return cls(cap, tip)

    def quote(self, w3: Web3) -> Fees:
        """Fees for a transaction sent now."""
        base = w3.eth.get_block("pending").get("baseFeePerGas")  # the fee the next block charges
        if base is None:
            price = int(w3.eth.gas_price)
            return Fees(gas_price=price if self.cap is None else min(price, self.cap))
        tip = self.tip if self.tip is not None else int(w3.eth.max_priority_fee)
        max_fee = 2 * int(base) + tip
        if self.cap is not None:
            max_fee = min(max_fee, self.cap)
        return Fees(max_fee=max_fee, tip=min(tip, max_fee))

    def replacement(self, w3: Web3, previous: Fees) -> Fees | None:
        """Fees that replace a transaction offering `previous`: bumped, or a fresh quote when that
        is higher; None when the cap leaves no room for a replacement."""
        wanted = previous.bumped().at_least(self.quote(w3))
        if self.cap is None or wanted.offered <= self.cap:
            return wanted
        if previous.bumped().offered > self.cap:
            return None
        if wanted.gas_price is not None:
            return Fees(gas_price=self.cap)
        return Fees(max_fee=self.cap, tip=min(int(wanted.tip or 0), self.cap))


@dataclass(frozen=True)
class SendPolicy:
    """How long to wait before replacing, how transactions are priced, and when sending pauses."""

    fees: FeePolicy = field(default_factory=FeePolicy)
    replace_after: float = 30.0
    budget_wei_per_hour: int | None = None
    min_balance_wei: int = 0
    #: How long one send waits for its transaction before handing back (the outbox keeps watching).
    watch_timeout: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SendPolicy:
        """The `PROVENANCE_MAX_FEE_GWEI`, `..._PRIORITY_FEE_GWEI`, `..._TX_REPLACE_AFTER`,
        `..._GAS_BUDGET_ETH_PER_HOUR` and `..._MIN_BALANCE_ETH` settings."""
        budget = settings.gas_budget_eth_per_hour
        return cls(
            FeePolicy.from_settings(settings),
            settings.tx_replace_after,
            None if budget is None else int(budget * 10**18),
            int(settings.min_balance_eth * 10**18),
        )
