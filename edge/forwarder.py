"""Forwarding: the gateway's readings go upstream (`POST /v1/readings/batch`), oldest first, each
device's in sequence order; a reading counts as forwarded once upstream answers it stored or a
duplicate (committed there). A refusal that may pass later stops the round and the reading waits;
any other is recorded with its code and the rest go on. Nothing is marked before upstream answered,
so a crash of either side at any point forwards again what may not have landed, and upstream
answers it as a duplicate."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from edge.store import EdgeStore, PendingReading
from ledger_service.core.errors import ProvenanceError
from ledger_service.core.loops import HealthRecorder, run_loop
from provenance_device.http import HttpTransport
from provenance_device.outcome import CONFIRMED, RETRYABLE_CODES, Outcome, SplitBatch, TooLarge, TransportError

log = logging.getLogger(__name__)
#: Seconds between checks that no unanswered reading sits behind the cursor (a full scan).
AUDIT_EVERY = 60.0


class ForwardingPaused(ProvenanceError):
    """Upstream is out of reach, busy, or refuses a reading for now: the round stops; the loop tries again."""

    code = "forwarding-paused"
    status = 503
    title = "Forwarding paused"


@dataclass
class ForwardReport:
    """What one round did."""

    forwarded: int = 0
    refused: int = 0
    error: str | None = None
    retry_after: float | None = None


class Forwarder:
    """Sends the gateway's pending readings upstream."""

    def __init__(self, store: EdgeStore, transport: HttpTransport, batch_size: int = 500) -> None:
        self.store = store
        self.transport = transport
        self.batch_size = batch_size
        self.last_error: str | None = None
        self._floor = 2**63
        self._audited = time.monotonic()

    def forward_once(self) -> ForwardReport:
        """Forwards until nothing is pending or something fails. A device with a reading upstream
        refuses for now is left out for the rest of the round, so it holds up no other device."""
        report, size = ForwardReport(), self.batch_size
        held: set[str] = set()
        self._floor = 2**63  # the cursor stays below the first reading that waits, all round long
        while pending := self.store.pending(size, skip=held):
            try:
                outcomes = self.transport.send([p.body for p in pending])
            except (TooLarge, SplitBatch) as exc:
                if size == 1:
                    report.error = f"upstream refuses even one reading: {exc}"
                    break
                size = max(1, size // 2)
                continue
            except TransportError as exc:
                report.error, report.retry_after = str(exc), exc.retry_after
                break
            if not self._settle(pending, outcomes, report, held):
                break
        if time.monotonic() - self._audited > AUDIT_EVERY:
            self._audited = time.monotonic()
            if self.store.behind_cursor():  # rowids renumbered (a VACUUM): start over from the first
                log.warning("readings pending behind the forwarding cursor; scanning from the start")
                self.store.mark([], 0)
        self.last_error = report.error
        return report

    def _settle(self, pending: list[PendingReading], outcomes: list[Outcome], report: ForwardReport,
                held: set[str]) -> bool:  # fmt: skip
        """Records upstream's answers; False (nothing recorded) when an answer names another reading."""
        answers: list[tuple[str, str, str | None, str | None]] = []
        for reading, outcome in zip(pending, outcomes, strict=True):
            if outcome.status in CONFIRMED and (outcome.id or "").lower() != reading.id.lower():
                report.error = f"upstream's answer for {reading.id} names {outcome.id}: not believed"
                return False
        for reading, outcome in zip(pending, outcomes, strict=True):
            device = str(reading.body["device_id"])
            if outcome.status in CONFIRMED:
                answers.append((reading.id, "forwarded", None, None))
                report.forwarded += 1
            elif outcome.code in RETRYABLE_CODES:
                self._floor = min(self._floor, reading.position - 1)
                held.add(device)
                report.error = f"upstream refused {reading.id} for now: {outcome.code}: {outcome.detail}"
            else:
                answers.append((reading.id, "refused", outcome.code, outcome.detail))
                report.refused += 1
                log.warning("upstream refused a reading", extra={"reading": reading.id, "code": outcome.code})
        self.store.mark(answers, min(pending[-1].position, self._floor))
        return True

    def step(self) -> bool:
        """One round, as a step of `core.loops.run_loop`: a round that could not finish is a failed
        step (`ForwardingPaused`), so the loop backs off by the project's one policy."""
        report = self.forward_once()
        if report.error is not None:
            raise ForwardingPaused(report.error, retry_after=report.retry_after)
        return False

    def run(self, stop: threading.Event, interval: float = 0.5, recorder: HealthRecorder | None = None) -> None:
        """Forwards every `interval` seconds until `stop` is set; after failures backs off (doubling
        from `interval` to 30 s) by `core.loops`."""
        run_loop("edge-forward", self.step, stop, interval, recorder)
