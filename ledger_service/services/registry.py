"""The device registry as the service sees it: a cache rebuilt from `DeviceRegistry` events.

The cache applies the registry's events in chain order, so it holds the same devices, statuses,
owners, key histories and suspension periods (from the status changes and their block times) as
the contract, without one RPC call per reading. It follows the head (a background loop, and an
on-demand refresh, rate-limited, when a reading names a device or key it does not know yet), and
starts over from the deployment block if the block it last saw was reorganized away. Logs are
decoded by `core.chain.event_decoder` (not web3's per-log path), and block times come from the
logs' `blockTimestamp` where the node gives it, else from the blocks, asked for in batches.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound

from ledger_service.core.chain.event_decoder import event_decoders
from ledger_service.core.chain.rpc import JsonRpc, RpcError, Web3Transport
from ledger_service.core.device_snapshot import state_from_json, state_to_json
from ledger_service.core.device_state import (
    DEVICE_EVENTS,
    DeviceRecord,
    RegistryState,
)
from ledger_service.core.loops import HealthRecorder, run_loop

log = logging.getLogger(__name__)

_BLOCKS_PER_BATCH = 500


def _batched_block_times(rpc: JsonRpc, numbers: list[int]) -> dict[int, int]:
    """The times of blocks `numbers`, asked for in batches; the ones a node refusing batches (or
    batches this large) leaves out are for the caller to ask one by one."""
    times: dict[int, int] = {}
    for start in range(0, len(numbers), _BLOCKS_PER_BATCH):
        part = numbers[start : start + _BLOCKS_PER_BATCH]
        try:
            blocks = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
        except RpcError:
            break
        for number, block in zip(part, blocks, strict=True):
            if block is None:
                raise BlockNotFound(f"block {number} is gone (a reorg): the registry cache syncs again")
            times[number] = int(block["timestamp"], 16)
    return times


class RegistryCache:
    """Keeps a `RegistryState` in step with the chain by reading the registry's logs."""

    EVENTS = DEVICE_EVENTS

    def __init__(
        self,
        registry: Contract,
        start_block: int,
        min_refresh_interval: float = 0.1,
        chunk_size: int = 5000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.w3: Web3 = registry.w3
        self.start_block = start_block
        self.min_refresh_interval = min_refresh_interval
        self.chunk_size = chunk_size
        self.clock = clock
        self.state = RegistryState()
        self._next_block = start_block
        self._last_seen: tuple[int, bytes] | None = None
        self._last_refresh = float("-inf")
        self.synced_at: float | None = None  # wall-clock time of the last sync that reached the head
        self._lock = threading.RLock()  # guards the state
        self._sync_lock = threading.RLock()  # one sync at a time
        self._decoders = event_decoders(registry.abi, self.EVENTS, self.w3.codec)  # type: ignore[arg-type]

    @property
    def synced_block(self) -> int | None:
        """The last block whose registry events are in the cache, or None before the first sync."""
        return self._next_block - 1 if self._next_block > self.start_block else None

    def get(self, device_id: bytes, refresh: bool = True, wait: bool = True) -> DeviceRecord | None:
        """The device; when it is not known yet, refreshes first (rate-limited) unless told not to
        (`wait=False`: only if the refresh slot is free now, never sleeping for it)."""
        with self._lock:
            device = self.state.devices.get(device_id)
        if device is None and refresh and self.refresh(wait=wait):
            with self._lock:
                device = self.state.devices.get(device_id)
        return device

    def knows(self, device_ids: Iterable[bytes]) -> bool:
        """True when every one of `device_ids` is in the cache."""
        with self._lock:
            return all(device_id in self.state.devices for device_id in device_ids)

    def devices(self) -> list[DeviceRecord]:
        """Every device, in registration order."""
        with self._lock:
            return list(self.state.devices.values())

    def refresh(self, force: bool = False, wait: bool = True) -> bool:
        """Brings the cache up to the head as of this call; True when it did.

        Syncs run at most once per `min_refresh_interval`: a caller waits for the next slot (or,
        with `wait=False`, gives up at once), so a flood of unknown device ids or bad signatures
        costs one sync per interval, not one per reading. A caller whose request was covered by a
        sync that started after it does not sync again.
        """
        requested = self.clock()
        if not force:
            delay = self._last_refresh + self.min_refresh_interval - requested
            if delay > 0:
                if not wait:
                    return False
                time.sleep(delay)
        with self._sync_lock:
            if self._last_refresh >= requested:
                return True
            self.sync()
        return True

    def sync(self) -> int:
        """Applies the events up to the head; returns how many were applied."""
        with self._sync_lock:
            self._last_refresh = self.clock()
            if self._last_seen is not None and self._reorganized():
                log.warning("registry cache: reorg below its last block, rebuilding")
                with self._lock:
                    self.state = RegistryState()
                self._next_block = self.start_block
                self._last_seen = None
            head = self.w3.eth.get_block("latest")
            head_number = int(head["number"])
            applied = 0
            while self._next_block <= head_number:
                to_block = min(self._next_block + self.chunk_size - 1, head_number)
                applied += self._apply_range(self._next_block, to_block)
                self._next_block = to_block + 1
            self._last_seen = (head_number, bytes(head["hash"]))
            self.synced_at = time.time()
            if applied:
                log.debug("registry cache synced", extra={"events": applied, "block": head_number})
            return applied

    def snapshot(self) -> bytes:
        """The cache as JSON bytes, for `restore` in a later process: a gateway offline at its start
        checks readings against the registry as it last saw it (`synced_at` tells when)."""
        with self._sync_lock, self._lock:
            return json.dumps(
                {"version": 2, "registry": self.registry.address, "start_block": self.start_block,
                 "devices": state_to_json(self.state), "next_block": self._next_block,
                 "last_seen": None if self._last_seen is None else [self._last_seen[0], self._last_seen[1].hex()],
                 "synced_at": self.synced_at}
            ).encode()  # fmt: skip

    def restore(self, data: bytes) -> bool:
        """Takes up a `snapshot` of this registry; False, changing nothing, for a snapshot of another
        registry, another format, or anything unreadable (the cache then starts empty and syncs)."""
        try:
            saved = json.loads(data)
            if saved.get("version") != 2 or saved.get("registry") != self.registry.address:
                return False
            state = state_from_json(saved["devices"])
            seen = saved["last_seen"]
            last_seen = None if seen is None else (int(seen[0]), bytes.fromhex(seen[1]))
            next_block, synced_at = int(saved["next_block"]), saved["synced_at"]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("registry snapshot unreadable; starting from the chain")
            return False
        with self._sync_lock, self._lock:
            self.state, self._next_block, self._last_seen = state, next_block, last_seen
            self.synced_at = None if synced_at is None else float(synced_at)
        return True

    def _reorganized(self) -> bool:
        assert self._last_seen is not None
        number, block_hash = self._last_seen
        block = self.w3.eth.get_block(number)
        return bytes(block["hash"]) != block_hash

    def _apply_range(self, from_block: int, to_block: int) -> int:
        """Decodes the range's logs and reads their blocks' times first, then applies them all at
        once: a failure half-way applies nothing, so a retry never applies an event twice."""
        logs = self.w3.eth.get_logs({"address": self.registry.address, "fromBlock": from_block, "toBlock": to_block})
        decoded_events = []
        for entry in logs:
            event = self._decoders.get(bytes(entry["topics"][0]))
            if event is None:
                continue
            decoded_events.append((event.name, event.decode(entry), int(entry["blockNumber"])))
        times = self._block_times(logs)
        with self._lock:
            for name, args, number in decoded_events:
                self.state.apply(name, args, number, times[number])
        return len(logs)

    def _block_times(self, logs: list[Any]) -> dict[int, int]:
        """The time of each block holding one of `logs`: the `blockTimestamp` nodes put in logs
        (anvil, geth), else each block asked for, in batches of `_BLOCKS_PER_BATCH` where the
        provider carries batches and the node takes them, one by one otherwise."""
        times: dict[int, int] = {}
        for entry in logs:
            stamp = entry.get("blockTimestamp")
            if stamp is not None:
                times[int(entry["blockNumber"])] = int(stamp, 0) if isinstance(stamp, str) else int(stamp)
        missing = sorted({int(entry["blockNumber"]) for entry in logs} - times.keys())
        if isinstance(self.w3.provider, Web3Transport):
            times |= _batched_block_times(self.w3.provider.rpc, missing)
        return times | {n: int(self.w3.eth.get_block(n)["timestamp"]) for n in missing if n not in times}

    def run(self, stop: threading.Event, poll: float, recorder: HealthRecorder | None = None) -> None:
        """Follows the head until `stop` is set, by the loop policy (`core.loops`)."""

        def step() -> bool:
            self.refresh(force=True)
            return False

        run_loop("registry", step, stop, poll, recorder)
