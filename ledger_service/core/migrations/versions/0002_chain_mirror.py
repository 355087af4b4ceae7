"""chain mirror

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_block",
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("parent_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("miner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("gas_used", sa.BigInteger(), nullable=False),
        sa.Column("gas_limit", sa.BigInteger(), nullable=False),
        sa.Column("base_fee_per_gas", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("transaction_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("number"),
        sa.UniqueConstraint("hash"),
    )
    op.create_table(
        "chain_transaction",
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("transaction_index", sa.Integer(), nullable=False),
        sa.Column("from_address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("to_address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=True),
        sa.Column("contract_address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=True),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("gas", sa.BigInteger(), nullable=False),
        sa.Column("gas_price", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("gas_used", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("input", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    with op.batch_alter_table("chain_transaction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_transaction_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_chain_transaction_from_address"), ["from_address"], unique=False)
        batch_op.create_index(batch_op.f("ix_chain_transaction_to_address"), ["to_address"], unique=False)

    op.create_table(
        "device",
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("registrar", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("key_index", sa.Integer(), nullable=False),
        sa.Column("key_type", sa.Integer(), nullable=False),
        sa.Column("signer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("x", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("y", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("firmware_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("metadata_cid", sa.Text(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_status"), ["status"], unique=False)

    op.create_table(
        "device_key",
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("key_index", sa.Integer(), nullable=False),
        sa.Column("key_type", sa.Integer(), nullable=False),
        sa.Column("signer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("x", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("y", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("valid_from_block", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_until_block", sa.BigInteger(), nullable=True),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("device_id", "key_index"),
    )
    op.create_table(
        "ev_batch_anchored",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("root", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("anchorer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("reading_count", sa.BigInteger(), nullable=False),
        sa.Column("first_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("content_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_batch_anchored", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_batch_anchored_root"), ["root"], unique=False)

    op.create_table(
        "ev_device_key_rotated",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("key_index", sa.BigInteger(), nullable=False),
        sa.Column("key_type", sa.Integer(), nullable=False),
        sa.Column("signer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("x", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("y", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_device_key_rotated", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_device_key_rotated_device_id"), ["device_id"], unique=False)

    op.create_table(
        "ev_device_metadata_updated",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("firmware_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("metadata_cid", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_device_metadata_updated", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_device_metadata_updated_device_id"), ["device_id"], unique=False)

    op.create_table(
        "ev_device_ownership_transferred",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("previous_owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("new_owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_device_ownership_transferred", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_device_ownership_transferred_device_id"), ["device_id"], unique=False)

    op.create_table(
        "ev_device_registered",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("registrar", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("key_type", sa.Integer(), nullable=False),
        sa.Column("signer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("x", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("y", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("firmware_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("metadata_cid", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_device_registered", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_device_registered_device_id"), ["device_id"], unique=False)

    op.create_table(
        "ev_device_status_changed",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("previous_status", sa.Integer(), nullable=False),
        sa.Column("new_status", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_device_status_changed", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_device_status_changed_device_id"), ["device_id"], unique=False)

    op.create_table(
        "ev_eip712_domain_changed",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_role_admin_changed",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("previous_admin_role", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("new_admin_role", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_role_granted",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_role_revoked",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "event_log",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("transaction_index", sa.Integer(), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("topic0", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("topic1", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("topic2", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("topic3", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "index_state",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("genesis_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("contracts", sa.Text(), nullable=False),
        sa.Column("start_block", sa.BigInteger(), nullable=False),
        sa.Column("transactions", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("head_number", sa.BigInteger(), nullable=True),
        sa.Column("head_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("chain_head", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_through", sa.BigInteger(), nullable=False),
        sa.Column("events_per_second", sa.Float(), nullable=False),
        sa.Column("blocks_per_second", sa.Float(), nullable=False),
        sa.Column("reorgs", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "role_member",
        sa.Column("contract", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("granted_block", sa.BigInteger(), nullable=False),
        sa.Column("granted_by", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("contract", "role", "account"),
    )
    with op.batch_alter_table("role_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_member_account"), ["account"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("role_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_member_account"))

    op.drop_table("role_member")
    op.drop_table("index_state")
    op.drop_table("event_log")
    op.drop_table("ev_role_revoked")
    op.drop_table("ev_role_granted")
    op.drop_table("ev_role_admin_changed")
    op.drop_table("ev_eip712_domain_changed")
    with op.batch_alter_table("ev_device_status_changed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_device_status_changed_device_id"))

    op.drop_table("ev_device_status_changed")
    with op.batch_alter_table("ev_device_registered", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_device_registered_device_id"))

    op.drop_table("ev_device_registered")
    with op.batch_alter_table("ev_device_ownership_transferred", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_device_ownership_transferred_device_id"))

    op.drop_table("ev_device_ownership_transferred")
    with op.batch_alter_table("ev_device_metadata_updated", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_device_metadata_updated_device_id"))

    op.drop_table("ev_device_metadata_updated")
    with op.batch_alter_table("ev_device_key_rotated", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_device_key_rotated_device_id"))

    op.drop_table("ev_device_key_rotated")
    with op.batch_alter_table("ev_batch_anchored", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_batch_anchored_root"))

    op.drop_table("ev_batch_anchored")
    op.drop_table("device_key")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_status"))
        batch_op.drop_index(batch_op.f("ix_device_owner"))

    op.drop_table("device")
    with op.batch_alter_table("chain_transaction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_transaction_to_address"))
        batch_op.drop_index(batch_op.f("ix_chain_transaction_from_address"))
        batch_op.drop_index(batch_op.f("ix_chain_transaction_block_number"))

    op.drop_table("chain_transaction")
    op.drop_table("chain_block")
