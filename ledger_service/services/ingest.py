"""Ingest: check a signed reading against the device registry, then store it durably.

`reading_checks` runs the checks that need no database (time, device, signature, key period,
suspension); the device's rate limit follows; `reading_store` then enforces each device's order
and writes. The answer is given after the commit. The same signed reading posted again is answered
with the stored one and stores nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine

from ledger_service.core.errors import RateLimited, ReadingRejected
from ledger_service.core.ratelimit import RateLimiter
from ledger_service.core.readings import Domain, Reading
from ledger_service.services.reading_checks import (
    ON_REQUEST_THREAD,
    ReadingChecks,
    TimePolicy,
    VerifiedReading,
    key_label,
)
from ledger_service.services.reading_store import IngestResult, ItemResult, ReadingStore
from ledger_service.services.registry import RegistryCache

__all__ = [
    "ON_REQUEST_THREAD",
    "IngestResult",
    "Ingestor",
    "ItemResult",
    "TimePolicy",
    "VerifiedReading",
    "key_label",
]


class Ingestor:
    """Verifies and stores readings."""

    def __init__(
        self,
        engine: Engine,
        domain: Domain,
        registry: RegistryCache,
        max_clock_skew: float = 300.0,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
        verify_processes: int = 0,
        max_reading_age: float = 86_400.0,
        strict_time_order: bool = False,
        accept_late: bool = False,
    ) -> None:
        self.engine = engine
        self.domain = domain
        self.registry = registry
        self.policy = TimePolicy(max_clock_skew, max_reading_age, strict_time_order, clock, accept_late)
        self.checks = ReadingChecks(domain, registry, self.policy, verify_processes)
        self.storage = ReadingStore(engine, self.policy)
        self.limiter = limiter

    def warm_up(self) -> None:
        """Starts the signature-checking processes now rather than at the first large batch."""
        self.checks.warm_up()

    def close(self) -> None:
        """Stops the signature-checking processes."""
        self.checks.close()

    def ingest(self, reading: Reading, signature: bytes) -> IngestResult:
        """Verifies `reading` and stores it; returns the stored row and whether it is new."""
        verified = self.checks.verify(reading, signature)
        self._check_rate(reading.device_id, 1)
        return self.storage.store(verified)

    def _check_rate(self, device_id: bytes, count: int) -> None:
        if self.limiter is None:
            return
        wait = self.limiter.take(device_id, count)
        if wait:
            raise RateLimited(
                f"device 0x{device_id.hex()} sends faster than {self.limiter.rate:g} readings/s; retry in {wait:.1f}s",
                retry_after=round(wait, 1),
            )

    def ingest_many(self, items: Sequence[tuple[Reading, bytes]], max_bad: int | None = None) -> list[ItemResult]:
        """Verifies and stores a batch: every reading gets its own result; the good ones are stored
        together in one transaction, committed before this returns (nothing when more than
        `max_bad` signatures fail: `TooManyBadSignatures`)."""
        checked = self.checks.verify_many(items, max_bad)
        results: list[ItemResult | None] = [None] * len(items)
        per_device: dict[bytes, list[tuple[int, VerifiedReading]]] = {}
        for index, outcome in enumerate(checked):
            if isinstance(outcome, ReadingRejected):
                results[index] = ItemResult("refused", error=outcome)
            else:
                per_device.setdefault(outcome.reading.device_id, []).append((index, outcome))
        accepted: list[tuple[int, VerifiedReading]] = []
        for device_id, verified in per_device.items():
            try:
                self._check_rate(device_id, len(verified))
            except RateLimited as exc:
                for index, _ in verified:
                    results[index] = ItemResult("refused", error=exc)
                continue
            accepted.extend(verified)
        for index, result in self.storage.store_many(accepted).items():
            results[index] = result
        return [r if r is not None else ItemResult("refused") for r in results]
