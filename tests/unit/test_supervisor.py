"""The supervisor of `provenance up`'s children, on real child processes: a child that dies is
started again after a backoff that grows in a crash loop and starts over once the child runs
steadily; restarts are counted; a stopped supervisor restarts nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from ledger_service.app import supervisor as supervision
from ledger_service.app.supervisor import Supervisor
from ledger_service.core.loops import HealthRecorder, LoopHealth


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "300"])


def quitter() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["false"])


def stop(child: object) -> None:
    assert isinstance(child, subprocess.Popen)
    child.kill()
    child.wait()


class Recorded(HealthRecorder):
    """Keeps what would go to the `loop_health` table."""

    def __init__(self) -> None:
        self.rows: dict[str, LoopHealth] = {}

    def record(self, health: LoopHealth) -> None:
        self.rows[health.component] = LoopHealth(**vars(health))


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    made = Supervisor(Recorded())
    try:
        yield made
    finally:
        made.stop_all()


def test_a_killed_child_is_started_again_and_counted(supervisor: Supervisor) -> None:
    entry = supervisor.add("index", sleeper, stop)
    first = entry.child
    assert first is not None and first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    assert isinstance(first, subprocess.Popen)
    first.wait()
    now = time.time()
    supervisor.check(now)
    assert entry.child is None and entry.due == pytest.approx(now + supervision.RESTART_DELAY)
    supervisor.check(now + supervision.RESTART_DELAY)
    assert entry.child is not None and entry.child.poll() is None and entry.child.pid != first.pid
    assert entry.restarts == 1
    assert isinstance(supervisor.recorder, Recorded)
    row = supervisor.recorder.rows["process:index"]
    assert row.failures == 1 and row.consecutive == 1 and "status -9" in (row.last_error or "")


def test_a_crash_loop_backs_off_up_to_the_cap(supervisor: Supervisor) -> None:
    entry = supervisor.add("oracle", quitter, stop)
    now = time.time()
    delays = []
    for _ in range(9):
        assert isinstance(entry.child, subprocess.Popen)
        entry.child.wait()
        supervisor.check(now)
        assert entry.due is not None
        delays.append(round(entry.due - now, 3))
        now = entry.due
        supervisor.check(now)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert isinstance(supervisor.recorder, Recorded)
    assert supervisor.recorder.rows["process:oracle"].consecutive == 9


def test_a_child_that_runs_steadily_starts_its_backoff_over(supervisor: Supervisor) -> None:
    entry = supervisor.add("batcher", sleeper, stop)
    for _ in range(3):  # three quick deaths: not ready, and the next wait is 4 s
        assert entry.child is not None and entry.child.pid is not None
        os.kill(entry.child.pid, signal.SIGKILL)
        assert isinstance(entry.child, subprocess.Popen)
        entry.child.wait()
        supervisor.check(time.time())
        assert entry.due is not None
        supervisor.check(entry.due)
    assert entry.health.consecutive == 3
    supervisor.check(entry.started_at + supervision.STABLE)
    assert entry.health.consecutive == 0 and entry.backoff.next() == supervision.RESTART_DELAY


def test_a_stopped_supervisor_restarts_nothing(supervisor: Supervisor) -> None:
    entry = supervisor.add("worker", sleeper, stop)
    child = entry.child
    supervisor.stop_all()
    assert isinstance(child, subprocess.Popen) and child.poll() is not None
    supervisor.check(time.time() + 3600)
    assert entry.child is None and entry.restarts == 0
