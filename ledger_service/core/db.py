"""Database engine and sessions. SQLite by default (WAL, synchronous=FULL), PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import create_engine

import ledger_service.core.mirror_models  # noqa: F401 - registers the mirror's tables
from ledger_service.core import models  # noqa: F401 - registers the tables

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The first revision: the service's tables as `create_all` made them before migrations existed.
BASELINE_REVISION = "0001"


def make_engine(url: str, bulk: bool = False) -> Engine:
    """An engine for `url`; SQLite connections are made safe for concurrent, durable writes.

    `bulk` is for the chain mirror's writer, whose data can always be fetched again from the chain:
    its SQLite connections sync the write-ahead log at checkpoints rather than at every commit
    (a power cut may lose the last commits, never consistency) and keep a large page cache.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={'NORMAL' if bulk else 'FULL'}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if bulk:
                cursor.execute("PRAGMA cache_size=-262144")
                cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def bulk_insert(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Inserts `rows` fast inside the connection's transaction: `executemany` on SQLite, `COPY` on
    PostgreSQL. A duplicate key raises SQLAlchemy's `IntegrityError`, as an ORM insert would."""
    if not rows:
        return
    raw = conn.connection.driver_connection
    names = ", ".join(columns)
    try:
        if conn.dialect.name == "postgresql":
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        else:
            cursor = raw.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)
            finally:
                cursor.close()
    except conn.dialect.dbapi.IntegrityError as exc:  # type: ignore[union-attr]
        raise IntegrityError(f"bulk insert into {table}", None, exc) from exc


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration for the project's migrations, on a connection or a URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def schema_revision(engine: Engine) -> str | None:
    """The migration revision the database is at (None: not under migrations yet)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest migration revision."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def upgrade_schema(engine: Engine) -> tuple[str | None, str]:
    """Migrates the database to the newest revision; returns (revision before, revision after).

    A database made before migrations existed (the service's tables, no revision) is stamped
    with the baseline first, so its data is kept.
    """
    with engine.begin() as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        config = alembic_config(conn)
        if before is None and inspect(conn).has_table("batch"):
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, "head")
        after = MigrationContext.configure(conn).get_current_revision()
    return before, str(after)


def create_schema(engine: Engine) -> None:
    """Brings the schema up to date through the migrations."""
    upgrade_schema(engine)
