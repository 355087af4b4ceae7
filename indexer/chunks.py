"""A chunk of the chain as the indexer writes it: the rows of a consistent range of blocks (blocks,
transactions with receipts, raw logs, typed event rows) and the decoded events its projections
apply, checked for consistency (parent hashes, receipts and logs from the blocks read) while built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from indexer.catalog import EventCatalog

BLOCK_COLUMNS = (
    "number", "hash", "parent_hash", "timestamp", "miner", "gas_used", "gas_limit", "base_fee_per_gas",
    "transaction_count",
)  # fmt: skip
TRANSACTION_COLUMNS = (
    "hash", "block_number", "transaction_index", "from_address", "to_address", "contract_address", "value",
    "nonce", "gas", "gas_price", "gas_used", "status", "input", "revert_data",
)  # fmt: skip
LOG_COLUMNS = (
    "block_number", "log_index", "transaction_hash", "transaction_index", "address", "event",
    "topic0", "topic1", "topic2", "topic3", "data",
)  # fmt: skip


class ChunkInconsistent(Exception):
    """The node's answers for a range do not fit together (the chain moved while it was read)."""


@dataclass
class DecodedEvent:
    """A decoded project event, as the derived-state projections consume it."""

    name: str
    block_number: int
    log_index: int
    transaction_hash: str
    address: str
    values: dict[str, Any]


@dataclass
class Chunk:
    """Everything the mirror keeps for blocks `first`..`last`, ready to insert."""

    first: int
    last: int
    parent_hash: str  # of block `first`
    blocks: list[tuple[Any, ...]] = field(default_factory=list)
    transactions: list[tuple[Any, ...]] = field(default_factory=list)
    logs: list[tuple[Any, ...]] = field(default_factory=list)
    typed: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    events: list[DecodedEvent] = field(default_factory=list)
    block_times: dict[int, int] = field(default_factory=dict)

    @property
    def last_hash(self) -> str:
        """The hash of block `last`."""
        return str(self.blocks[-1][1])

    @property
    def event_count(self) -> int:
        """Project events in the chunk."""
        return len(self.logs)


def _int(value: str | None) -> int:
    return int(value, 16) if value else 0


def _address(value: str | None) -> str | None:
    return value.lower() if value else None


def add_blocks(
    chunk: Chunk, blocks: list[dict[str, Any]], pairs: list[list[tuple[dict[str, Any], dict[str, Any]]]]
) -> tuple[dict[int, str], list[tuple[int, dict[str, Any], int]]]:
    """Adds the blocks and their transactions (with receipts) to `chunk`, checking that each block
    follows the one before and each receipt is of its transaction in that block. Returns the block
    hashes by number and the failed transactions (row index, transaction, block)."""
    failed: list[tuple[int, dict[str, Any], int]] = []
    hashes: dict[int, str] = {}
    previous = blocks[0]["parentHash"]
    for block, block_pairs in zip(blocks, pairs, strict=True):
        number = _int(block["number"])
        block_hash = block["hash"]
        if block["parentHash"] != previous:
            raise ChunkInconsistent(f"block {number} does not follow block {number - 1}")
        previous = block_hash
        hashes[number] = block_hash
        timestamp = _int(block["timestamp"])
        chunk.block_times[number] = timestamp
        transactions = block["transactions"]
        base_fee = block.get("baseFeePerGas")
        chunk.blocks.append((
            number, block_hash, block["parentHash"], timestamp, (block.get("miner") or "0x" + "00" * 20).lower(),
            _int(block["gasUsed"]), _int(block["gasLimit"]), str(int(base_fee, 16)) if base_fee else None,
            len(transactions),
        ))  # fmt: skip
        for tx, receipt in block_pairs:
            if receipt is None or receipt.get("blockHash") != block_hash or receipt["transactionHash"] != tx["hash"]:
                raise ChunkInconsistent(f"receipt of {tx['hash']} is not from block {number}")
            chunk.transactions.append((
                tx["hash"], number, _int(tx["transactionIndex"]), tx["from"].lower(), _address(tx.get("to")),
                _address(receipt.get("contractAddress")), str(_int(tx.get("value"))), _int(tx["nonce"]),
                _int(tx["gas"]),
                str(_int(receipt.get("effectiveGasPrice") or tx.get("gasPrice"))), _int(receipt["gasUsed"]),
                _int(receipt.get("status")), bytes.fromhex((tx.get("input") or tx.get("data") or "0x")[2:]),
                None,
            ))  # fmt: skip
            if _int(receipt.get("status")) == 0:
                failed.append((len(chunk.transactions) - 1, tx, number))
    return hashes, failed


def add_logs(
    chunk: Chunk,
    hashes: dict[int, str],
    raw_logs: list[dict[str, Any]],
    catalog: EventCatalog,
    derived: frozenset[str] | set[str],
) -> None:
    """Adds the logs to `chunk`: raw, typed (one row per decoded project event) and, for the events in
    `derived`, decoded for the projections. Each log must be of one of the blocks read, not removed."""
    by_topic = catalog.by_topic
    numbers = {hex(n): n for n in hashes}  # JSON-RPC quantities are minimal hex, as hex() writes them
    logs_append = chunk.logs.append
    typed = chunk.typed
    padding = [None, None, None, None]
    for entry in raw_logs:
        found = numbers.get(entry["blockNumber"])
        if found is None or hashes[found] != entry["blockHash"]:
            raise ChunkInconsistent(f"a log of block {entry['blockNumber']} is not from the blocks read")
        number = found
        if entry.get("removed"):
            raise ChunkInconsistent(f"a log of block {number} was removed")
        topics = entry["topics"]
        log_index = int(entry["logIndex"], 16)
        tx_hash = entry["transactionHash"]
        address = entry["address"]
        if not address.islower():
            address = address.lower()
        data = bytes.fromhex(entry["data"][2:])
        spec = by_topic.get(topics[0]) if topics else None
        padded = (topics + padding)[:4]
        logs_append((
            number, log_index, tx_hash, int(entry["transactionIndex"], 16), address,
            spec.name if spec else None, *padded, data,
        ))  # fmt: skip
        if spec is None:
            continue
        row = spec.row((number, log_index, tx_hash, address), topics, data)
        rows = typed.get(spec.table)
        if rows is None:
            rows = typed[spec.table] = []
        rows.append(row)
        if spec.name in derived:
            values = dict(zip(spec.columns[4:], row[4:], strict=True))
            chunk.events.append(DecodedEvent(spec.name, number, log_index, tx_hash, address, values))
