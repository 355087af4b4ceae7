"""The gateway's own tables, beside the service's `reading` table in the gateway's SQLite database:
the registry's age when each reading was taken in, what upstream answered for each forwarded reading,
small named values (the registry snapshot), and, when it aggregates, its roots, their members and
the ids it signed roots as."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)
_TABLES = (
    "CREATE TABLE IF NOT EXISTS edge_received (reading_id VARCHAR(66) PRIMARY KEY, registry_age REAL)",
    "CREATE TABLE IF NOT EXISTS edge_forwarded (reading_id VARCHAR(66) PRIMARY KEY, status VARCHAR(16) NOT NULL,"
    " code VARCHAR(64), detail TEXT, forwarded_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS edge_state (name VARCHAR(64) PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS edge_identity (device_id VARCHAR(66) NOT NULL PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS edge_aggregate (root VARCHAR(66) PRIMARY KEY, root_reading_id VARCHAR(66) NOT NULL,"
    " reading_count INTEGER NOT NULL, sealed_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS edge_member (reading_id VARCHAR(66) PRIMARY KEY, root VARCHAR(66) NOT NULL,"
    " tree_index INTEGER NOT NULL, path BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS edge_aggregate_reading ON edge_aggregate (root_reading_id)",
    "CREATE INDEX IF NOT EXISTS edge_member_root ON edge_member (root)",
)
# In the order the gateway committed them (SQLite's rowid: one writer at a time), so each device's in
# sequence order; from the cursor, below which every reading has upstream's answer (a range scan).
_PENDING = (
    "SELECT r.rowid AS position, r.id, r.device_id, r.sequence, r.timestamp, r.metric, r.value, r.scale, r.unit,"
    " r.payload_hash, r.signature, e.registry_age FROM reading r LEFT JOIN edge_received e ON e.reading_id = r.id"
    " WHERE r.rowid > :cursor AND NOT EXISTS (SELECT 1 FROM edge_forwarded f WHERE f.reading_id = r.id)"
)
_ORDER = " ORDER BY r.rowid LIMIT :limit"
_BEHIND_ALL = (
    "SELECT count(*) FROM reading r WHERE r.rowid <= :cursor"
    " AND NOT EXISTS (SELECT 1 FROM edge_forwarded f WHERE f.reading_id = r.id)"
)
# With aggregation on, only the roots go upstream one by one: the readings of every id the gateway
# signed roots as (an earlier id's roots too, after a change of key).
_ONLY = " AND r.device_id IN (SELECT device_id FROM edge_identity)"
_SKIP = " AND r.device_id NOT IN :skip"
_BEHIND = {False: text(_BEHIND_ALL), True: text(_BEHIND_ALL + _ONLY)}
_PENDING_BY = {
    (only, skipping): text(_PENDING + (_ONLY if only else "") + (_SKIP if skipping else "") + _ORDER).bindparams(
        *([bindparam("skip", expanding=True)] if skipping else [])
    )
    for only in (False, True)
    for skipping in (False, True)
}
# A root upstream refused for good releases its readings (sealed again into the next root).
_RELEASE = (
    "DELETE FROM edge_forwarded WHERE status = 'aggregated' AND reading_id IN (SELECT m.reading_id FROM edge_member m"
    " JOIN edge_aggregate a ON a.root = m.root WHERE a.root_reading_id = :id)",
    "DELETE FROM edge_member WHERE root IN (SELECT root FROM edge_aggregate WHERE root_reading_id = :id)",
    "DELETE FROM edge_aggregate WHERE root_reading_id = :id",
)
_IS_ROOT = text("SELECT 1 FROM edge_aggregate WHERE root_reading_id = :id")
_DANGLING = text(
    "SELECT a.root_reading_id FROM edge_aggregate a"
    " WHERE NOT EXISTS (SELECT 1 FROM reading r WHERE r.id = a.root_reading_id)"
)
_MEMBER = text(
    "SELECT m.root, m.tree_index, m.path, a.root_reading_id, a.reading_count, g.device_id AS gateway_id"
    " FROM edge_member m JOIN edge_aggregate a ON a.root = m.root JOIN reading g ON g.id = a.root_reading_id"
    " WHERE m.reading_id = :id"
)
CURSOR = "forward-cursor"
# Per device and key: counts, the sequence range, and the clock skew seen (arrival here less the
# reading's own time: positive when the device's clock is behind, or the reading waited).
_DEVICES = text(
    "SELECT device_id, key_index, count(*) AS readings, min(sequence) AS first, max(sequence) AS last,"
    " min(received_at - timestamp) AS skew_min, max(received_at - timestamp) AS skew_max"
    " FROM reading GROUP BY device_id, key_index ORDER BY device_id, key_index LIMIT :limit"
)
# Each gap, with the time of the reading after it: every missing reading is older than that one
# (a device's timestamps increase), so once it is past the age limit the gap can never be filled.
_GAPS = text(
    "SELECT previous + 1 AS gap_start, sequence - 1 AS gap_end, timestamp AS after FROM ("
    " SELECT sequence, timestamp, lag(sequence) OVER (ORDER BY sequence) AS previous FROM reading"
    " WHERE device_id = :device AND key_index = :key) WHERE sequence > previous + 1 ORDER BY gap_start LIMIT :limit"
)


@dataclass(frozen=True)
class PendingReading:
    """A reading the gateway holds and upstream has not answered yet."""

    position: int
    id: str
    body: dict[str, Any]
    registry_age: float | None


def _release(connection: Connection, root_reading_id: str) -> None:
    """Within the caller's transaction: the readings sealed under this root reading's root are held again."""
    if connection.execute(_IS_ROOT, {"id": root_reading_id}).first() is not None:
        for statement in _RELEASE:
            connection.execute(text(statement), {"id": root_reading_id})
        log.warning("a gateway root will not be anchored; its readings are sealed again",
                    extra={"root_reading": root_reading_id})  # fmt: skip


@dataclass(frozen=True)
class Membership:
    """Where a reading sits in a gateway root, and which of the gateway's readings carries that root."""

    root: str
    tree_index: int
    path: list[bytes]
    root_reading_id: str
    reading_count: int
    gateway_id: str


@dataclass(frozen=True)
class EdgeCounts:
    """How many readings wait, went upstream, or were refused there."""

    pending: int
    forwarded: int
    refused: int
    aggregated: int = 0


class EdgeStore:
    """Reads and writes the gateway's tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: With aggregation on, only the readings of the ids in `edge_identity` (the roots) are forwarded.
        self.aggregating = False
        with engine.begin() as connection:
            for statement in _TABLES:
                connection.exec_driver_sql(statement)

    def record_ages(self, reading_ids: list[str], registry_age: float | None) -> None:
        """Notes how old the registry copy was when these readings were checked."""
        if reading_ids:
            with self.engine.begin() as connection:
                connection.execute(
                    text("INSERT OR IGNORE INTO edge_received VALUES (:id, :age)"),
                    [{"id": reading_id, "age": registry_age} for reading_id in reading_ids],
                )

    def pending(self, limit: int, skip: set[str] | None = None) -> list[PendingReading]:
        """The oldest readings not yet answered upstream, as request bodies; none of the devices in
        `skip` (0x-hex ids)."""
        cursor = int.from_bytes(self.load(CURSOR) or b"", "big")
        params: dict[str, Any] = {"cursor": cursor, "limit": limit}
        if skip:
            params["skip"] = sorted(skip)
        statement = _PENDING_BY[(self.aggregating, bool(skip))]
        with self.engine.connect() as connection:
            rows = connection.execute(statement, params).all()
        return [
            PendingReading(
                row.position,
                row.id,
                {
                    "device_id": row.device_id,
                    "sequence": row.sequence,
                    "timestamp": row.timestamp,
                    "metric": row.metric,
                    "value": int(row.value),
                    "scale": row.scale,
                    "unit": row.unit,
                    "payload_hash": row.payload_hash,
                    "signature": row.signature,
                },
                row.registry_age,
            )  # fmt: skip
            for row in rows
        ]

    def behind_cursor(self) -> int:
        """Unanswered readings at or below the cursor: none, unless rowids were renumbered."""
        cursor = int.from_bytes(self.load(CURSOR) or b"", "big")
        with self.engine.connect() as connection:
            return int(connection.execute(_BEHIND[self.aggregating], {"cursor": cursor}).scalar_one())

    def mark(self, answers: list[tuple[str, str, str | None, str | None]], cursor: int) -> None:
        """Records upstream's answer (reading id, status, code, detail) for forwarded readings, and
        moves the cursor to `cursor` (every reading at or below it answered), in one transaction."""
        now = time.time()
        with self.engine.begin() as connection:
            if answers:
                connection.execute(
                    text("INSERT OR REPLACE INTO edge_forwarded VALUES (:id, :status, :code, :detail, :at)"),
                    [{"id": i, "status": s, "code": c, "detail": d, "at": now} for i, s, c, d in answers],
                )
                for reading_id in (i for i, status, _, _ in answers if status == "refused"):
                    _release(connection, reading_id)  # nothing, unless it is a root
            connection.execute(
                text("INSERT OR REPLACE INTO edge_state VALUES (:name, :value)"),
                {"name": CURSOR, "value": cursor.to_bytes(8, "big")},
            )

    def release_dangling(self) -> int:
        """Releases the readings of roots whose reading was never stored (a crash, or the gateway's own
        checks refused it); how many roots."""
        with self.engine.begin() as connection:
            dangling = [row[0] for row in connection.execute(_DANGLING)]
            for root_reading_id in dangling:
                _release(connection, root_reading_id)
        return len(dangling)

    def add_identity(self, device_id: str) -> None:
        """Notes an id the gateway signs roots as (kept: its roots are forwarded after a change of key)."""
        with self.engine.begin() as connection:
            connection.execute(text("INSERT OR IGNORE INTO edge_identity VALUES (:id)"), {"id": device_id})

    def has_roots(self) -> bool:
        """Whether the gateway ever sealed a root (its proofs are served even with aggregation off)."""
        with self.engine.connect() as connection:
            return connection.exec_driver_sql("SELECT 1 FROM edge_aggregate LIMIT 1").first() is not None

    def membership(self, reading_id: str) -> Membership | None:
        """The root a reading was sealed under, and its path there; None if it is in no root."""
        with self.engine.connect() as connection:
            row = connection.execute(_MEMBER, {"id": reading_id.lower()}).first()
        if row is None:
            return None
        path = bytes(row.path)
        siblings = [path[i : i + 32] for i in range(0, len(path), 32)]
        return Membership(row.root, int(row.tree_index), siblings, row.root_reading_id, int(row.reading_count),
                          row.gateway_id)  # fmt: skip

    def counts(self) -> EdgeCounts:
        """Readings pending, forwarded and refused upstream."""
        with self.engine.connect() as connection:
            total = connection.exec_driver_sql("SELECT count(*) FROM reading").scalar_one()
            refused = connection.exec_driver_sql(
                "SELECT count(*) FROM edge_forwarded WHERE status = 'refused'"
            ).scalar_one()
            answered = connection.exec_driver_sql("SELECT count(*) FROM edge_forwarded").scalar_one()
            aggregated = connection.exec_driver_sql(
                "SELECT count(*) FROM edge_forwarded WHERE status = 'aggregated'"
            ).scalar_one()
        return EdgeCounts(pending=total - answered, forwarded=answered - refused - aggregated, refused=refused,
                          aggregated=aggregated)  # fmt: skip

    def refused(self) -> list[tuple[str, str | None, str | None]]:
        """(reading id, code, detail) of every reading upstream refused."""
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT reading_id, code, detail FROM edge_forwarded WHERE status = 'refused' ORDER BY forwarded_at"
            ).all()
        return [(row[0], row[1], row[2]) for row in rows]

    def devices(self, limit: int = 100, max_gaps: int = 100, max_age: float | None = None) -> list[dict[str, Any]]:
        """Per device and key: readings held, sequence range, the ranges of sequences never received
        here (at most `max_gaps`): `gaps` while they may still be filled, `given_up` once the reading
        after one is older than `max_age` (so is every missing reading: none would be taken any more),
        and the clock skew seen (seconds, min and max)."""
        oldest = float("-inf") if max_age is None else time.time() - max_age
        with self.engine.connect() as connection:
            rows = connection.execute(_DEVICES, {"limit": limit}).all()
            answer = []
            for row in rows:
                params = {"device": row.device_id, "key": row.key_index, "limit": max_gaps}
                found = connection.execute(_GAPS, params).all()
                gaps = [[int(a), int(b)] for a, b, after in found if after >= oldest]
                given_up = [[int(a), int(b)] for a, b, after in found if after < oldest]
                answer.append(
                    {"device_id": row.device_id, "key_index": row.key_index, "readings": row.readings,
                     "first_sequence": row.first, "last_sequence": row.last,
                     "missing": sum(b - a + 1 for a, b in gaps), "gaps": gaps, "given_up": given_up,
                     "clock_skew": {"min": round(row.skew_min, 3), "max": round(row.skew_max, 3)}}
                )  # fmt: skip
        return answer

    def save(self, name: str, value: bytes) -> None:
        """Keeps a named value."""
        with self.engine.begin() as connection:
            statement = text("INSERT OR REPLACE INTO edge_state VALUES (:name, :value)")
            connection.execute(statement, {"name": name, "value": value})

    def load(self, name: str) -> bytes | None:
        """A named value, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(text("SELECT value FROM edge_state WHERE name = :name"), {"name": name}).first()
        return None if row is None else bytes(row[0])
