"""The operator lock: one transaction sender at a time for the operator key, across processes.

Anchoring workers (threads, Celery processes, hosts) share one operator account. Holding this
lock while they check a batch, take the next nonce from the node and send makes nonce collisions
and double anchors impossible. With PostgreSQL it is an advisory lock (works across hosts);
otherwise an exclusive lock on a file in the data directory (one host).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

_ADVISORY_KEY = 0x70726F76  # "prov"


@contextmanager
def operator_lock(engine: Engine, lock_file: Path) -> Iterator[None]:
    """Holds the operator lock for the context."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_KEY})
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
