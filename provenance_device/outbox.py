"""The device's outbox: readings signed and not yet confirmed, kept in SQLite until the service (or
the broker, when asked) confirms them.

A reading gets its sequence number and goes in the outbox in one transaction, with the database
synchronised to disk before `add` returns: a reading the caller was told about survives a power cut
and is sent again after one; its sequence is never given out twice. The service answers a reading
it already holds as a duplicate, so sending one again is harmless.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pending (sequence INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS refused (sequence INTEGER PRIMARY KEY, body TEXT NOT NULL, code TEXT, detail TEXT)",
    "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), next_sequence INTEGER NOT NULL)",
)


class Outbox:
    """Pending readings of one device in sequence order, its next sequence, and readings refused."""

    def __init__(self, path: Path | str, first_sequence: int = 0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.execute("INSERT OR IGNORE INTO counter VALUES (1, ?)", (first_sequence,))

    def add(self, sign: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
        """Takes the next sequence, builds the signed body with `sign(sequence)` and stores it, durably."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (sequence,) = self._db.execute("SELECT next_sequence FROM counter").fetchone()
                body = sign(sequence)
                self._db.execute("INSERT INTO pending VALUES (?, ?)", (sequence, json.dumps(body)))
                self._db.execute("UPDATE counter SET next_sequence = ?", (sequence + 1,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return body

    def pending(self, limit: int) -> list[dict[str, Any]]:
        """The oldest `limit` pending bodies, in sequence order."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM pending ORDER BY sequence LIMIT ?", (limit,)).fetchall()
        return [json.loads(body) for (body,) in rows]

    def confirm(self, sequences: list[int]) -> None:
        """Removes readings the service (or broker) confirmed."""
        with self._lock:
            self._db.executemany("DELETE FROM pending WHERE sequence = ?", [(s,) for s in sequences])

    def refuse(self, sequence: int, code: str | None, detail: str | None) -> None:
        """Moves a reading the service refused for good out of the queue, keeping it and the reason."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO refused SELECT sequence, body, ?, ? FROM pending WHERE sequence = ?",
                    (code, detail, sequence),
                )
                self._db.execute("DELETE FROM pending WHERE sequence = ?", (sequence,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def refused(self) -> list[tuple[int, str | None, str | None]]:
        """(sequence, code, detail) of every refused reading."""
        with self._lock:
            return list(self._db.execute("SELECT sequence, code, detail FROM refused ORDER BY sequence"))

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM pending").fetchone()
        return int(count)

    @property
    def next_sequence(self) -> int:
        """The sequence the next reading will get."""
        with self._lock:
            (value,) = self._db.execute("SELECT next_sequence FROM counter").fetchone()
        return int(value)

    def close(self) -> None:
        """Closes the database."""
        with self._lock:
            self._db.close()
