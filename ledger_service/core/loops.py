"""One loop policy for every long-running part: the batcher, the indexer, the oracle daemon, the
registry follower and the MQTT ingest worker.

A loop calls its `step` until told to stop. A step answers whether it did work (then the next one
starts at once) or found nothing to do (then the loop waits `poll` seconds). A failed step is
judged by its type (`retryable`): a fatal error (wrong configuration, another chain than the
mirror's, a missing toolchain) ends the loop and is raised to the caller, so the process exits
and its supervisor sees it; anything else is retried after a backoff that doubles from `poll` up to
a cap and starts over after the first good step. Each failure is one structured log line
(component, error type, redacted message, attempt, retry delay); each loop's health (failures,
consecutive failures, last error, last good step) goes to the `loop_health` table, which
`/metrics` and `/readyz` read, whichever process the loop runs in.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select
from web3.exceptions import Web3Exception

from ledger_service.core.errors import ProvenanceError
from ledger_service.core.models import LoopHealthRow
from ledger_service.core.redact import redact

log = logging.getLogger(__name__)
#: Failures of the outside world (the node, the database, the network): one log line, no traceback.
_EXPECTED = (ProvenanceError, OSError, SQLAlchemyError, Web3Exception)

#: The longest wait between two tries of a failing step, in seconds.
BACKOFF_CAP = 30.0
#: The prefix of the health rows of child processes that `provenance up` supervises.
SUPERVISED = "process:"
#: How often a healthy loop refreshes its `last_ok_at` in the database, in seconds.
HEARTBEAT = 10.0


def retryable(exc: Exception) -> bool:
    """Whether a loop should try again after `exc`: the project's errors say so themselves
    (`ProvenanceError.retryable`); any other exception (a refused connection, a database that went
    away, a node's error) is taken as transient."""
    return exc.retryable if isinstance(exc, ProvenanceError) else True


@dataclass
class Backoff:
    """Delays that double from `start` up to `cap`, and start over after `reset`."""

    start: float
    cap: float = BACKOFF_CAP
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = max(self.start, 0.01)
        self._next = self.start

    def next(self) -> float:
        """The delay before the next try; doubles the one after it."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return min(delay, self.cap)

    def reset(self) -> None:
        """The next failure waits `start` again."""
        self._next = self.start


@dataclass
class LoopHealth:
    """A loop's health as this process sees it."""

    component: str
    failures: int = 0
    consecutive: int = 0
    last_error: str | None = None
    last_failure_at: float | None = None
    last_ok_at: float | None = None
    fatal: bool = False


class HealthRecorder:
    """Writes loop health to the `loop_health` table (one row per component), skipping the write when
    the database itself is what failed: the log line is then the only record."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, health: LoopHealth) -> None:
        """Upserts the component's row."""
        try:
            with Session(self.engine) as session:
                component = health.component[:64]  # the column's width; daemon names are the operator's choice
                row = session.get(LoopHealthRow, component) or LoopHealthRow(component=component)
                row.pid = os.getpid()
                row.failures_total = health.failures
                row.consecutive_failures = health.consecutive
                row.fatal = health.fatal
                row.last_error = health.last_error
                row.last_failure_at = health.last_failure_at
                row.last_ok_at = health.last_ok_at
                row.updated_at = time.time()
                session.add(row)
                session.commit()
        except SQLAlchemyError as exc:
            log.debug("loop health not recorded", extra={"component": health.component, "error": redact(str(exc))})


def run_loop(
    component: str,
    step: Callable[[], bool],
    stop: threading.Event,
    poll: float,
    recorder: HealthRecorder | None = None,
    cap: float = BACKOFF_CAP,
    clock: Callable[[], float] = time.time,
) -> LoopHealth:
    """Runs `step` until `stop` is set, by the policy above; returns the loop's health at the end.
    A fatal error is recorded, logged and raised."""
    health = LoopHealth(component)
    backoff = Backoff(poll, cap)
    recorded_ok = 0.0
    log.info("loop running", extra={"component": component, "poll": poll})
    while not stop.is_set():
        try:
            busy = step()
        except Exception as exc:
            if not retryable(exc):
                _failed(health, exc, clock())
                health.fatal = True
                log.error(
                    "loop stopped by a fatal error",
                    extra={"component": component, "error_type": type(exc).__name__, "error": redact(str(exc))},
                )
                if recorder is not None:
                    recorder.record(health)
                raise
            delay = backoff.next()
            _failed(health, exc, clock())
            log.warning(
                "loop step failed",
                extra={
                    "component": component, "error_type": type(exc).__name__, "error": redact(str(exc)),
                    "attempt": health.consecutive, "retry_in": round(delay, 3),
                },
                exc_info=not isinstance(exc, _EXPECTED),  # a node's or a database's error needs no traceback
            )  # fmt: skip
            if recorder is not None:
                recorder.record(health)
            stop.wait(delay)
            continue
        now = clock()
        recovered = health.consecutive > 0
        health.consecutive, health.last_ok_at = 0, now
        backoff.reset()
        if recovered:
            log.info("loop recovered", extra={"component": component, "failures": health.failures})
        if recorder is not None and (recovered or now - recorded_ok >= HEARTBEAT):
            recorder.record(health)
            recorded_ok = now
        if not busy:
            stop.wait(poll)
    log.info("loop stopped", extra={"component": component})
    return health


def recent_health(engine: Engine, within: float = 120.0) -> list[LoopHealthRow]:
    """The health rows of loops that wrote in the last `within` seconds (a running loop writes at
    least every `HEARTBEAT` seconds when healthy and at every failure otherwise), and of loops a
    fatal error ended, however long ago, until they run again."""
    since = time.time() - within
    with Session(engine) as session:
        rows = session.exec(
            select(LoopHealthRow).where(or_(col(LoopHealthRow.updated_at) >= since, col(LoopHealthRow.fatal)))
        )
        return sorted(rows, key=lambda row: row.component)


def _failed(health: LoopHealth, exc: Exception, now: float) -> None:
    health.failures += 1
    health.consecutive += 1
    health.last_error = redact(f"{type(exc).__name__}: {exc}")[:500]
    health.last_failure_at = now
