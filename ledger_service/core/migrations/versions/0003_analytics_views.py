"""analytics views

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

The derived view of anchored batches, and views for the questions operators ask, in SQL that
SQLite and PostgreSQL both run. Times are Unix seconds; an hour is the Unix time of its start.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

VIEWS = {
    # Batches anchored in DataNotary, with their status by how deep the chain holds them (anchors
    # never change, so this view is exact; `index_state.confirmed_through` moves with the head).
    "anchored_batch": """
        SELECT e.batch_id, e.root, e.anchorer, e.reading_count, e.first_timestamp, e.last_timestamp,
               e.content_id, e.block_number, e.transaction_hash, e.address AS notary,
               b.timestamp AS anchored_at,
               CASE WHEN e.block_number <= COALESCE(
                   (SELECT s.confirmed_through FROM index_state s WHERE s.id = 'main'), -1)
                    THEN 'confirmed' ELSE 'anchored' END AS status
        FROM ev_batch_anchored e JOIN chain_block b ON b.number = e.block_number
    """,
    # Readings stored per device per hour (by the readings' own timestamps).
    "v_readings_per_device_hour": """
        SELECT device_id, (timestamp / 3600) * 3600 AS hour, COUNT(*) AS readings,
               COUNT(DISTINCT batch_id) AS batches
        FROM reading GROUP BY device_id, (timestamp / 3600) * 3600
    """,
    # Batches anchored per hour of block time, with readings they carry.
    "v_batches_per_hour": """
        SELECT (anchored_at / 3600) * 3600 AS hour, COUNT(*) AS batches, SUM(reading_count) AS readings
        FROM anchored_batch GROUP BY (anchored_at / 3600) * 3600
    """,
    # Anchoring lag per batch: from the newest reading's timestamp, and from sealing, to the block.
    "v_anchoring_lag": """
        SELECT a.batch_id, a.root, a.reading_count, a.block_number, a.anchored_at,
               a.anchored_at - a.last_timestamp AS lag_from_last_reading,
               a.anchored_at - b.sealed_at AS lag_from_seal, a.status
        FROM anchored_batch a LEFT JOIN batch b ON b.root = a.root
    """,
    # Devices by status and owner.
    "v_devices_by_status": """
        SELECT owner, status, COUNT(*) AS devices FROM device GROUP BY owner, status
    """,
    # How far the mirror trails the chain.
    "v_index_lag": """
        SELECT id, head_number, chain_head, chain_head - head_number AS lag_blocks, updated_at,
               events_per_second, blocks_per_second, reorgs
        FROM index_state
    """,
}


def upgrade() -> None:
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body.strip()}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
