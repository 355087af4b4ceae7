"""Fetching a range of blocks as one consistent chunk: blocks, transactions with receipts, and the
project's logs (through `eth_getLogs` over an adaptive block range), decoded into table rows."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from eth_utils import keccak

from indexer.catalog import EventCatalog
from indexer.chunks import Chunk, ChunkInconsistent, add_blocks, add_logs
from ledger_service.core.chain.rpc import JsonRpc, RpcError

log = logging.getLogger(__name__)

_BLOCKS_PER_CALL = 25


#: Requests out for a range: (first, last, block futures, receipt futures).
_Request = tuple[int, int, list[Future[Any]], list[Future[Any]]]


def bloom_bits(value: bytes) -> tuple[int, int, int]:
    """The three bit positions `value` sets in a 2048-bit logs bloom (yellow paper, section 4.3.1)."""
    digest = keccak(value)
    return tuple((int.from_bytes(digest[i : i + 2], "big") & 2047) for i in (0, 2, 4))  # type: ignore[return-value]


def bloom_mentions(bloom_hex: str | None, candidates: list[tuple[int, int, int]]) -> bool:
    """True when the block's logs bloom may contain one of the candidates (False: surely not)."""
    if not bloom_hex:
        return False
    bloom = int(bloom_hex, 16)
    return any(all(bloom >> bit & 1 for bit in bits) for bits in candidates)


class Fetcher:
    """Reads chunks of the chain. The log range adapts: it halves when the node refuses a query as
    too large, and grows while answers stay light."""

    def __init__(
        self,
        rpc: JsonRpc,
        catalog: EventCatalog,
        addresses: list[str],
        span: int = 20,
        max_span: int = 5000,
        target_logs: int = 4_000,
        derived_events: frozenset[str] = frozenset(),
        transactions: str = "all",
    ) -> None:
        if transactions not in ("all", "project"):
            raise ValueError(f"transactions must be 'all' or 'project', not {transactions!r}")
        self.transactions = transactions
        self.rpc = rpc
        self.catalog = catalog
        self.addresses = [a.lower() for a in addresses]
        self.span = span
        self.max_span = max_span
        self._ceiling = max_span  # lowered below each range the node refused as too large
        self._bloom_bits = [bloom_bits(bytes.fromhex(a[2:])) for a in self.addresses]
        self.target_logs = target_logs
        self.derived_events = derived_events
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="fetch")
        self._block_receipts: bool | None = None

    def close(self) -> None:
        """Stops the fetch threads."""
        self._pool.shutdown(wait=True)

    def logs(self, first: int, last: int) -> tuple[int, list[dict[str, Any]]]:
        """The project's logs from `first` to at most `last`; returns the last block actually covered."""
        while True:
            end = min(last, first + self.span - 1)
            try:
                found = self.rpc.call(
                    "eth_getLogs", {"fromBlock": hex(first), "toBlock": hex(end), "address": self.addresses}
                )
            except RpcError as exc:
                if exc.too_many_results and end > first:
                    self._ceiling = end - first  # never ask for this many blocks again
                    self.span = max(1, (end - first + 1) // 2)
                    log.info("log range shrunk", extra={"span": self.span, "reason": exc.message})
                    continue
                raise
            self._adapt(len(found), end - first + 1)
            return end, found

    def _blocks(self, numbers: list[int], full: bool) -> list[dict[str, Any]]:
        return list(self.rpc.batch([("eth_getBlockByNumber", [hex(n), full]) for n in numbers]))

    def _receipts(self, numbers: list[int]) -> list[list[dict[str, Any]]]:
        if self._block_receipts is not False:
            try:
                found = self.rpc.batch([("eth_getBlockReceipts", [hex(n)]) for n in numbers])
                self._block_receipts = True
                return [r or [] for r in found]
            except RpcError as exc:
                if not exc.unsupported:
                    raise
                self._block_receipts = False
        return []  # fetched per transaction once the blocks are known

    def _receipts_by_transaction(self, blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        hashes = [tx["hash"] for block in blocks for tx in block["transactions"]]
        found = iter(self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes]))
        return [[next(found) for _ in block["transactions"]] for block in blocks]

    def fetch(self, first: int, last: int) -> Chunk:
        """A consistent chunk starting at `first` and ending at or before `last`."""
        for attempt in range(5):
            try:
                return self._fetch_once(first, last)
            except ChunkInconsistent as exc:
                log.info("chain moved while reading; reading again", extra={"first": first, "reason": str(exc)})
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _fetch_once(self, first: int, last: int) -> Chunk:
        if self.transactions == "all":
            return self._fetch_all(first, last)
        return self._fetch_project(first, last)

    def _groups(self, first: int, last: int) -> list[list[int]]:
        numbers = list(range(first, last + 1))
        return [numbers[i : i + _BLOCKS_PER_CALL] for i in range(0, len(numbers), _BLOCKS_PER_CALL)]

    def _fetch_all(self, first: int, last: int) -> Chunk:
        """Every transaction of every block, with receipts; the project's logs come from the
        receipts (fetching them again with `eth_getLogs` would read every log twice)."""
        return self._finish_all(self._request_all(first, min(last, first + self.span - 1)))

    def _request_all(self, first: int, end: int) -> _Request:
        groups = self._groups(first, end)
        block_futures = [self._pool.submit(self._blocks, g, True) for g in groups]
        receipt_futures = [self._pool.submit(self._receipts, g) for g in groups]
        return first, end, block_futures, receipt_futures

    def _finish_all(self, request: _Request) -> Chunk:
        first, end, block_futures, receipt_futures = request
        blocks = [b for f in block_futures for b in f.result()]
        receipts = [r for f in receipt_futures for r in f.result()]
        if any(b is None for b in blocks):
            raise ChunkInconsistent("a block is missing (the chain is shorter than asked)")
        if len(receipts) != len(blocks):
            receipts = self._receipts_by_transaction(blocks)
        addresses = set(self.addresses)
        raw_logs = [
            entry
            for block_receipts in receipts
            for receipt in block_receipts
            if receipt is not None
            for entry in receipt.get("logs", ())
            if entry["address"].lower() in addresses
        ]
        self._adapt(len(raw_logs), end - first + 1)
        pairs = []
        for block, block_receipts in zip(blocks, receipts, strict=True):
            if len(block_receipts) != len(block["transactions"]):
                raise ChunkInconsistent(f"block {block['number']}: transactions and receipts differ in number")
            pairs.append(list(zip(block["transactions"], block_receipts, strict=True)))
        return self._assemble(first, end, blocks, pairs, raw_logs)

    def stream(self, first: int, last: int) -> Iterator[Chunk]:
        """Consecutive chunks from `first` to `last`. With all transactions, the next range's
        requests go out before the current one is decoded, so the node works while we do."""
        if self.transactions != "all":
            while first <= last:
                chunk = self.fetch(first, last)
                yield chunk
                first = chunk.last + 1
            return
        pending: _Request | None = self._request_all(first, min(last, first + self.span - 1))
        while pending is not None:
            start, end = pending[0], pending[1]
            following = end + 1
            upcoming: _Request | None = None
            if following <= last:
                upcoming = self._request_all(following, min(last, following + self.span - 1))
            try:
                chunk = self._finish_all(pending)
            except ChunkInconsistent:
                chunk = self.fetch(start, end)  # read the range again, checking it as `fetch` does
                if chunk.last != end and upcoming is not None:
                    upcoming = None  # ranges no longer line up: ask again from where this one ended
            yield chunk
            if upcoming is None and chunk.last < last:
                upcoming = self._request_all(chunk.last + 1, min(last, chunk.last + self.span))
            pending = upcoming

    def _fetch_project(self, first: int, last: int) -> Chunk:
        """Block headers for every block; the project's logs through `eth_getLogs` over an adaptive
        range; transactions and receipts only for the transactions that emitted those logs."""
        tentative = min(last, first + self.span - 1)
        logs_future = self._pool.submit(self.logs, first, tentative)
        header_futures = [self._pool.submit(self._blocks, g, False) for g in self._groups(first, tentative)]
        end, raw_logs = logs_future.result()
        blocks = [b for f in header_futures for b in f.result()][: end - first + 1]
        if any(b is None for b in blocks):
            raise ChunkInconsistent("a block is missing (the chain is shorter than asked)")
        with_logs = {entry["blockHash"] for entry in raw_logs}
        for block in blocks:  # a block whose bloom names a project contract must have brought its logs
            if block["hash"] not in with_logs and bloom_mentions(block.get("logsBloom"), self._bloom_bits):
                raise ChunkInconsistent(
                    f"block {int(block['number'], 16)} may hold project logs the query did not return"
                )
        hashes = list(dict.fromkeys(entry["transactionHash"] for entry in raw_logs))
        bodies = self.rpc.batch([("eth_getTransactionByHash", [h]) for h in hashes])
        receipts = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        by_block: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
        for body, receipt in zip(bodies, receipts, strict=True):
            if body is None or receipt is None:
                raise ChunkInconsistent("a transaction of a log is missing")
            by_block.setdefault(body["blockHash"], []).append((body, receipt))
        pairs = [by_block.get(block["hash"], []) for block in blocks]
        if sum(len(p) for p in pairs) != len(hashes):
            raise ChunkInconsistent("a transaction of a log is from a block outside the range")
        return self._assemble(first, end, blocks, pairs, raw_logs)

    def _adapt(self, found: int, span: int) -> None:
        if found < self.target_logs // 2 and span >= self.span:
            self.span = min(self.max_span, self._ceiling, self.span * 2)
        elif found > self.target_logs * 2:
            self.span = max(1, self.span // 2)

    def _add_revert_data(self, chunk: Chunk, failed: list[tuple[int, dict[str, Any], int]]) -> None:
        """Replays each failed transaction as a call to learn its revert data (a custom error,
        `Error(string)` or `Panic(uint256)`): on its block's parent state, or where the node keeps no
        history (anvil with pruned history) on its own block's state. Left empty when neither
        replay reverts (the transaction failed on what came before it in its block)."""
        pending = list(failed)
        for offset in (1, 0):
            if not pending:
                return
            calls = []
            for _, tx, number in pending:
                call = {
                    "from": tx["from"],
                    "data": tx.get("input") or tx.get("data") or "0x",
                    "value": tx.get("value") or "0x0",
                    "gas": tx["gas"],
                }
                if tx.get("to"):
                    call["to"] = tx["to"]
                calls.append(("eth_call", [call, hex(max(number - offset, 0))]))
            retry = []
            for entry, error in zip(pending, self.rpc.batch_errors(calls), strict=True):
                data = error.get("data") if error else None
                if isinstance(data, dict):
                    data = data.get("data")
                if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
                    row = chunk.transactions[entry[0]]
                    chunk.transactions[entry[0]] = (*row[:-1], bytes.fromhex(data[2:]))
                elif error is not None and error.get("code") != 3:
                    retry.append(entry)  # no state for that block: try the next one
            pending = retry

    def _assemble(
        self,
        first: int,
        last: int,
        blocks: list[dict[str, Any]],
        pairs: list[list[tuple[dict[str, Any], dict[str, Any]]]],
        raw_logs: list[dict[str, Any]],
    ) -> Chunk:
        chunk = Chunk(first=first, last=last, parent_hash=blocks[0]["parentHash"])
        hashes, failed = add_blocks(chunk, blocks, pairs)
        self._add_revert_data(chunk, failed)
        add_logs(chunk, hashes, raw_logs, self.catalog, self.derived_events)
        return chunk
