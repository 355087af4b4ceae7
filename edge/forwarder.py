"""Forwarding: the gateway's readings go upstream (`POST /v1/readings/batch`), oldest first, each
device's in sequence order; a reading counts as forwarded once upstream answers it stored or a
duplicate (committed there). A refusal that may pass later stops the round and the reading waits;
any other is recorded with its code and the rest go on. Nothing is marked before upstream answered,
so a crash of either side at any point forwards again what may not have landed, and upstream
answers it as a duplicate."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from edge.store import EdgeStore
from ledger_service.core.errors import ProvenanceError
from ledger_service.core.loops import HealthRecorder, run_loop
from provenance_device.http import HttpTransport
from provenance_device.outcome import CONFIRMED, RETRYABLE_CODES, TooLarge, TransportError

log = logging.getLogger(__name__)


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

    def forward_once(self) -> ForwardReport:
        """Forwards until nothing is pending or something fails."""
        report, size = ForwardReport(), self.batch_size
        while pending := self.store.pending(size):
            try:
                outcomes = self.transport.send([p.body for p in pending])
            except TooLarge:
                if size == 1:
                    report.error = "upstream refuses even one reading as too large"
                    break
                size = max(1, size // 2)
                continue
            except TransportError as exc:
                report.error, report.retry_after = str(exc), exc.retry_after
                break
            answers: list[tuple[str, str, str | None, str | None]] = []
            waiting = False
            cursor = pending[-1].position  # every reading up to here answered, unless one must wait
            for reading, outcome in zip(pending, outcomes, strict=True):
                if outcome.status in CONFIRMED:
                    answers.append((reading.id, "forwarded", None, None))
                    report.forwarded += 1
                elif outcome.code in RETRYABLE_CODES:
                    if not waiting:  # the cursor stays below the first reading that waits
                        cursor = reading.position - 1
                    waiting = True
                    report.error = f"upstream refused {reading.id} for now: {outcome.code}: {outcome.detail}"
                else:
                    answers.append((reading.id, "refused", outcome.code, outcome.detail))
                    report.refused += 1
                    log.warning("upstream refused a reading", extra={"reading": reading.id, "code": outcome.code})
            self.store.mark(answers, cursor)
            if waiting:
                break
        self.last_error = report.error
        return report

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
