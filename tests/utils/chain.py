"""Small lookups on a chain."""

from __future__ import annotations

from typing import Any

from ledger_service.core.chain.ledger import Ledger


def block_time(ledger: Ledger, receipt: Any) -> int:
    return int(ledger.client.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
