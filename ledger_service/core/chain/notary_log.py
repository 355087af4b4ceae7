"""The notary's transparency log as a client rebuilds it from the chain: its `BatchAnchored` events,
read in ranges and kept between reads, checked against the log head the contract computes."""

from __future__ import annotations

import threading
from typing import Any

from web3.contract import Contract
from web3.contract.contract import ContractFunction

from ledger_service.core import tlog
from ledger_service.core.log_leaf import event_leaf_data

#: Blocks per `eth_getLogs` request: nodes and providers cap the range one request may span.
LOG_RANGE = 50_000


def batch_anchored_logs(notary: Contract, from_block: int, to_block: int, root: bytes | None = None) -> list[Any]:
    """The notary's `BatchAnchored` events in [from_block, to_block] (of `root` only, when given),
    read in ranges of `LOG_RANGE` blocks."""
    filters = {"root": root} if root is not None else None
    found: list[Any] = []
    for start in range(from_block, to_block + 1, LOG_RANGE):
        end = min(start + LOG_RANGE - 1, to_block)
        found.extend(notary.events.BatchAnchored().get_logs(from_block=start, to_block=end, argument_filters=filters))
    return found


def leaf_hashes(logs: list[Any]) -> dict[int, bytes]:
    """The log leaf hash of each `BatchAnchored` event, by batch id."""
    return {int(log["args"]["batchId"]): tlog.leaf_hash(event_leaf_data(log["args"])) for log in logs}


class NotaryLog:
    """The notary's log from block `from_block` on, kept between reads: each read asks the node only
    for the blocks it has not read yet, then checks every leaf it holds against the contract's
    `logHead()` at the same block. When they differ (a reorg replaced blocks already read), it reads
    every block again once; a node that still gives a log other than the contract's is refused."""

    def __init__(self, notary: Contract, from_block: int) -> None:
        self.notary = notary
        self.from_block = from_block
        self._next_block = from_block
        self._events: dict[int, Any] = {}
        self._leaves: dict[int, bytes] = {}
        self._lock = threading.Lock()  # the clients of one deployment share a log

    def read(self) -> tuple[list[bytes], list[Any]]:
        """The log at the latest block: the leaf hashes and the events' arguments, by batch id."""
        with self._lock:
            return self._read()

    def _read(self) -> tuple[list[bytes], list[Any]]:
        for fresh in (False, True):
            if fresh:  # at a head read again: the reorg may still be going on at the tip
                self._next_block, self._events, self._leaves = self.from_block, {}, {}
            block = int(self.notary.w3.eth.block_number)
            size, head = self.notary.functions.logHead().call(block_identifier=block)
            self._take(batch_anchored_logs(self.notary, self._next_block, block))
            self._next_block = block + 1
            if all(i in self._leaves for i in range(size)) and len(self._leaves) == size:
                leaves = [self._leaves[i] for i in range(size)]
                if tlog.root(leaves) == bytes(head):
                    return leaves, [self._events[i] for i in range(size)]
        raise RuntimeError(f"the node's BatchAnchored logs are not the notary's log of {size} batches")

    def _take(self, logs: list[Any]) -> None:
        self._events.update((int(log["args"]["batchId"]), log["args"]) for log in logs)
        self._leaves.update(leaf_hashes(logs))

    def record_call(self, root: bytes) -> ContractFunction | None:
        """The `DataNotary.recordAnchor` call of `root`'s earliest batch, its path built against the
        log as it is now; None when `root` was never anchored."""
        leaves, events = self.read()
        found = next((a for a in events if bytes(a["root"]) == root), None)
        if found is None:
            return None
        _, path = tlog.frontier_path(leaves, int(found["batchId"]))
        return self.notary.functions.recordAnchor(
            found["batchId"], root, found["readingCount"], found["firstTimestamp"], found["lastTimestamp"],
            found["contentId"], path,
        )  # fmt: skip


def log_leaves(notary: Contract, from_block: int) -> tuple[list[bytes], list[Any]]:
    """The notary's log at the latest block, read once (`NotaryLog.read`)."""
    return NotaryLog(notary, from_block).read()


def record_call(notary: Contract, root: bytes, from_block: int) -> ContractFunction | None:
    """`NotaryLog.record_call` on a log read once."""
    return NotaryLog(notary, from_block).record_call(root)
