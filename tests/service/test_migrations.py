"""The schema comes from Alembic migrations, which match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from ledger_service.core.db import alembic_config, head_revision, make_engine, schema_revision, upgrade_schema

VIEWS = ["anchored_batch", "v_readings_per_device_hour", "v_batches_per_hour", "v_anchoring_lag",
         "v_devices_by_status", "v_index_lag"]  # fmt: skip


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    before, after = upgrade_schema(engine)
    assert before is None and after == head_revision()
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        for view in VIEWS:
            conn.execute(text(f"SELECT * FROM {view}")).all()  # every view compiles on this database
    assert differences == []
    assert upgrade_schema(engine) == (after, after)  # a second run changes nothing
    engine.dispose()


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade_schema(engine)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert schema_revision(engine) == "0001"
    assert not inspect(engine).has_table("event_log")
    upgrade_schema(engine)
    assert inspect(engine).has_table("event_log")
    engine.dispose()


def test_a_database_made_before_migrations_is_adopted_with_its_data(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text("DROP TABLE alembic_version"))  # as `create_all` left it
        conn.execute(
            text(
                "INSERT INTO api_key (name, key_hash, prefix, roles, created_at) VALUES ('old', 'h', 'p', 'admin', 1.0)"
            )
        )
    assert schema_revision(engine) is None
    before, after = upgrade_schema(engine)
    assert before is None and after == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM api_key")).scalar_one() == "old"
    engine.dispose()


def test_db_upgrade_command(tmp_path: Path) -> None:
    env = {**os.environ, "PROVENANCE_DATA_DIR": str(tmp_path / "data")}
    env.pop("PROVENANCE_DATABASE_URL", None)
    run = [sys.executable, "-m", "ledger_service.app.cli", "db"]
    first = subprocess.run([*run, "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert f"from empty to {head_revision()}" in first.stderr
    again = subprocess.run([*run, "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert "already at revision" in again.stderr
    current = subprocess.run([*run, "current"], env=env, capture_output=True, text=True, timeout=120)
    assert f"database at {head_revision()}" in current.stderr
