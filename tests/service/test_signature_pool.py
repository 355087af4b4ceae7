"""The signature-checking workers die with the process that started them, even when it is killed:
a crashed service leaves no orphans behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import os, sys
from ledger_service.services.sigcheck import SignaturePool
pool = SignaturePool(2)
pool._pool.submit(os.getpid).result()
pids = {pool._pool.submit(os.getpid).result() for _ in range(20)}
print(" ".join(map(str, sorted(pids))), flush=True)
sys.stdin.read()
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return status not in ("Z", "X")


def test_workers_die_when_their_process_is_killed() -> None:
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        workers = [int(pid) for pid in process.stdout.readline().split()]
        assert workers and all(alive(pid) for pid in workers)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers)
    finally:
        process.kill()
        process.wait(timeout=10)


def test_workers_started_from_a_thread_that_ends_keep_working() -> None:
    """The executor starts workers from the thread that submits work; they must outlive it (a
    parent-death signal tied to that thread killed them, and closing the pool then hung)."""
    from concurrent.futures import ThreadPoolExecutor

    from ledger_service.services.sigcheck import SignaturePool

    pool = SignaturePool(2)
    try:
        with ThreadPoolExecutor(1) as threads:  # the submitting thread ends when this block does
            workers = threads.submit(lambda: {pool._pool.submit(os.getpid).result() for _ in range(20)}).result()
        time.sleep(1.5)  # past the parent watch's poll
        assert workers and all(alive(pid) for pid in workers)
        assert {pool._pool.submit(os.getpid).result() for _ in range(20)} <= workers
    finally:
        closer = ThreadPoolExecutor(1)
        closing = closer.submit(pool.close)
        closing.result(timeout=20)  # hung for ever when a worker had been killed
        closer.shutdown()
