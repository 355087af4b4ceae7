"""The transaction manager: how one sender's transactions reach the chain.

- Fees by `FeePolicy`: EIP-1559 with a cap and a tip, legacy pricing where the chain has no base
  fee.
- Each transaction goes to the outbox (`outbox_tx`) before it is first sent, and every new version
  of it too; on the next send (after a restart, say) the sender first watches what the outbox still
  holds as pending, so nothing is sent twice and nothing is left behind.
- A transaction not mined `replace_after` seconds after its last version was sent is sent again
  with the same nonce and higher fees (`FeePolicy.replacement`); a transaction the node dropped is
  recovered the same way. When the cap leaves no room, the last version is broadcast again and
  waited for.
- Sending pauses (`SendingPaused`, which the loops retry) while the fees of the last hour reach the
  gas budget or the sender's balance is under the minimum.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import TxParams, TxReceipt

from ledger_service.core.chain.fees import GWEI, Fees, SendPolicy
from ledger_service.core.chain.outbox import Outbox, fees_of
from ledger_service.core.chain.signing import Signer
from ledger_service.core.errors import ChainError, SendingPaused
from ledger_service.core.models import OutboxTx

log = logging.getLogger(__name__)

_FEE_FIELDS = ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "type")


@dataclass
class InFlight:
    """A transaction being watched: its fields, the fees and raw bytes of its latest version, and
    the hashes of all its versions."""

    request: dict[str, Any]
    fees: Fees
    raw: bytes
    hashes: list[str]
    sent_at: float
    row: OutboxTx | None = None

    @property
    def nonce(self) -> int:
        return int(self.request["nonce"])


def _priced_out(exc: Exception) -> bool:
    """Whether a node refused a transaction for offering too little (under the base fee, or too
    little over the version it would replace)."""
    text = str(exc).lower()
    return "underpriced" in text or "base fee" in text or "fee too low" in text


def _json_ready(tx: TxParams) -> dict[str, Any]:
    ready: dict[str, Any] = {}
    for key, value in dict(tx).items():
        if key in _FEE_FIELDS or (key == "to" and not value):  # a contract creation has no `to`
            continue
        ready[key] = HexBytes(value).to_0x_hex() if isinstance(value, bytes | bytearray) else value
    return ready


class TxManager:
    """Sends one account's transactions by the policy above. Not thread-safe on its own: the
    chain client calls it under its lock."""

    def __init__(self, w3: Web3, account: Signer, policy: SendPolicy | None = None) -> None:
        self.w3 = w3
        self.account = account
        self.policy = policy or SendPolicy()
        self.outbox: Outbox | None = None
        self.replacements = 0
        self._nonce: int | None = None
        self._chain_id: int | None = None

    def chain_id(self) -> int:
        """The chain's id, asked of the node once (not once per transaction)."""
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def reset_nonce(self) -> None:
        """Forgets the cached nonce: the next transaction asks the node."""
        self._nonce = None

    def send(self, tx: TxParams, purpose: str) -> TxReceipt:
        """Sends `tx` (fees and nonce are set here) and returns its receipt once mined."""
        self.resume()
        self._check_paused()
        for attempt in (1, 2):
            if self._nonce is None:
                self._nonce = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
            request = {**_json_ready(tx), "nonce": self._nonce}
            fees = self.policy.fees.quote(self.w3)
            raw, tx_hash = self._sign(request, fees)
            row = self.outbox.record(request, purpose, tx_hash, raw, fees) if self.outbox is not None else None
            flight = InFlight(request, fees, raw, [tx_hash], time.time(), row)
            try:
                self._broadcast(raw)
            except ChainError as exc:
                if _priced_out(exc):  # the base fee rose past the quote: the watch sends it again, priced anew
                    log.warning("transaction refused for its fees", extra={"tx": tx_hash, "error": str(exc)})
                    flight.sent_at = 0.0
                    self._nonce = flight.nonce + 1
                    return self._watch(flight)
                self._nonce = None
                if row is not None and self.outbox is not None:
                    self.outbox.dropped(row)
                if attempt == 1 and "nonce" in str(exc).lower():
                    continue  # another process used this key meanwhile: a fresh nonce from the node
                raise
            self._nonce = flight.nonce + 1
            return self._watch(flight)
        raise AssertionError("unreachable")

    def resume(self) -> None:
        """Watches the transactions the outbox holds as pending for this sender (sent by an earlier
        run of this process, or by one that crashed) until each is mined or dropped."""
        if self.outbox is None:
            return
        pending = self.outbox.pending(self.chain_id(), self.account.address)
        for row in pending:
            flight = InFlight(
                json.loads(row.request), fees_of(row), HexBytes(row.raw), json.loads(row.hashes), row.sent_at, row
            )
            log.info("watching a transaction sent before", extra={"tx": row.tx_hash, "nonce": row.nonce})
            try:
                self._broadcast(flight.raw)  # it may never have left before the crash
            except ChainError:
                pass  # known already, or its nonce is used: the watch tells which
            try:
                self._watch(flight)
            except ChainError as exc:
                log.warning("a transaction sent before did not complete", extra={"tx": row.tx_hash, "error": str(exc)})
        if pending:
            self._nonce = None

    def cancel(self, nonce: int) -> TxReceipt:
        """Takes `nonce` back from a transaction that is not mined: sends a transfer of nothing to
        this account with the same nonce and fees above the pending version's (or a fresh quote's),
        and returns the receipt of whichever version is mined; the outbox row records the outcome."""
        if int(self.w3.eth.get_transaction_count(self.account.address, "latest")) > nonce:
            raise ChainError(f"nonce {nonce} of {self.account.address} is mined already: nothing to cancel")
        pending = [] if self.outbox is None else self.outbox.pending(self.chain_id(), self.account.address)
        row = next((r for r in pending if r.nonce == nonce), None)
        previous = fees_of(row) if row is not None else self.policy.fees.quote(self.w3)
        fees = previous.bumped().at_least(self.policy.fees.quote(self.w3))
        request = {
            "from": self.account.address, "to": self.account.address, "value": 0, "data": "0x", "gas": 21_000,
            "chainId": self.chain_id(), "nonce": nonce,
        }  # fmt: skip
        raw, tx_hash = self._sign(request, fees)
        hashes = [*json.loads(row.hashes), tx_hash] if row is not None else [tx_hash]
        if row is not None and self.outbox is not None:
            row = self.outbox.replaced(row, tx_hash, raw, fees)
        self._broadcast(raw)
        log.warning("cancelling a transaction", extra={"nonce": nonce, "tx": tx_hash})
        self._nonce = None
        flight = InFlight(request, fees, raw, hashes, time.time(), row)
        receipt = self._watch(flight)
        if (
            flight.row is not None
            and self.outbox is not None
            and HexBytes(receipt["transactionHash"]) == HexBytes(tx_hash)
        ):
            self.outbox.cancelled(flight.row)
        return receipt

    def _sign(self, request: dict[str, Any], fees: Fees) -> tuple[bytes, str]:
        signed = self.account.sign_transaction({**request, **fees.params()})
        return bytes(signed.raw_transaction), HexBytes(signed.hash).to_0x_hex()

    def _broadcast(self, raw: bytes) -> None:
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Web3RPCError as exc:
            raise ChainError(f"sending the transaction failed: {exc}") from exc

    def _receipt(self, hashes: list[str]) -> TxReceipt | None:
        for tx_hash in reversed(hashes):
            try:
                return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                continue
        return None

    def _watch(self, flight: InFlight) -> TxReceipt:
        deadline = time.monotonic() + self.policy.watch_timeout
        pause = 0.0
        while True:
            receipt = self._receipt(flight.hashes)
            if receipt is not None:
                if flight.row is not None and self.outbox is not None:
                    self.outbox.mined(flight.row, receipt)
                return receipt
            if time.monotonic() > deadline:
                raise ChainError(
                    f"transaction {flight.hashes[-1]} not mined in {self.policy.watch_timeout:.0f}s; "
                    "the outbox keeps watching it"
                )
            if time.time() - flight.sent_at >= self.policy.replace_after:
                self._replace(flight)
            if pause:  # the first look again comes at once: on an automining node the receipt is there
                time.sleep(pause)
            pause = min(max(pause * 2, 0.05), 1.0)

    def _replace(self, flight: InFlight) -> None:
        mined_nonces = int(self.w3.eth.get_transaction_count(self.account.address, "latest"))
        if mined_nonces > flight.nonce and self._receipt(flight.hashes) is None:
            if flight.row is not None and self.outbox is not None:
                self.outbox.dropped(flight.row)
            self._nonce = None
            raise ChainError(f"nonce {flight.nonce} was used by a transaction this service did not send")
        fees = self.policy.fees.replacement(self.w3, flight.fees)
        flight.sent_at = time.time()
        if fees is None:
            log.warning(
                "fee cap reached: waiting for the transaction as it is",
                extra={"tx": flight.hashes[-1], "offered_gwei": flight.fees.offered / GWEI},
            )
            try:
                self._broadcast(flight.raw)
            except ChainError:
                pass
            return
        raw, tx_hash = self._sign(flight.request, fees)
        try:
            self._broadcast(raw)
        except ChainError as exc:
            if _priced_out(exc):
                flight.fees = fees  # the next bump starts from here
            log.warning("replacement not accepted", extra={"tx": tx_hash, "error": str(exc)})
            return
        log.info(
            "replaced a transaction not mined in time",
            extra={
                "old": flight.hashes[-1],
                "new": tx_hash,
                "nonce": flight.nonce,
                "offered_gwei": fees.offered / GWEI,
            },
        )
        flight.hashes.append(tx_hash)
        flight.fees, flight.raw = fees, raw
        self.replacements += 1
        if flight.row is not None and self.outbox is not None:
            flight.row = self.outbox.replaced(flight.row, tx_hash, raw, fees)

    def _check_paused(self) -> None:
        policy = self.policy
        if policy.budget_wei_per_hour is not None and self.outbox is not None:
            spent = self.outbox.spent_since(time.time() - 3600)
            if spent >= policy.budget_wei_per_hour:
                raise SendingPaused(
                    f"the hour's gas budget is spent: {spent / 1e18:.6f} of {policy.budget_wei_per_hour / 1e18:.6f} ETH"
                )
        if policy.min_balance_wei:
            balance = int(self.w3.eth.get_balance(self.account.address))
            if balance < policy.min_balance_wei:
                raise SendingPaused(
                    f"{self.account.address} holds {balance / 1e18:.6f} ETH, under the minimum of "
                    f"{policy.min_balance_wei / 1e18:.6f}: sending is paused until it is funded"
                )
