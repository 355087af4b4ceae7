"""each batch's device index and the path of its index leaf

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+ has DROP COLUMN): a batch-mode copy would break the views on `batch`.
    op.add_column("batch", sa.Column("device_index", sa.LargeBinary(), nullable=True))
    op.add_column("batch", sa.Column("index_proof", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("batch", "index_proof")
    op.drop_column("batch", "device_index")
