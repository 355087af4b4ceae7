"""Supervision of the processes `provenance up` runs: the batcher, the indexer, the oracle daemon,
the worker, the extra API servers and the managed chain.

A child that exits while the service runs is started again after a backoff that doubles from
`RESTART_DELAY` up to `RESTART_CAP` and starts over once the child has run for `STABLE` seconds.
Each exit is one structured log line; each child's restarts, whether it is up and how often it
exited in a row go to the `loop_health` table as the component `process:NAME`, which `/readyz`
and `/metrics` (`provenance_component_restarts`) read, whichever API process answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from ledger_service.core.loops import HEARTBEAT, SUPERVISED, Backoff, HealthRecorder, LoopHealth

log = logging.getLogger(__name__)

RESTART_DELAY = 0.5
RESTART_CAP = 30.0
#: Seconds a restarted child must run before its next exit waits `RESTART_DELAY` again.
STABLE = 60.0


class Child(Protocol):
    """What the supervisor needs of a started child."""

    @property
    def pid(self) -> int | None: ...

    def poll(self) -> int | None: ...


@dataclass
class Supervised:
    """One child: how to start and stop it, and what happened to it."""

    name: str
    start: Callable[[], Child]
    stop: Callable[[Child], None]
    child: Child | None = None
    started_at: float = 0.0
    restarts: int = 0
    due: float | None = None  # when an exited child is started again
    health: LoopHealth = field(init=False)
    backoff: Backoff = field(default_factory=lambda: Backoff(RESTART_DELAY, RESTART_CAP))

    def __post_init__(self) -> None:
        self.health = LoopHealth(SUPERVISED + self.name)


class Supervisor:
    """Starts children, watches them and restarts those that exit, until stopped."""

    def __init__(self, recorder: HealthRecorder | None = None, poll: float = 0.25) -> None:
        self.recorder = recorder
        self.poll = poll
        self.children: list[Supervised] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._recorded = 0.0

    def add(
        self, name: str, start: Callable[[], Child], stop: Callable[[Child], None], child: Child | None = None
    ) -> Supervised:
        """Watches a child from now on: `child` when it is already running, else one `start`
        starts now (a failure to start it raises)."""
        entry = Supervised(name, start, stop)
        entry.child = start() if child is None else child
        entry.started_at = entry.health.last_ok_at = time.time()
        with self._lock:
            self.children.append(entry)
        self._record(entry)
        return entry

    def check(self, now: float | None = None) -> None:
        """One round: notes children that exited and starts those whose backoff is over."""
        now = time.time() if now is None else now
        for entry in list(self.children):
            if self._stopping.is_set():
                return
            if entry.child is not None and (status := entry.child.poll()) is not None:
                self._exited(entry, status, now)
            elif entry.child is not None and entry.health.consecutive and now - entry.started_at >= STABLE:
                entry.backoff.reset()  # it has run long enough: its exits in a row are over
                entry.health.consecutive = 0
                self._record(entry)
            if entry.child is None and entry.due is not None and now >= entry.due:
                self._restart(entry, now)
        if now - self._recorded >= HEARTBEAT:
            self._recorded = now
            for entry in self.children:
                self._record(entry)

    def _exited(self, entry: Supervised, status: int, now: float) -> None:
        delay = entry.backoff.next()
        entry.child, entry.due = None, now + delay
        entry.health.consecutive += 1
        entry.health.last_error = f"ChildExited: exited with status {status}"
        entry.health.last_failure_at = now
        log.warning(
            "component exited; restarting",
            extra={"component": entry.name, "status": status, "retry_in": round(delay, 2), "restarts": entry.restarts},
        )
        self._record(entry)

    def _restart(self, entry: Supervised, now: float) -> None:
        try:
            entry.child = entry.start()
        except Exception as exc:  # noqa: BLE001 - a child that cannot start yet is tried again later
            delay = entry.backoff.next()
            entry.due = now + delay
            entry.health.consecutive += 1
            entry.health.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("component did not start", extra={"component": entry.name, "error": str(exc)})
            self._record(entry)
            return
        entry.due = None
        entry.restarts += 1
        entry.health.failures = entry.restarts
        entry.started_at = entry.health.last_ok_at = time.time()
        log.info(
            "component restarted", extra={"component": entry.name, "pid": entry.child.pid, "restarts": entry.restarts}
        )
        self._record(entry)

    def _record(self, entry: Supervised) -> None:
        if self.recorder is not None:
            if entry.child is not None and entry.child.poll() is None:
                entry.health.last_ok_at = time.time()
            self.recorder.record(entry.health)

    def run(self, stop: threading.Event) -> None:
        """Checks the children every `poll` seconds until `stop` is set."""
        while not stop.wait(self.poll):
            try:
                self.check()
            except Exception:  # the supervisor itself must not die
                log.exception("supervision round failed")

    def stop_all(self) -> None:
        """Stops every child, the last started first; none is restarted from now on."""
        self._stopping.set()
        with self._lock:
            entries = list(reversed(self.children))
        for entry in entries:
            if entry.child is not None:
                entry.stop(entry.child)
                entry.child = None


@contextmanager
def supervising(recorder: HealthRecorder | None = None, poll: float = 0.25) -> Iterator[Supervisor]:
    """A supervisor watching its children in a thread for the context. On exit every child is
    stopped (none is restarted from then on) before the thread ends: children it restarted die with
    the thread that started them (`die_with_parent`), and should be stopped in order first."""
    supervisor = Supervisor(recorder, poll)
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop,), name="supervisor", daemon=True)
    thread.start()
    try:
        yield supervisor
    finally:
        stop.set()
        supervisor.stop_all()
        thread.join(timeout=10)
