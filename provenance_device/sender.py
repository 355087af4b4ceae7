"""The buffered sender: sign, keep, send in order, retry with backoff.

`record` signs a reading with the device's next sequence and stores it in the outbox before it
returns; `flush` sends what is pending, oldest first, and removes what the service confirmed;
`run` flushes until stopped, backing off (capped, with jitter) while the link or the service is down.
A crash of the device or of the service loses nothing the device recorded, and sends nothing twice
into the ledger: a reading sent again is answered as a duplicate.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from provenance_device.eip712 import ZERO_HASH, Domain, Reading
from provenance_device.keys import DeviceKey
from provenance_device.outbox import Outbox
from provenance_device.outcome import CONFIRMED, RETRYABLE_CODES, Outcome, SplitBatch, TooLarge, TransportError

log = logging.getLogger("provenance_device")


class Transport(Protocol):
    """Sends signed reading bodies; one `Outcome` per body, or raises `TransportError`."""

    def send(self, bodies: list[dict[str, Any]]) -> list[Outcome]: ...


@dataclass
class FlushReport:
    """What one flush did."""

    confirmed: int = 0
    refused: int = 0
    pending: int = 0
    error: str | None = None
    retry_after: float | None = None


class Sender:
    """Signs a device's readings, keeps them in its outbox and sends them through a transport."""

    def __init__(
        self,
        key: DeviceKey,
        device_id: bytes,
        domain: Domain,
        outbox: Outbox,
        transport: Transport,
        batch_size: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(device_id) != 32:
            raise ValueError("device_id is 32 bytes")
        self.key, self.device_id, self.domain = key, device_id, domain
        self.outbox, self.transport = outbox, transport
        self.batch_size, self.clock = batch_size, clock

    def record(
        self, metric: str, value: int, scale: int = 0, unit: str = "", payload_hash: bytes = ZERO_HASH,
        timestamp: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Signs the next reading and keeps it (durably) until it is confirmed; returns its body."""
        when = int(self.clock()) if timestamp is None else timestamp

        def sign(sequence: int) -> dict[str, Any]:
            reading = Reading(self.device_id, sequence, when, metric, value, scale, unit, payload_hash)
            return reading.body(self.key.sign(reading.digest(self.domain)))

        return self.outbox.add(sign)

    def flush(self) -> FlushReport:
        """Sends every pending reading, batch by batch in sequence order, until done or a failure."""
        report = FlushReport()
        size = self.batch_size
        while bodies := self.outbox.pending(size):
            try:
                outcomes = self.transport.send(bodies)
            except (TooLarge, SplitBatch) as exc:
                if size == 1:
                    report.error = f"the service refuses even one reading: {exc}"
                    break
                size = max(1, size // 2)
                continue
            except TransportError as exc:
                report.error, report.retry_after = str(exc), exc.retry_after
                break
            if not self._settle(bodies, outcomes, report):
                break
        report.pending = len(self.outbox)
        return report

    def _settle(self, bodies: list[dict[str, Any]], outcomes: list[Outcome], report: FlushReport) -> bool:
        """Confirms and refuses per outcome; False when a reading must wait (a refusal that may pass,
        or a confirmation that names another reading than the one sent: not believed)."""
        done = []
        for body, outcome in zip(bodies, outcomes, strict=True):
            if outcome.status in CONFIRMED and outcome.status != "accepted":
                expected = Reading.from_body(body).reading_id(self.domain, bytes.fromhex(body["signature"][2:]))
                if (outcome.id or "").lower() != expected:
                    report.error = f"the answer for reading {outcome.sequence} names {outcome.id}, not {expected}"
                    return False
            if outcome.status in CONFIRMED:
                done.append(outcome.sequence)
        self.outbox.confirm(done)
        report.confirmed += len(done)
        waiting = False
        for outcome in outcomes:
            if outcome.status in CONFIRMED:
                continue
            if outcome.code in RETRYABLE_CODES:
                waiting = True
                report.error = f"reading {outcome.sequence} refused for now: {outcome.code}: {outcome.detail}"
                continue
            self.outbox.refuse(outcome.sequence, outcome.code, outcome.detail)
            report.refused += 1
            log.warning("reading refused", extra={"sequence": outcome.sequence, "code": outcome.code})
        return not waiting

    def run(self, stop: threading.Event, interval: float = 1.0, max_backoff: float = 60.0) -> None:
        """Flushes every `interval` seconds until `stop` is set; after a failure waits 2^n * interval
        (at most `max_backoff`, or what the service asked for), with jitter."""
        failures = 0
        while not stop.is_set():
            try:
                report = self.flush()
            except Exception as exc:  # noqa: BLE001 - the outbox or an answer failed: keep the loop alive
                log.exception("flush failed")
                report = FlushReport(error=f"flush failed: {exc}")
            if report.error is None:
                failures = 0
                stop.wait(interval)
                continue
            failures += 1
            wait = min(max_backoff, interval * 2 ** min(failures, 16)) * random.uniform(0.5, 1.0)
            if report.retry_after is not None:
                wait = max(wait, report.retry_after)
            log.info("send failed; retrying", extra={"error": report.error, "wait": round(wait, 2)})
            stop.wait(wait)
