"""Fetching beside writing during backfill: in a child process for long ranges, so that JSON
parsing and decoding run on another core instead of taking turns with the writes under the GIL;
in a thread (with the indexer's own fetcher) for short ones, where a process would cost more
than it saves."""

from __future__ import annotations

import fcntl
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from indexer.catalog import TableLayout
from indexer.fetch import Chunk, Fetcher
from indexer.fetch_worker import FetchFailed, read_record

_PIPE_BYTES = 16 * 1024 * 1024
_F_SETPIPE_SZ = 1031


@dataclass(frozen=True)
class FetchJob:
    """What a fetcher needs: where, what and which range."""

    rpc_url: str
    abis: list[list[dict[str, Any]]]
    layouts: dict[str, TableLayout]
    addresses: list[str]
    derived_events: frozenset[str]
    transactions: str
    max_span: int
    start: int
    target: int


def _die_with_parent() -> None:
    from ledger_service.core.chain.node import die_with_parent

    die_with_parent()


@contextmanager
def fetching(job: FetchJob, fetcher: Fetcher | None = None, depth: int = 4) -> Iterator[Iterator[Chunk]]:
    """Yields the chunks of `job` in order: fetched by `fetcher` in a thread when one is given,
    else by a child process. The fetcher stops when the context closes, whether or not every
    chunk was taken."""
    if fetcher is None:
        with _process_fetch(job) as chunks:
            yield chunks
    else:
        with _thread_fetch(job, fetcher, depth) as chunks:
            yield chunks


def _until_done(take: Callable[[], Chunk | FetchFailed | None]) -> Iterator[Chunk]:
    """The chunks `take` hands over, until None; a FetchFailed is raised."""
    while True:
        item = take()
        if item is None:
            return
        if isinstance(item, FetchFailed):
            raise item
        yield item


@contextmanager
def _process_fetch(job: FetchJob) -> Iterator[Iterator[Chunk]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "indexer.fetch_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        preexec_fn=_die_with_parent,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        fcntl.fcntl(process.stdout.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
    except OSError:
        pass  # a smaller pipe only means less read-ahead
    process.stdin.write(pickle.dumps(job))
    process.stdin.close()
    stdout = cast(BinaryIO, process.stdout)

    try:
        yield _until_done(lambda: read_record(stdout))
    finally:
        if process.poll() is None:
            process.kill()
        stdout.close()
        process.wait()


@contextmanager
def _thread_fetch(job: FetchJob, fetcher: Fetcher, depth: int) -> Iterator[Iterator[Chunk]]:
    out: queue.Queue[Chunk | FetchFailed | None] = queue.Queue(maxsize=depth)
    halt = threading.Event()

    def run() -> None:
        try:
            for chunk in fetcher.stream(job.start, job.target):
                if halt.is_set():
                    break
                out.put(chunk)
            out.put(None)
        except Exception as exc:  # noqa: BLE001 - handed to the writer
            out.put(FetchFailed(f"{type(exc).__name__}: {exc}"))

    worker = threading.Thread(target=run, name="index-fetch", daemon=True)
    worker.start()

    try:
        yield _until_done(out.get)
    finally:
        halt.set()
        while worker.is_alive():
            try:
                out.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()
