"""The outbox: every operator transaction in the database, written before it is first sent and
kept up to date until it is mined, so that a restarted process watches (and if need be replaces)
what it sent instead of sending it again, and so that fees spent are known for the gas budget and
for `/metrics`."""

from __future__ import annotations

import json
import time
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from web3.types import TxReceipt

from ledger_service.core.chain.fees import Fees
from ledger_service.core.models import OutboxTx

PENDING, MINED, REVERTED, DROPPED, CANCELLED = "pending", "mined", "reverted", "dropped", "cancelled"


def fees_of(row: OutboxTx) -> Fees:
    """The fees the row's latest version offers."""
    if row.gas_price is not None:
        return Fees(gas_price=int(row.gas_price))
    return Fees(max_fee=int(row.max_fee_per_gas or 0), tip=int(row.max_priority_fee_per_gas or 0))


class Outbox:
    """The `outbox_tx` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, request: dict[str, Any], purpose: str, tx_hash: str, raw: bytes, fees: Fees) -> OutboxTx:
        """A transaction about to be sent for the first time: `request` holds its fields but the
        fees (JSON-ready: ints and 0x-hex strings)."""
        now = time.time()
        row = OutboxTx(
            chain_id=int(request["chainId"]), sender=str(request["from"]).lower(), nonce=int(request["nonce"]),
            purpose=purpose[:64], tx_hash=tx_hash, hashes=json.dumps([tx_hash]), raw=HexBytes(raw).to_0x_hex(),
            request=json.dumps(request), gas_limit=int(request["gas"]),
            max_fee_per_gas=fees.max_fee, max_priority_fee_per_gas=fees.tip, gas_price=fees.gas_price,
            created_at=now, sent_at=now,
        )  # fmt: skip
        return self._save(row)

    def replaced(self, row: OutboxTx, tx_hash: str, raw: bytes, fees: Fees) -> OutboxTx:
        """A new version of the row's transaction (same nonce, higher fees) is about to be sent."""
        row.hashes = json.dumps([*json.loads(row.hashes), tx_hash])
        row.tx_hash, row.raw, row.sent_at = tx_hash, HexBytes(raw).to_0x_hex(), time.time()
        row.max_fee_per_gas, row.max_priority_fee_per_gas, row.gas_price = fees.max_fee, fees.tip, fees.gas_price
        row.replacements += 1
        return self._save(row)

    def mined(self, row: OutboxTx, receipt: TxReceipt) -> OutboxTx:
        """One of the row's versions is mined."""
        row.status = MINED if receipt["status"] == 1 else REVERTED
        row.tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        row.block_number, row.gas_used = int(receipt["blockNumber"]), int(receipt["gasUsed"])
        row.fee_wei = int(receipt["gasUsed"]) * int(receipt.get("effectiveGasPrice", 0))
        row.mined_at = time.time()
        return self._save(row)

    def dropped(self, row: OutboxTx) -> OutboxTx:
        """The row's nonce was used by a transaction that is none of its versions."""
        row.status = DROPPED
        return self._save(row)

    def cancelled(self, row: OutboxTx) -> OutboxTx:
        """The row's nonce went to a transfer of nothing to its sender, in its place."""
        row.status = CANCELLED
        return self._save(row)

    def listing(self, status: str | None = None, limit: int = 50) -> list[OutboxTx]:
        """The latest transactions, newest first, of one status or all."""
        with Session(self.engine) as session:
            query = select(OutboxTx)
            if status is not None:
                query = query.where(OutboxTx.status == status)
            return list(session.exec(query.order_by(col(OutboxTx.id).desc()).limit(limit)).all())

    def pending(self, chain_id: int, sender: str) -> list[OutboxTx]:
        """The sender's transactions not yet seen mined, by nonce."""
        with Session(self.engine) as session:
            query = select(OutboxTx).where(
                OutboxTx.chain_id == chain_id, OutboxTx.sender == sender.lower(), OutboxTx.status == PENDING
            )
            return list(session.exec(query.order_by(col(OutboxTx.nonce))).all())

    def spent_since(self, since: float) -> int:
        """Wei paid in fees by transactions mined since `since` (every sender)."""
        with Session(self.engine) as session:
            total = session.exec(
                select(func.coalesce(func.sum(OutboxTx.fee_wei), 0)).where(col(OutboxTx.mined_at) >= since)
            ).one()
        return int(total or 0)

    def summary(self) -> dict[str, Any]:
        """Counts by status, replacements, and fees of the last hour: for `/metrics`."""
        with Session(self.engine) as session:
            by_status = dict(session.exec(select(OutboxTx.status, func.count()).group_by(OutboxTx.status)).all())
            replacements = session.exec(select(func.coalesce(func.sum(OutboxTx.replacements), 0))).one()
        return {
            "by_status": by_status,
            "replacements": int(replacements),
            "fees_last_hour": self.spent_since(time.time() - 3600),
        }

    def _save(self, row: OutboxTx) -> OutboxTx:
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(row)
            session.commit()
            return row
