"""Answers computed from the SQL mirror, kept while the mirror has not moved.

An item's timeline or a transaction page is a function of what the mirror holds, and the mirror
changes only by moving its checkpoint: its head (number and hash, so a reorg to the same height is
a change too) and how deep it deems blocks confirmed, all written in the same transaction as the
rows they cover. So an answer made at one checkpoint is still exact while the checkpoint reads the
same, and a read costs one primary-key lookup of the checkpoint instead of the queries and the
rendering behind the answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection

T = TypeVar("T")

_CHECKPOINT = text("SELECT head_number, head_hash, confirmed_through FROM index_state WHERE id = 'main'")
Version = tuple[Any, ...]


def mirror_version(conn: Connection) -> Version:
    """What the mirror's answers depend on: its head number and hash and its confirmed depth
    (all None before the indexer's first block)."""
    row = conn.execute(_CHECKPOINT).one_or_none()
    return (None, None, None) if row is None else tuple(row)


class MirrorCache:
    """A bounded least-recently-used map of answers, each valid for one mirror version."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[Version, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, version: Version, make: Callable[[], T]) -> T:
        """The answer kept for `key` at `version`, or `make()`'s, kept for next time. An answer
        made before the mirror moved is never returned."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] == version:
                self._entries.move_to_end(key)
                self.hits += 1
                return found[1]  # type: ignore[no-any-return]
        made = make()
        with self._lock:
            self.misses += 1
            self._entries[key] = (version, made)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return made
