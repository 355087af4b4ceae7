"""supply chain and asset tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


VIEWS = {
    # How long each custodian held each item (open periods count up to the mirror's head time).
    "v_custody_durations": """
        SELECT c.item_id, c.sequence, c.custodian, c.from_time, c.until_time,
               COALESCE(c.until_time, (SELECT MAX(timestamp) FROM chain_block)) - c.from_time AS seconds,
               c.until_block IS NULL AS current_holder
        FROM custody_period c
    """,
    # Breaches (conditions set out of compliance) per item, with the last one's evidence.
    "v_breaches_per_item": """
        SELECT item_id, COUNT(*) AS breaches, MAX(block_number) AS last_breach_block
        FROM ev_condition_changed WHERE new_condition = 1 GROUP BY item_id
    """,
    # Every change of hands of every asset token, with block time.
    "v_token_ownership_history": """
        SELECT t.token_id, t.from_address, t.to_address, t.block_number, b.timestamp AS time, t.transaction_hash
        FROM ev_transfer t JOIN chain_block b ON b.number = t.block_number
    """,
}


def upgrade() -> None:
    op.create_table(
        "asset_token",
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("minted_block", sa.BigInteger(), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("token_id"),
    )
    with op.batch_alter_table("asset_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_token_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_asset_token_owner"), ["owner"], unique=False)

    op.create_table(
        "custody_period",
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("custodian", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("from_block", sa.BigInteger(), nullable=False),
        sa.Column("from_time", sa.BigInteger(), nullable=False),
        sa.Column("until_block", sa.BigInteger(), nullable=True),
        sa.Column("until_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("item_id", "sequence"),
    )
    with op.batch_alter_table("custody_period", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_custody_period_custodian"), ["custodian"], unique=False)

    op.create_table(
        "ev_approval",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("approved", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_approval_for_all",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("operator", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_asset_minted",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_asset_minted", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_asset_minted_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_batch_metadata_update",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("from_token_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("to_token_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_checkpoint_recorded",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("recorder", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("latitude_e6", sa.Integer(), nullable=False),
        sa.Column("longitude_e6", sa.Integer(), nullable=False),
        sa.Column("site", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("evidence_root", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("evidence_leaf", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_checkpoint_recorded", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_checkpoint_recorded_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_condition_changed",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("previous_condition", sa.Integer(), nullable=False),
        sa.Column("new_condition", sa.Integer(), nullable=False),
        sa.Column("reporter", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("evidence_root", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("evidence_leaf", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_condition_changed", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_condition_changed_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_device_attached",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_device_attached", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_device_attached_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_device_detached",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_device_detached", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_device_detached_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_item_delivered",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("custodian", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("latitude_e6", sa.Integer(), nullable=False),
        sa.Column("longitude_e6", sa.Integer(), nullable=False),
        sa.Column("site", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_item_delivered", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_item_delivered_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_item_held",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_item_held", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_item_held_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_item_recalled",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_item_recalled", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_item_recalled_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_item_registered",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("manufacturer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("custodian", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("metadata_cid", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_item_registered", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_item_registered_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_item_released",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_item_released", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_item_released_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_metadata_update",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_transfer",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("from_address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("to_address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_transfer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_transfer_to_address"), ["to_address"], unique=False)
        batch_op.create_index(batch_op.f("ix_ev_transfer_token_id"), ["token_id"], unique=False)

    op.create_table(
        "ev_transfer_accepted",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("previous_custodian", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("new_custodian", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("latitude_e6", sa.Integer(), nullable=False),
        sa.Column("longitude_e6", sa.Integer(), nullable=False),
        sa.Column("site", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_transfer_accepted", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_transfer_accepted_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_transfer_cancelled",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_transfer_cancelled", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_transfer_cancelled_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_transfer_proposed",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("custodian", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("receiver", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("latitude_e6", sa.Integer(), nullable=False),
        sa.Column("longitude_e6", sa.Integer(), nullable=False),
        sa.Column("site", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_transfer_proposed", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_transfer_proposed_item_id"), ["item_id"], unique=False)

    op.create_table(
        "item",
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("manufacturer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("custodian", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("condition", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("metadata_cid", sa.Text(), nullable=False),
        sa.Column("transfer_count", sa.Integer(), nullable=False),
        sa.Column("pending_transfer_id", sa.Integer(), nullable=True),
        sa.Column("pending_receiver", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=True),
        sa.Column("pending_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_custodian"), ["custodian"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_manufacturer"), ["manufacturer"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_status"), ["status"], unique=False)

    op.create_table(
        "item_device",
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("attached_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "device_id"),
    )
    with op.batch_alter_table("item_device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_device_device_id"), ["device_id"], unique=False)

    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body.strip()}")


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    with op.batch_alter_table("item_device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_device_device_id"))

    op.drop_table("item_device")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_status"))
        batch_op.drop_index(batch_op.f("ix_item_manufacturer"))
        batch_op.drop_index(batch_op.f("ix_item_custodian"))

    op.drop_table("item")
    with op.batch_alter_table("ev_transfer_proposed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_transfer_proposed_item_id"))

    op.drop_table("ev_transfer_proposed")
    with op.batch_alter_table("ev_transfer_cancelled", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_transfer_cancelled_item_id"))

    op.drop_table("ev_transfer_cancelled")
    with op.batch_alter_table("ev_transfer_accepted", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_transfer_accepted_item_id"))

    op.drop_table("ev_transfer_accepted")
    with op.batch_alter_table("ev_transfer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_transfer_token_id"))
        batch_op.drop_index(batch_op.f("ix_ev_transfer_to_address"))

    op.drop_table("ev_transfer")
    op.drop_table("ev_metadata_update")
    with op.batch_alter_table("ev_item_released", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_item_released_item_id"))

    op.drop_table("ev_item_released")
    with op.batch_alter_table("ev_item_registered", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_item_registered_item_id"))

    op.drop_table("ev_item_registered")
    with op.batch_alter_table("ev_item_recalled", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_item_recalled_item_id"))

    op.drop_table("ev_item_recalled")
    with op.batch_alter_table("ev_item_held", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_item_held_item_id"))

    op.drop_table("ev_item_held")
    with op.batch_alter_table("ev_item_delivered", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_item_delivered_item_id"))

    op.drop_table("ev_item_delivered")
    with op.batch_alter_table("ev_device_detached", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_device_detached_item_id"))

    op.drop_table("ev_device_detached")
    with op.batch_alter_table("ev_device_attached", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_device_attached_item_id"))

    op.drop_table("ev_device_attached")
    with op.batch_alter_table("ev_condition_changed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_condition_changed_item_id"))

    op.drop_table("ev_condition_changed")
    with op.batch_alter_table("ev_checkpoint_recorded", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_checkpoint_recorded_item_id"))

    op.drop_table("ev_checkpoint_recorded")
    op.drop_table("ev_batch_metadata_update")
    with op.batch_alter_table("ev_asset_minted", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_asset_minted_item_id"))

    op.drop_table("ev_asset_minted")
    op.drop_table("ev_approval_for_all")
    op.drop_table("ev_approval")
    with op.batch_alter_table("custody_period", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_custody_period_custodian"))

    op.drop_table("custody_period")
    with op.batch_alter_table("asset_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_token_owner"))
        batch_op.drop_index(batch_op.f("ix_asset_token_item_id"))

    op.drop_table("asset_token")
