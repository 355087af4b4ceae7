"""outbox: every operator transaction, written before it is sent and watched until it is mined

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_WEI = sa.Numeric(78, 0)


def upgrade() -> None:
    op.create_table(
        "outbox_tx",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("hashes", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("gas_limit", sa.BigInteger(), nullable=False),
        sa.Column("max_fee_per_gas", _WEI, nullable=True),
        sa.Column("max_priority_fee_per_gas", _WEI, nullable=True),
        sa.Column("gas_price", _WEI, nullable=True),
        sa.Column("replacements", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.Column("mined_at", sa.Float(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("fee_wei", _WEI, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_tx", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_tx_sender"), ["sender"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_tx_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_tx", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_tx_status"))
        batch_op.drop_index(batch_op.f("ix_outbox_tx_sender"))
    op.drop_table("outbox_tx")
