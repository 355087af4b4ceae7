"""sensor oracle, escrow and token freezes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ev_committee_member_added",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("signer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("position", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("bls_key", sa.Text(), nullable=False),
        sa.Column("config_version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_committee_member_removed",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("signer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("config_version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_escrow_opened",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("buyer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("seller", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("amount", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_escrow_opened", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_escrow_opened_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_escrow_settled",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("payee", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("outcome", sa.Integer(), nullable=False),
        sa.Column("amount", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("settled_by", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_escrow_settled", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_escrow_settled_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ev_quorum_changed",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("config_version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ev_rule_added",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("rule_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("manager", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("comparison", sa.Integer(), nullable=False),
        sa.Column("lower", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("upper", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("scale", sa.Integer(), nullable=False),
        sa.Column("min_readings", sa.BigInteger(), nullable=False),
        sa.Column("min_duration", sa.BigInteger(), nullable=False),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_rule_added", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_rule_added_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ev_rule_added_rule_id"), ["rule_id"], unique=False)

    op.create_table(
        "ev_rule_disabled",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("rule_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_rule_disabled", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_rule_disabled_rule_id"), ["rule_id"], unique=False)

    op.create_table(
        "ev_rule_fired",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("rule_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("report_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("path", sa.Integer(), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("observed_at", sa.BigInteger(), nullable=False),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.Column("evidence_root", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("submitter", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_rule_fired", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_rule_fired_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ev_rule_fired_rule_id"), ["rule_id"], unique=False)

    op.create_table(
        "ev_token_frozen",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_token_frozen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_token_frozen_token_id"), ["token_id"], unique=False)

    op.create_table(
        "ev_token_unfrozen",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_token_unfrozen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_token_unfrozen_token_id"), ["token_id"], unique=False)

    op.create_table(
        "ev_withdrawn",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("amount", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ev_withdrawn", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ev_withdrawn_account"), ["account"], unique=False)

    op.create_table(
        "oracle_report",
        sa.Column("report_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reading_ids", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("payload", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("found_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("found_at", sa.Float(), nullable=False),
        sa.Column("breach_reading_at", sa.Float(), nullable=True),
        sa.Column("submitted_at", sa.Float(), nullable=True),
        sa.Column("transaction_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("report_id"),
    )
    with op.batch_alter_table("oracle_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oracle_report_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oracle_report_rule_id"), ["rule_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oracle_report_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oracle_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oracle_report_status"))
        batch_op.drop_index(batch_op.f("ix_oracle_report_rule_id"))
        batch_op.drop_index(batch_op.f("ix_oracle_report_item_id"))

    op.drop_table("oracle_report")
    with op.batch_alter_table("ev_withdrawn", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_withdrawn_account"))

    op.drop_table("ev_withdrawn")
    with op.batch_alter_table("ev_token_unfrozen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_token_unfrozen_token_id"))

    op.drop_table("ev_token_unfrozen")
    with op.batch_alter_table("ev_token_frozen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_token_frozen_token_id"))

    op.drop_table("ev_token_frozen")
    with op.batch_alter_table("ev_rule_fired", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_rule_fired_rule_id"))
        batch_op.drop_index(batch_op.f("ix_ev_rule_fired_item_id"))

    op.drop_table("ev_rule_fired")
    with op.batch_alter_table("ev_rule_disabled", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_rule_disabled_rule_id"))

    op.drop_table("ev_rule_disabled")
    with op.batch_alter_table("ev_rule_added", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_rule_added_rule_id"))
        batch_op.drop_index(batch_op.f("ix_ev_rule_added_item_id"))

    op.drop_table("ev_rule_added")
    op.drop_table("ev_quorum_changed")
    with op.batch_alter_table("ev_escrow_settled", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_escrow_settled_item_id"))

    op.drop_table("ev_escrow_settled")
    with op.batch_alter_table("ev_escrow_opened", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_escrow_opened_item_id"))

    op.drop_table("ev_escrow_opened")
    op.drop_table("ev_committee_member_removed")
    op.drop_table("ev_committee_member_added")
