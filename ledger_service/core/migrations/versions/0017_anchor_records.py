"""the mirror's table of DataNotary.AnchorRecorded (batches recorded for on-chain checks)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ev_anchor_recorded",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("root", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_anchor_recorded", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_anchor_recorded_root"), ["root"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ev_anchor_recorded", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_anchor_recorded_root"))
    op.drop_table("ev_anchor_recorded")
