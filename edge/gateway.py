"""The gateway's parts: its SQLite database, its copy of the device registry (kept on disk, so it
checks readings offline against the registry as last seen), an ingestor that notes the copy's age,
and the forwarder."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Engine
from web3 import Web3

from edge.aggregate import Aggregator
from edge.forwarder import Forwarder
from edge.proofs import EdgeProofs
from edge.store import EdgeStore
from ledger_service.core.chain.manifest import Deployment
from ledger_service.core.errors import ProvenanceError, ReadingRejected
from ledger_service.core.keys import DeviceKey
from ledger_service.core.loops import HealthRecorder, run_loop
from ledger_service.core.readings import Domain, Reading
from ledger_service.services.devices import default_device_id
from ledger_service.services.ingest import Ingestor, ItemResult
from ledger_service.services.proofs import ProofService
from ledger_service.services.registry import RegistryCache
from provenance_device.http import HttpTransport

log = logging.getLogger(__name__)
SNAPSHOT = "registry-snapshot"
STALE_SIGNATURE_CODES = frozenset({"invalid-signature", "key-rotated"})


class RegistryUnreachable(ProvenanceError):
    """The chain could not be reached for the registry: the last copy stays in use."""

    code = "registry-unreachable"
    status = 503
    title = "Registry unreachable"


class RegistryStale(ReadingRejected):
    """The gateway's registry copy could not be brought up to date, and the reading's signature does
    not match the key the copy holds: the device may have rotated its key meanwhile. Try again later."""

    code = "registry-stale"
    status = 503
    title = "Registry copy out of date"


class EdgeRegistry(RegistryCache):
    """The registry copy of a gateway whose link comes and goes: a sync that cannot reach the chain
    leaves the copy as it was and reports False, so a reading of a device the copy does not hold
    is refused as `unknown-device` (a device keeps such a reading and sends it again), never failed.
    After a failed sync, on-demand syncs (for an unknown device, a key the copy lacks) are not tried
    again for `RETRY_AFTER` seconds, so a flood of unknown ids does not hold threads on a dead link."""

    RETRY_AFTER = 5.0
    last_error: str | None = None
    _failed_at = float("-inf")

    def refresh(self, force: bool = False, wait: bool = True) -> bool:
        if not force and self.last_error is not None and time.monotonic() - self._failed_at < self.RETRY_AFTER:
            return False
        try:
            done = super().refresh(force, wait)
        except Exception as exc:  # noqa: BLE001 - the chain is out of reach: offline
            self.last_error, self._failed_at = str(exc)[:300], time.monotonic()
            log.info("registry not reachable; using the last copy", extra={"error": self.last_error})
            return False
        self.last_error = None
        return done


class EdgeIngestor(Ingestor):
    """The service's ingestor (same checks, same storage, same answers), noting for each stored
    reading how old the registry copy it was checked against was."""

    def __init__(self, *args: Any, store: EdgeStore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store = store
        #: Called with (reading id, reading, time taken in) of the readings each call stored, after
        #: they are committed (local rules); an observer's failure is logged, never the ingest's.
        self.observers: list[Callable[[list[tuple[str, Reading, float]]], object]] = []

    def registry_age(self) -> float | None:
        """Seconds since the registry copy last reached the chain's head (None: never)."""
        synced = self.registry.synced_at
        return None if synced is None else max(0.0, time.time() - synced)

    def ingest_many(self, items: Sequence[tuple[Reading, bytes]], max_bad: int | None = None) -> list[ItemResult]:
        results = [self._stale_if_offline(r) for r in super().ingest_many(items, max_bad)]
        stored = [r.reading_id for r in results if r.status == "stored" and r.reading_id is not None]
        self.store.record_ages(stored, self.registry_age())
        if self.observers and stored:
            now = time.time()
            taken = [(r.reading_id, item[0], now) for r, item in zip(results, items, strict=True)
                     if r.status == "stored" and r.reading_id is not None]  # fmt: skip
            for observer in self.observers:
                try:
                    observer(taken)
                except Exception:  # noqa: BLE001 - the readings are kept whatever an observer does
                    log.exception("an observer of stored readings failed")
        return results

    def _stale_if_offline(self, result: ItemResult) -> ItemResult:
        """A signature refused against a copy that could not be refreshed is refused for now only."""
        registry = self.registry
        if result.error is None or result.error.code not in STALE_SIGNATURE_CODES:
            return result
        if not isinstance(registry, EdgeRegistry) or registry.last_error is None:
            return result
        return ItemResult("refused", error=RegistryStale(f"{result.error.detail} (the registry copy is out of date)"))


class Gateway:
    """One edge gateway."""

    def __init__(
        self,
        engine: Engine,
        w3: Web3,
        deployment: Deployment,
        registry_abi: list[dict[str, Any]],
        upstream_url: str,
        forward_batch: int = 500,
        max_clock_skew: float = 300.0,
        max_reading_age: float = 86_400.0,
        verify_processes: int = 0,
        key: DeviceKey | None = None,
        gateway_id: bytes | None = None,
        aggregate_max: int = 10_000,
    ) -> None:
        """With `key` (and the id it is registered under), the gateway aggregates: it seals what it
        holds under roots it signs, and forwards those instead of each reading."""
        if engine.dialect.name != "sqlite":
            raise ValueError("the gateway keeps its readings in SQLite (its forwarding order is SQLite's rowid)")
        self.engine = engine
        self.store = EdgeStore(engine)
        registry = deployment.contracts["DeviceRegistry"]
        contract = w3.eth.contract(address=Web3.to_checksum_address(registry.address), abi=registry_abi)
        self.registry = EdgeRegistry(contract, registry.block_number, min_refresh_interval=1.0)
        saved = self.store.load(SNAPSHOT)
        if saved is not None and self.registry.restore(saved):
            log.info("registry copy restored", extra={"synced_block": self.registry.synced_block})
        self.domain = Domain(deployment.chain_id, registry.address)
        self.ingestor = EdgeIngestor(
            engine, self.domain, self.registry, max_clock_skew=max_clock_skew, max_reading_age=max_reading_age,
            verify_processes=verify_processes, store=self.store,
        )  # fmt: skip
        self.forwarder = Forwarder(self.store, HttpTransport(upstream_url), batch_size=forward_batch)
        self.refreshers: list[Callable[[], None]] = []
        self.aggregator: Aggregator | None = None
        if key is not None:
            own_id = gateway_id or default_device_id(key.public_key)
            self.aggregator = Aggregator(
                self.store, self.ingestor, self.domain, key, own_id, self._fresh, max_readings=aggregate_max
            )
            self.store.aggregating = True
        self.proofs: EdgeProofs | None = None
        if self.aggregator is not None or self.store.has_roots():  # proofs of earlier roots stay served
            proofs = ProofService(engine, deployment, self.domain, self.registry)
            self.proofs = EdgeProofs(engine, self.store, proofs, upstream_url)
        self._saved_block = self.registry.synced_block
        self._synced = False

    def _fresh(self) -> bool:
        """Whether the registry copy reached the chain since the gateway started, and on its last try
        (sealing waits for that: never against a copy restored from disk alone)."""
        return self._synced and self.registry.last_error is None

    def sync_registry(self) -> bool:
        """Brings the registry copy to the chain's head and keeps it on disk; False when the chain
        cannot be reached (the copy stays as it was)."""
        if not self.registry.refresh(force=True):
            return False
        self._synced = True
        if self.registry.synced_block != self._saved_block:
            self.store.save(SNAPSHOT, self.registry.snapshot())
            self._saved_block = self.registry.synced_block
        return True

    def status(self) -> dict[str, Any]:
        """Counts, the registry copy's age and upstream's last error, as JSON."""
        counts = self.store.counts()
        return {
            "pending": counts.pending,
            "forwarded": counts.forwarded,
            "refused_upstream": counts.refused,
            "aggregated": counts.aggregated,
            "gateway_id": None if self.aggregator is None else self.aggregator.gateway_id,
            "aggregation_stopped": None if self.aggregator is None else self.aggregator.fallen_back,
            "registry_synced_block": self.registry.synced_block,
            "registry_age": self.ingestor.registry_age(),
            "upstream_error": self.forwarder.last_error,
        }

    def registry_step(self) -> bool:
        """One registry sync, as a step of `core.loops.run_loop` (a failed sync is a failed step);
        after it, the other copies of chain state (`refreshers`: the local rules) are brought up to date."""
        if not self.sync_registry():
            raise RegistryUnreachable(self.registry.last_error or "the chain did not answer")
        for refresh in self.refreshers:
            try:
                refresh()
            except Exception as exc:  # noqa: BLE001 - the last copy stays in use
                log.warning("a copy of chain state could not be refreshed", extra={"error": str(exc)[:200]})
        return False

    def run(self, stop: threading.Event, registry_poll: float = 5.0, forward_interval: float = 0.5,
            aggregate_every: float = 10.0) -> None:  # fmt: skip
        """Keeps the registry copy fresh, seals roots every `aggregate_every` seconds (when it
        aggregates) and forwards, until `stop` is set; each loop by `core.loops`, their health in the
        gateway's `loop_health` table."""
        recorder = HealthRecorder(self.engine)
        loops = [
            threading.Thread(target=self.forwarder.run, args=(stop, forward_interval, recorder), name="edge-forward")
        ]
        if self.aggregator is not None:
            args = ("edge-aggregate", self.aggregator.step, stop, aggregate_every, recorder)
            loops.append(threading.Thread(target=run_loop, args=args, name="edge-aggregate"))
        for loop in loops:
            loop.start()
        try:
            run_loop("edge-registry", self.registry_step, stop, registry_poll, recorder)
        finally:
            stop.set()
            for loop in loops:
                loop.join()

    def close(self) -> None:
        """Releases the database and the verification processes."""
        self.ingestor.close()
        self.engine.dispose()
