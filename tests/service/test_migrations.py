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


def test_readings_sealed_before_stored_paths_get_them_on_upgrade(database_url: str) -> None:
    """0011 fills in the place and sibling path of every reading sealed before it, per batch, so
    that old batches prove without a tree rebuild too."""
    import os

    from ledger_service.core.merkle import MerkleTree, split_path, verify

    engine = make_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0010")
    batches = {1: [os.urandom(32) for _ in range(7)], 2: [os.urandom(32)]}
    with engine.begin() as conn:
        for batch_id, leaves in batches.items():
            root = "0x" + MerkleTree(leaves).root.hex()
            conn.execute(
                text(
                    "INSERT INTO batch (id, root, status, reading_count, first_timestamp, last_timestamp, "
                    "content_id, sealed_at, attempts) VALUES (:id, :root, 'SEALED', :n, 1, 2, '', 1.0, 0)"
                ),
                {"id": batch_id, "root": root, "n": len(leaves)},
            )
            for sequence, leaf in enumerate(leaves):
                conn.execute(
                    text(
                        "INSERT INTO reading (id, device_id, key_index, sequence, timestamp, metric, value, scale, "
                        "unit, payload_hash, digest, signature, signer, received_at, batch_id) VALUES (:id, :d, 0, "
                        ":s, 1, 'm', '1', 0, 'u', :z, :z, '0x', 'x', 1.0, :b)"
                    ),
                    {
                        "id": "0x" + leaf.hex(),
                        "d": "0x" + "11" * 32,
                        "s": sequence + 10 * batch_id,
                        "z": "0x" + "00" * 32,
                        "b": batch_id,
                    },  # fmt: skip
                )
    upgrade_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, batch_id, tree_index, proof FROM reading")).all()
    assert len(rows) == 8
    for reading_id, batch_id, tree_index, proof in rows:
        tree = MerkleTree(batches[batch_id])
        leaf = bytes.fromhex(reading_id[2:])
        assert tree_index == tree.index_of(leaf)
        assert split_path(bytes(proof)) == tree.proof(leaf) and verify(tree.root, leaf, split_path(bytes(proof)))
    engine.dispose()
