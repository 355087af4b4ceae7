"""The indexer loop: backfill (fetching overlapped with writing), then follow the head; reorgs are
rolled back to the common ancestor, and a different chain is refused with a way out."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from indexer.catalog import EventCatalog
from indexer.fetch import Chunk, Fetcher
from indexer.producer import FetchJob, fetching
from indexer.store import PROJECTED, ParentMismatch, State, Store
from ledger_service.core.chain.rpc import JsonRpc
from ledger_service.core.errors import IndexChainChanged
from ledger_service.core.loops import HealthRecorder, run_loop

log = logging.getLogger(__name__)

_ANCESTOR_WINDOW = 64


@dataclass(frozen=True)
class IndexTarget:
    """What the indexer follows: the contracts, from which block, on which chain."""

    chain_id: int
    genesis_hash: str
    contracts: dict[str, str]  # name -> address
    start_block: int
    abis: list[list[dict[str, Any]]]


def target_of(deployment: Any, artifacts: dict[str, Any]) -> IndexTarget:
    """What to index for a deployment (`ledger_service.core.chain.deploy.Deployment`) and its artifacts."""
    return IndexTarget(
        chain_id=deployment.chain_id,
        genesis_hash=deployment.genesis_hash,
        contracts={name: contract.address for name, contract in deployment.contracts.items()},
        start_block=deployment.start_block,
        abis=[artifacts[name].abi for name in deployment.contracts],
    )


@dataclass
class Progress:
    """Where a run is: for progress bars and logs."""

    indexed: int  # last block written
    target: int  # block the run is heading for
    blocks: int  # written in this run
    events: int  # written in this run
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Events written per second in this run."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def blocks_per_second(self) -> float:
        """Blocks written per second in this run."""
        return self.blocks / self.seconds if self.seconds > 0 else 0.0


class ChainIndexer:
    """Mirrors the project's contracts from a JSON-RPC node into SQL."""

    def __init__(
        self,
        engine: Engine,
        rpc_url: str,
        target: IndexTarget,
        confirmations: int = 0,
        use_finalized: bool = False,
        batch_confirmations: int = 1,
        poll: float = 0.1,
        progress: Callable[[Progress], None] | None = None,
        transactions: str = "all",
        process_threshold: int = 500,
        max_span: int = 5000,
    ) -> None:
        self.store = Store(engine)
        self.rpc = JsonRpc(rpc_url)
        self.target = target
        self.catalog = EventCatalog(target.abis)
        self.transactions = transactions
        self.process_threshold = process_threshold  # backfills of this many blocks fetch in a child process
        self.fetcher = Fetcher(
            self.rpc,
            self.catalog,
            list(target.contracts.values()),
            derived_events=PROJECTED,
            transactions=transactions,
            span=min(20, max_span),
            max_span=max_span,
        )
        self.confirmations = confirmations
        self.use_finalized = use_finalized
        self.batch_confirmations = batch_confirmations
        self.poll = poll
        self.progress = progress
        self._started = time.perf_counter()
        self._blocks = 0
        self._events = 0
        self._last_seen = -1

    def close(self) -> None:
        """Releases the fetch threads and connections."""
        self.fetcher.close()
        self.rpc.close()

    # -- chain identity -----------------------------------------------------------------------

    def open(self) -> State:
        """The checkpoint, after checking the chain and deployment are the ones it was built from."""
        chain_id = int(self.rpc.call("eth_chainId"), 16)
        genesis = self.rpc.call("eth_getBlockByNumber", "0x0", False)["hash"]
        contracts = {name: address.lower() for name, address in self.target.contracts.items()}
        state = self.store.state()
        if state is None:
            log.info(
                "new mirror", extra={"chain_id": chain_id, "genesis": genesis, "start_block": self.target.start_block}
            )
            return self.store.initialise(chain_id, genesis, contracts, self.target.start_block, self.transactions)
        if state.chain_id != chain_id or state.genesis_hash != genesis:
            raise IndexChainChanged(
                f"the node's chain (id {chain_id}, genesis {genesis}) is not the one this mirror was built from "
                f"(id {state.chain_id}, genesis {state.genesis_hash}): the dev chain was restarted empty or the RPC "
                "URL points elsewhere. Run `provenance index reset` to drop the mirror and index this chain.",
                expected=state.genesis_hash,
                found=genesis,
            )
        if state.transactions != self.transactions:
            raise IndexChainChanged(
                f"this mirror keeps {state.transactions!r} transactions, the indexer is set to "
                f"{self.transactions!r}: run `provenance index reset` to rebuild it that way, "
                "or change the setting back.",
            )
        if state.contracts != contracts:
            raise IndexChainChanged(
                f"the contracts were redeployed ({contracts}) since this mirror was built ({state.contracts}). "
                "Run `provenance index reset` to index the new deployment.",
            )
        return state

    # -- heads --------------------------------------------------------------------------------

    def heads(self) -> tuple[int, int, int]:
        """(chain head, last block to index, last block whose batches count as confirmed)."""
        latest = int(self.rpc.call("eth_blockNumber"), 16)
        finalized: int | None = None
        if self.use_finalized:
            block = self.rpc.call("eth_getBlockByNumber", "finalized", False)
            finalized = int(block["number"], 16) if block else -1
        target = finalized if finalized is not None else latest - self.confirmations
        confirmed = finalized if finalized is not None else latest - self.batch_confirmations + 1
        return latest, target, confirmed

    # -- reorgs -------------------------------------------------------------------------------

    def _chain_hashes(self, numbers: list[int]) -> dict[int, str]:
        blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        return {n: b["hash"] for n, b in zip(numbers, blocks, strict=True) if b is not None}

    def _find_ancestor(self, state: State) -> int:
        """The highest stored block that is still on the chain (start_block - 1 when none is)."""
        top = state.head_number if state.head_number is not None else state.start_block - 1
        while top >= state.start_block:
            numbers = list(range(max(state.start_block, top - _ANCESTOR_WINDOW + 1), top + 1))
            stored = self.store.stored_hashes(numbers)
            chain = self._chain_hashes(numbers)
            for number in reversed(numbers):
                if number in stored and chain.get(number) == stored[number]:
                    return number
            top = numbers[0] - 1
        return state.start_block - 1

    def recover_from_reorg(self) -> int:
        """Rolls the mirror back to the common ancestor with the chain; returns blocks removed."""
        state = self.open()  # a different genesis is a reset, not a reorg
        ancestor = self._find_ancestor(state)
        _, _, confirmed = self.heads()
        removed = self.store.rollback(ancestor, confirmed)
        log.warning("reorg rolled back", extra={"ancestor": ancestor, "removed_blocks": removed})
        return removed

    def _head_still_canonical(self, state: State, latest: int) -> bool:
        """False when the stored head is no longer on the chain. A node whose head is below ours
        is only behind (a lagging or load-balanced RPC) while its block at its own head is the one
        we stored; a different block there means the chain was rolled back under us."""
        if state.head_number is None:
            return True
        number = min(state.head_number, latest)
        block = self.rpc.call("eth_getBlockByNumber", hex(number), False)
        if block is None:
            return True  # the node does not have it yet: wait
        if number == state.head_number:
            return bool(block["hash"] == state.head_hash)
        return bool(self.store.stored_hashes([number]).get(number) == block["hash"])

    # -- running ------------------------------------------------------------------------------

    def _write(self, chunk: Chunk, latest: int, confirmed: int) -> None:
        elapsed = time.perf_counter() - self._started
        self._blocks += chunk.last - chunk.first + 1
        self._events += chunk.event_count
        rates = (self._blocks / elapsed, self._events / elapsed) if elapsed > 0 else (0.0, 0.0)
        self.store.write(chunk, confirmed, latest, rates)

    def _report(self, indexed: int, target: int) -> None:
        if self.progress is not None:
            self.progress(Progress(indexed, target, self._blocks, self._events, time.perf_counter() - self._started))

    def step(self) -> int:
        """Indexes what is new (up to one chunk); returns the blocks written (0: nothing new)."""
        state = self.store.state() or self.open()
        latest, target, confirmed = self.heads()
        if not self._head_still_canonical(state, latest):
            self.recover_from_reorg()
            return 0
        start = state.start_block if state.head_number is None else state.head_number + 1
        if start > target:
            if latest != self._last_seen:
                self.store.update_head(latest, confirmed)
                self._last_seen = latest
            return 0
        chunk = self.fetcher.fetch(start, target)
        try:
            self._write(chunk, latest, confirmed)
        except ParentMismatch:
            self.recover_from_reorg()
            return 0
        self._report(chunk.last, target)
        return chunk.last - chunk.first + 1

    def backfill(self, stop: threading.Event | None = None) -> int:
        """Indexes up to the current target with fetching overlapped with writing; returns blocks."""
        stop = stop or threading.Event()
        written = 0
        while not stop.is_set():
            state = self.store.state() or self.open()
            latest, target, confirmed = self.heads()
            if not self._head_still_canonical(state, latest):
                self.recover_from_reorg()
                continue
            start = state.start_block if state.head_number is None else state.head_number + 1
            if start > target:
                self.store.update_head(latest, confirmed)
                return written
            job = FetchJob(
                rpc_url=self.rpc.url,
                abis=self.target.abis,
                layouts=self.catalog.layouts,
                addresses=list(self.target.contracts.values()),
                derived_events=PROJECTED,
                transactions=self.transactions,
                max_span=self.fetcher.max_span,
                start=start,
                target=target,
            )
            in_process = target - start + 1 >= self.process_threshold
            with fetching(job, None if in_process else self.fetcher) as chunks:
                for chunk in chunks:
                    try:
                        self._write(chunk, latest, confirmed)
                    except ParentMismatch:
                        self.recover_from_reorg()
                        break
                    written += chunk.last - chunk.first + 1
                    self._report(chunk.last, target)
                    if stop.is_set():
                        break
        return written

    def run(self, stop: threading.Event, follow: bool = True) -> None:
        """Backfills, then (with `follow`) indexes new blocks until `stop` is set, by the loop policy
        (`core.loops`): an RPC or database outage of any length is waited out, another chain or
        deployment (`IndexChainChanged`) ends the loop."""
        caught_up = [False]

        def step() -> bool:
            if caught_up[0]:
                return self.step() > 0
            self.open()
            self.backfill(stop)
            caught_up[0] = True
            return True

        if not follow:
            step()
            return

        run_loop("indexer", step, stop, self.poll, HealthRecorder(self.store.engine))
