"""stored proofs: each sealed reading keeps its place in its batch's tree and its sibling path, so a
proof is read, never rebuilt; indexes for the readings query

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

Readings sealed before this revision get their place and path here, one batch at a time, from the
batch's reading ids (the same tree sealing built).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger_service.core.merkle import MerkleTree, tree_paths

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _fill_paths() -> None:
    conn = op.get_bind()
    reading = sa.table(
        "reading",
        sa.column("id", sa.String),
        sa.column("batch_id", sa.Integer),
        sa.column("tree_index", sa.Integer),
        sa.column("proof", sa.LargeBinary),
    )
    batches = conn.execute(
        sa.select(reading.c.batch_id).where(reading.c.batch_id.is_not(None)).distinct().order_by(reading.c.batch_id)
    ).scalars()
    for batch_id in list(batches):
        ids = conn.execute(sa.select(reading.c.id).where(reading.c.batch_id == batch_id)).scalars().all()
        tree = MerkleTree([bytes.fromhex(i[2:]) for i in ids])
        rows = tree_paths(tree, ids)
        conn.execute(
            reading.update()
            .where(reading.c.id == sa.bindparam("rid"))
            .values(tree_index=sa.bindparam("index"), proof=sa.bindparam("path")),
            rows,
        )


def upgrade() -> None:
    op.add_column("reading", sa.Column("tree_index", sa.Integer(), nullable=True))
    op.add_column("reading", sa.Column("proof", sa.LargeBinary(), nullable=True))
    op.create_index("ix_reading_device_time", "reading", ["device_id", "timestamp", "id"])
    op.create_index("ix_reading_time", "reading", ["timestamp", "id"])
    _fill_paths()


def downgrade() -> None:
    op.drop_index("ix_reading_time", table_name="reading")
    op.drop_index("ix_reading_device_time", table_name="reading")
    # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later too): a batch rebuild of `reading`
    # would break the views over it
    op.execute("ALTER TABLE reading DROP COLUMN proof")
    op.execute("ALTER TABLE reading DROP COLUMN tree_index")
