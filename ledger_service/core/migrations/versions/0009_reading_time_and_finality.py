"""reading time and finality: cursors per device and key with the last timestamp, key index on
readings, and the `final` batch status

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Cursors and readings stored before this revision are counted as key 0 of their device (the key
that signed them is not known to SQL); each cursor takes the latest timestamp of its device's
stored readings.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _analytics_views() -> dict[str, str]:
    """The views of 0003 (over `reading` and `batch`), dropped while those tables are rebuilt."""
    spec = importlib.util.spec_from_file_location("_views_0003", Path(__file__).with_name("0003_analytics_views.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    views: dict[str, str] = module.VIEWS
    return views


def _drop_views(views: dict[str, str]) -> None:
    for name in reversed(list(views)):
        op.execute(f"DROP VIEW IF EXISTS {name}")


def _create_views(views: dict[str, str]) -> None:
    for name, body in views.items():
        op.execute(f"CREATE VIEW {name} AS {body.strip()}")


def upgrade() -> None:
    views = _analytics_views()
    _drop_views(views)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TYPE batchstatus ADD VALUE IF NOT EXISTS 'FINAL'")
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("final_at", sa.Float(), nullable=True))

    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_index", sa.Integer(), nullable=False, server_default="0"))
        batch_op.drop_constraint("uq_reading_device_sequence", type_="unique")
        batch_op.create_unique_constraint("uq_reading_device_key_sequence", ["device_id", "key_index", "sequence"])

    op.create_table(
        "device_cursor_0009",
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("key_index", sa.Integer(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("last_timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "key_index"),
    )
    op.execute(
        "INSERT INTO device_cursor_0009 (device_id, key_index, last_sequence, last_timestamp) "
        "SELECT c.device_id, 0, c.last_sequence, "
        "COALESCE((SELECT MAX(r.timestamp) FROM reading r WHERE r.device_id = c.device_id), 0) FROM device_cursor c"
    )
    op.drop_table("device_cursor")
    op.rename_table("device_cursor_0009", "device_cursor")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE device_cursor RENAME CONSTRAINT device_cursor_0009_pkey TO device_cursor_pkey")
    _create_views(views)


def downgrade() -> None:
    # Readings of a later key that reuse a sequence number cannot live under the old constraint;
    # they are never dropped to make it fit.
    clashes = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT COUNT(*) FROM (SELECT device_id, sequence FROM reading GROUP BY device_id, sequence "
                "HAVING COUNT(*) > 1) AS clash"
            )
        )
        .scalar_one()
    )
    if clashes:
        raise RuntimeError(f"{clashes} (device, sequence) pairs are used by several keys: cannot go below 0009")
    views = _analytics_views()
    _drop_views(views)
    op.create_table(
        "device_cursor_0007",
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.execute(
        "INSERT INTO device_cursor_0007 (device_id, last_sequence) "
        "SELECT device_id, MAX(last_sequence) FROM device_cursor GROUP BY device_id"
    )
    op.drop_table("device_cursor")
    op.rename_table("device_cursor_0007", "device_cursor")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE device_cursor RENAME CONSTRAINT device_cursor_0007_pkey TO device_cursor_pkey")

    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reading_device_key_sequence", type_="unique")
        batch_op.create_unique_constraint("uq_reading_device_sequence", ["device_id", "sequence"])
        batch_op.drop_column("key_index")

    op.execute("UPDATE batch SET status = 'CONFIRMED' WHERE status = 'FINAL'")
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.drop_column("final_at")
    _create_views(views)
