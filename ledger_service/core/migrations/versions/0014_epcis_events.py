"""epcis events captured, the items each names, and the capture jobs

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "epcis_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", _TEXT(length=66), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_hash", _TEXT(length=100), nullable=False),
        sa.Column("type", _TEXT(length=32), nullable=False),
        sa.Column("event_time", sa.Float(), nullable=False),
        sa.Column("biz_step", _TEXT(length=200), nullable=True),
        sa.Column("action", _TEXT(length=16), nullable=True),
        sa.Column("item_ids", sa.Text(), nullable=False),
        sa.Column("party", _TEXT(length=64), nullable=True),
        sa.Column("reading_id", _TEXT(length=66), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("captured_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("epcis_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_epcis_event_event_time"), ["event_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_epcis_event_event_hash"), ["event_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_epcis_event_digest"), ["digest"], unique=False)
    op.create_table(
        "epcis_item",
        sa.Column("item_id", _TEXT(length=66), nullable=False),
        sa.Column("event", sa.Integer(), nullable=False),
        sa.Column("event_time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "event"),
    )

    op.create_table(
        "epcis_capture",
        sa.Column("id", _TEXT(length=40), nullable=False),
        sa.Column("party", _TEXT(length=64), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("epcis_capture", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_epcis_capture_api_key_id"), ["api_key_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("epcis_capture", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epcis_capture_api_key_id"))
    op.drop_table("epcis_capture")
    op.drop_table("epcis_item")
    with op.batch_alter_table("epcis_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epcis_event_digest"))
        batch_op.drop_index(batch_op.f("ix_epcis_event_event_hash"))
        batch_op.drop_index(batch_op.f("ix_epcis_event_event_time"))
    op.drop_table("epcis_event")
