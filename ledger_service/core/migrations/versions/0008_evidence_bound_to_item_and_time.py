"""evidence bound to the item and to time: attachment approvals, the bound condition oracle,
designated buyers, rule units, the rules protecting an escrow

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _event_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "ev_attachment_approved",
        *_event_columns(),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_attachment_approved", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_attachment_approved_item_id"), ["item_id"], unique=False)
    op.create_table(
        "ev_condition_oracle_bound",
        *_event_columns(),
        sa.Column("oracle", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_buyer_designated",
        *_event_columns(),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("seller", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("buyer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_buyer_designated", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_buyer_designated_item_id"), ["item_id"], unique=False)
    # rows mirrored from the contracts before this change get empty values
    with op.batch_alter_table("ev_escrow_opened", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rule_ids", sa.Text(), nullable=False, server_default="[]"))
    with op.batch_alter_table("ev_escrow_opened", schema=None) as batch_op:
        batch_op.alter_column("rule_ids", server_default=None)
    with op.batch_alter_table("ev_rule_added", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("ev_rule_added", schema=None) as batch_op:
        batch_op.alter_column("unit", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("ev_rule_added", schema=None) as batch_op:
        batch_op.drop_column("unit")
    with op.batch_alter_table("ev_escrow_opened", schema=None) as batch_op:
        batch_op.drop_column("rule_ids")
    with op.batch_alter_table("ev_buyer_designated", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_buyer_designated_item_id"))
    op.drop_table("ev_buyer_designated")
    op.drop_table("ev_condition_oracle_bound")
    with op.batch_alter_table("ev_attachment_approved", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_attachment_approved_item_id"))
    op.drop_table("ev_attachment_approved")
