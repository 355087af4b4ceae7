"""What the MQTT ingest does with one message: each reading validated, the valid ones verified and
stored together, and one result per reading, in order (docs/mqtt.md)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ledger_service.app.api.schemas import ReadingIn
from ledger_service.app.mqtt_payload import Refused, parse_payload, validate_reading
from ledger_service.core.errors import TooManyBadSignatures
from ledger_service.core.loops import Backoff
from ledger_service.services.ingest import Ingestor, ItemResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttIngestStats:
    """Counters since construction: messages taken off the topics, and what became of each reading.

    A message that cannot be read at all (not JSON, not an object or array) counts as one
    refused reading. `retries` counts attempts that failed unexpectedly and were repeated.
    """

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    retries: int = 0


class Stopping(Exception):
    """The ingest was told to stop while retrying: the message is left unacknowledged."""


class Counters:
    """`MqttIngestStats`, counted from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = MqttIngestStats()

    def count(self, **increments: int) -> None:
        with self._lock:
            values = {name: getattr(self._stats, name) + n for name, n in increments.items()}
            self._stats = replace(self._stats, **values)

    @property
    def snapshot(self) -> MqttIngestStats:
        with self._lock:
            return self._stats


@dataclass
class MessageHandler:
    """Turns one message's payload into one result per reading, storing the valid readings.

    `wait(seconds)` sleeps between retries and returns True when the ingest is stopping.
    """

    ingestor: Ingestor
    counters: Counters
    wait: Callable[[float], bool]
    max_batch: int = 1000
    max_bad_signatures: int | None = None
    retry_delay: float = 0.5
    max_retry_delay: float = 30.0

    def results(self, payload: bytes | bytearray, device: str, topic: str) -> list[dict[str, Any]]:
        """One result per reading of the message, in order; the valid readings are verified and
        stored together (`Ingestor.ingest_many`, one transaction)."""
        try:
            items = parse_payload(payload, self.max_batch)
        except Refused as refused:
            return [self._refused(topic, refused)]
        results: list[dict[str, Any] | None] = [None] * len(items)
        valid: list[tuple[int, ReadingIn]] = []
        for index, item in enumerate(items):
            try:
                valid.append((index, validate_reading(item, device)))
            except Refused as refused:
                results[index] = self._refused(topic, refused)
        try:
            outcomes = self._ingest_many([body for _, body in valid]) if valid else []
        except TooManyBadSignatures as exc:  # checking stopped: the whole message is refused, nothing stored
            for index, body in valid:
                results[index] = self._refused(topic, Refused(exc.code, exc.detail, body.sequence))
            return [r for r in results if r is not None]
        for (index, body), outcome in zip(valid, outcomes, strict=True):
            if outcome.error is not None:
                results[index] = self._refused(topic, Refused(outcome.error.code, outcome.error.detail, body.sequence))
                continue
            self.counters.count(**({"stored": 1} if outcome.status == "stored" else {"duplicates": 1}))
            results[index] = {
                "id": outcome.reading_id, "status": outcome.status, "code": None, "detail": None,
                "sequence": body.sequence,
            }  # fmt: skip
        return [r for r in results if r is not None]

    def _ingest_many(self, bodies: list[ReadingIn]) -> list[ItemResult]:
        """`Ingestor.ingest_many`, repeated with backoff while it fails for reasons other than the readings."""
        backoff = Backoff(self.retry_delay, self.max_retry_delay)
        while True:
            try:
                registry = self.ingestor.registry
                if not registry.knows({bytes.fromhex(b.device_id[2:]) for b in bodies}):
                    registry.refresh()  # this worker thread may wait for the registry's next sync slot
                return self.ingestor.ingest_many(
                    [(b.to_reading(), b.signature_bytes()) for b in bodies], self.max_bad_signatures
                )
            except TooManyBadSignatures:
                raise
            except Exception as exc:  # noqa: BLE001 - database or chain trouble: retry, never acknowledge
                self.counters.count(retries=1)
                delay = backoff.next()
                log.warning(
                    "mqtt readings not stored, retrying",
                    extra={"component": "mqtt", "error_type": type(exc).__name__, "error": str(exc), "retry_in": delay},
                )
            if self.wait(delay):
                raise Stopping

    def _refused(self, topic: str, refused: Refused) -> dict[str, Any]:
        self.counters.count(refused=1)
        log.warning("mqtt reading refused", extra={"topic": topic, "code": refused.code, "detail": refused.detail})
        return {
            "id": None,
            "status": "refused",
            "code": refused.code,
            "detail": refused.detail,
            "sequence": refused.sequence,
        }
