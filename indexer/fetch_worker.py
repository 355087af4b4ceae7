"""The fetch process of a backfill: `python -m indexer.fetch_worker`.

Reads a pickled `FetchJob` on stdin, fetches its range chunk by chunk, and writes each chunk to
stdout as a pickle behind an 8-byte length; then an empty record (done) or a pickled `FetchFailed`.
It imports only what fetching needs, so it starts in a fraction of a second.
"""

from __future__ import annotations

import pickle
import struct
import sys
import traceback
from typing import Any, BinaryIO

from indexer.catalog import EventCatalog
from indexer.fetch import Fetcher
from ledger_service.core.chain.rpc import JsonRpc

HEADER = struct.Struct(">Q")


class FetchFailed(RuntimeError):
    """The fetch process stopped on an error (its type, message and traceback are in the text)."""


def write_record(out: BinaryIO, item: Any) -> None:
    """Writes one length-prefixed pickle (None: an empty record)."""
    if item is None:
        out.write(HEADER.pack(0))
    else:
        payload = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(HEADER.pack(len(payload)))
        out.write(payload)
    out.flush()


def read_record(source: BinaryIO) -> Any:
    """Reads one record; None for the empty one. EOFError when the stream ends early."""
    header = source.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError("the fetch process ended without finishing")
    (length,) = HEADER.unpack(header)
    if length == 0:
        return None
    payload = source.read(length)
    if len(payload) < length:
        raise EOFError("the fetch process ended mid-record")
    return pickle.loads(payload)  # noqa: S301 - our own child process, over a private pipe


def main() -> None:
    """Runs the job read from stdin."""
    job = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by the parent indexer
    out = sys.stdout.buffer
    rpc = JsonRpc(job.rpc_url)
    fetcher = Fetcher(
        rpc,
        EventCatalog(job.abis, job.layouts),
        job.addresses,
        derived_events=job.derived_events,
        transactions=job.transactions,
        span=min(20, job.max_span),
        max_span=job.max_span,
    )
    try:
        for chunk in fetcher.stream(job.start, job.target):
            write_record(out, chunk)
        write_record(out, None)
    except BrokenPipeError:  # the indexer stopped reading: it is done with this range
        pass
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the indexer
        write_record(out, FetchFailed(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        fetcher.close()
        rpc.close()


if __name__ == "__main__":
    main()
