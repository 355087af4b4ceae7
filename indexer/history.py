"""An item's timeline from the SQL mirror: registration, devices, handovers, checkpoints with links to
their evidence, conditions, holds, recalls, delivery, token events, rules and reports, and the
anchored sensor batches of the item's devices, in chain order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from indexer.queries import ZERO_ADDRESS, ZERO_HASH, location
from indexer.supply_projections import CONDITIONS
from ledger_service.core.enums import Action, Outcome
from ledger_service.core.enums import Path as ReportPath

#: Timeline sources: (event table, entry type, columns shown).
_TIMELINE: list[tuple[str, str, tuple[str, ...]]] = [
    ("ev_item_registered", "registered", ("manufacturer", "custodian", "content_hash", "metadata_cid")),
    ("ev_device_attached", "device_attached", ("device_id", "actor")),
    ("ev_device_detached", "device_detached", ("device_id", "actor")),
    ("ev_transfer_proposed", "handover_proposed", ("transfer_id", "custodian", "receiver", "expires_at")),
    ("ev_transfer_accepted", "handover_accepted", ("transfer_id", "previous_custodian", "new_custodian")),
    ("ev_transfer_cancelled", "handover_cancelled", ("transfer_id", "actor")),
    ("ev_checkpoint_recorded", "checkpoint", ("recorder", "status_code", "evidence_root", "evidence_leaf")),
    (
        "ev_condition_changed",
        "condition_changed",
        ("previous_condition", "new_condition", "reporter", "evidence_root", "evidence_leaf"),
    ),  # fmt: skip
    ("ev_item_held", "held", ("actor",)),
    ("ev_item_released", "released", ("actor",)),
    ("ev_item_recalled", "recalled", ("actor", "reason")),
    ("ev_item_delivered", "delivered", ("custodian",)),
    (
        "ev_rule_added",
        "rule_added",
        (
            "rule_id",
            "manager",
            "device_id",
            "metric",
            "kind",
            "comparison",
            "lower",
            "upper",
            "scale",
            "min_readings",
            "min_duration",
            "actions",
        ),
    ),  # fmt: skip
    (
        "ev_rule_fired",
        "oracle_report",
        ("rule_id", "device_id", "report_id", "path", "value", "observed_at", "actions", "evidence_root", "submitter"),
    ),
    ("ev_escrow_opened", "escrow_opened", ("buyer", "seller", "amount", "deadline")),
    ("ev_escrow_settled", "escrow_settled", ("payee", "outcome", "amount", "settled_by")),
]

_LOCATED = {"ev_transfer_proposed", "ev_transfer_accepted", "ev_checkpoint_recorded", "ev_item_delivered"}


def _name_codes(details: dict[str, Any]) -> None:
    """Replaces the contracts' enum and flag codes in timeline details with their names."""
    for key, names in (
        ("old_condition", CONDITIONS),
        ("new_condition", CONDITIONS),
        ("outcome", {o.value: o.name.lower() for o in Outcome}),
        ("path", {p.value: p.name.lower() for p in ReportPath}),
    ):
        if key in details and details[key] is not None:
            details[key] = names.get(int(details[key]), str(details[key]))
    if "actions" in details and details["actions"] is not None:
        details["actions"] = Action(int(details["actions"])).names()


def item_history(conn: Connection, item_id: str) -> list[dict[str, Any]]:
    """Everything that happened to the item, in chain order: its own events, token mints and
    transfers, and the anchored batches holding readings of its devices."""
    entries: list[dict[str, Any]] = []
    for table, kind, columns in _TIMELINE:
        extra = ", latitude_e6, longitude_e6, site" if table in _LOCATED else ""
        rows = conn.execute(
            text(
                f"SELECT e.block_number, e.log_index, e.transaction_hash, b.timestamp, {', '.join(columns)}{extra} "
                f"FROM {table} e JOIN chain_block b ON b.number = e.block_number WHERE e.item_id = :i"
            ),
            {"i": item_id},
        ).mappings()
        for row in rows:
            details = {c: row[c] for c in columns}
            if table in _LOCATED:
                details["location"] = location(dict(row))
            _name_codes(details)
            leaf = details.get("evidence_leaf")
            if leaf and leaf != ZERO_HASH:
                details["evidence_proof"] = f"/v1/readings/{leaf}/proof"
            entries.append(_entry(kind, row, details))
    token_id = str(int(item_id, 16))
    for row in conn.execute(
        text(
            "SELECT e.block_number, e.log_index, e.transaction_hash, b.timestamp, e.from_address, e.to_address "
            "FROM ev_transfer e JOIN chain_block b ON b.number = e.block_number WHERE e.token_id = :t"
        ),
        {"t": token_id},
    ).mappings():
        kind = "token_minted" if row["from_address"] == ZERO_ADDRESS else "token_transferred"
        entries.append(_entry(kind, row, {"token_id": token_id, "from": row["from_address"], "to": row["to_address"]}))
    freezes: tuple[tuple[str, str, tuple[str, ...]], ...] = (
        ("ev_token_frozen", "token_frozen", ("actor", "reason")),
        ("ev_token_unfrozen", "token_unfrozen", ("actor",)),
    )
    for table, kind, columns in freezes:
        for row in conn.execute(
            text(
                f"SELECT e.block_number, e.log_index, e.transaction_hash, b.timestamp, {', '.join(columns)} "
                f"FROM {table} e JOIN chain_block b ON b.number = e.block_number WHERE e.token_id = :t"
            ),
            {"t": token_id},
        ).mappings():
            entries.append(_entry(kind, row, {"token_id": token_id, **{c: row[c] for c in columns}}))
    entries.extend(_sensor_batches(conn, item_id))
    entries.sort(key=lambda e: (e["block_number"], e["log_index"]))
    return entries


def _entry(kind: str, row: Any, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": kind,
        "block_number": int(row["block_number"]),
        "log_index": int(row["log_index"]),
        "time": int(row["timestamp"]),
        "transaction_hash": row["transaction_hash"],
        "details": details,
    }


def _sensor_batches(conn: Connection, item_id: str) -> list[dict[str, Any]]:
    """Anchored batches that hold readings of the item's devices (from the service's readings)."""
    rows = conn.execute(
        text(
            "SELECT a.batch_id, a.root, a.content_id, a.block_number, a.transaction_hash, a.anchored_at, "
            "a.status, COUNT(*) AS readings, MIN(r.device_id) AS device_id "
            "FROM reading r JOIN batch s ON s.id = r.batch_id JOIN anchored_batch a ON a.root = s.root "
            "WHERE r.device_id IN (SELECT device_id FROM item_device WHERE item_id = :i) "
            "GROUP BY a.batch_id, a.root, a.content_id, a.block_number, a.transaction_hash, a.anchored_at, a.status"
        ),
        {"i": item_id},
    ).mappings()
    return [
        {
            "type": "sensor_batch",
            "block_number": int(r["block_number"]),
            "log_index": -1,
            "time": int(r["anchored_at"]),
            "transaction_hash": r["transaction_hash"],
            "details": {
                "batch_id": int(r["batch_id"]),
                "root": r["root"],
                "content_id": r["content_id"],
                "readings_of_item_devices": int(r["readings"]),
                "status": r["status"],
            },
        }  # fmt: skip
        for r in rows
    ]
