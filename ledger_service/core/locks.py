"""Sender locks: one transaction sender at a time for each account, across processes.

Anchoring workers (threads, Celery processes, hosts) share one anchorer account. Holding its lock
while they check a batch, take the next nonce from the node and send makes nonce collisions and
double anchors impossible. With PostgreSQL it is an advisory lock (works across hosts);
otherwise an exclusive lock on a file in the data directory (one host).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine


@contextmanager
def _lock(engine: Engine, lock_file: Path, key: int) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def account_lock(engine: Engine, data_dir: Path, address: str) -> Iterator[None]:
    """Holds the sender lock of account `address` (each role's account has its own, so the anchorer
    and the report submitter never wait for each other)."""
    key = int(address.lower().removeprefix("0x")[:15], 16)  # 60 bits: fits PostgreSQL's bigint
    with _lock(engine, data_dir / "locks" / f"{address.lower()}.lock", key):
        yield
