"""Locks across processes: one transaction sender at a time for each account, and one indexer
writing a database's mirror (`writer_lease`).

Anchoring workers (threads, Celery processes, hosts) share one anchorer account. Holding its lock
while they check a batch, take the next nonce from the node and send makes nonce collisions and
double anchors impossible. With PostgreSQL it is an advisory lock (works across hosts);
otherwise an exclusive lock on a file in the data directory (one host).
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError


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


#: The advisory lock keys of the leases: the one indexer allowed to write a database's mirror, and
#: the one webhook deliverer.
_LEASES = {"indexer-writer": 0x1DE7_5EED_0001, "webhook-deliverer": 0x1DE7_5EED_0002}


@contextmanager
def writer_lease(
    engine: Engine,
    data_dir: Path,
    on_wait: Callable[[], None] | None = None,
    poll: float = 1.0,
    role: str = "indexer-writer",
) -> Iterator[None]:
    """Makes this process the one indexer writing the mirror of `engine`'s database, waiting (as a
    standby, after calling `on_wait` once) while another holds the lease; the lease ends with the
    context or with the holder's process. With PostgreSQL it is a session advisory lock (across
    hosts; a database restart ends it, and the checkpoint check keeps two writers safe until one
    stands down); with SQLite an exclusive lock on a file beside the database (one host).
    `role` names another lease of the same kind (`webhook-deliverer`)."""
    key = _LEASES[role]
    waited = False
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
                conn.commit()
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                time.sleep(poll)
            conn.commit()
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
                except SQLAlchemyError:
                    pass  # the connection is gone, and the lock with it
        return
    database = engine.url.database  # the lock belongs to the database file, wherever the data directory is
    path = Path(f"{database}.{role}.lock") if database else data_dir / "locks" / f"{role}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
