"""An item's timeline from the SQL mirror: registration, devices, handovers, checkpoints with links to
their evidence, conditions, holds, recalls, delivery, token events, rules and reports, and the
anchored sensor batches of the item's devices, in chain order."""

from __future__ import annotations

import json as json_module
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text
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


#: Detail fields that hold a contract's enum or flag code, with the names to show instead.
_CODE_NAMES: tuple[tuple[str, dict[int, str]], ...] = (
    ("previous_condition", CONDITIONS),
    ("new_condition", CONDITIONS),
    ("outcome", {o.value: o.name.lower() for o in Outcome}),
    ("path", {p.value: p.name.lower() for p in ReportPath}),
)


def _name_codes(details: dict[str, Any]) -> None:
    """Replaces the contracts' enum and flag codes in timeline details with their names."""
    for key, names in _CODE_NAMES:
        if details.get(key) is not None:
            details[key] = names.get(int(details[key]), str(details[key]))
    if details.get("actions") is not None:
        details["actions"] = Action(int(details["actions"])).names()


#: Token events (by token id, the item id as an integer).
_TOKEN_TIMELINE: list[tuple[str, str, tuple[str, ...]]] = [
    ("ev_transfer", "token", ("from_address", "to_address")),
    ("ev_token_frozen", "token_frozen", ("actor", "reason")),
    ("ev_token_unfrozen", "token_unfrozen", ("actor",)),
]

#: The anchored batches holding readings of the item's devices (from the service's readings).
_SENSOR_BATCHES = (
    "SELECT a.block_number, -1 AS log_index, a.transaction_hash, a.anchored_at AS timestamp, "
    "'sensor_batch' AS kind, {json}('batch_id', a.batch_id, 'root', a.root, 'content_id', a.content_id, "
    "'readings_of_item_devices', a.readings, 'status', a.status) AS details FROM ("
    "SELECT a.batch_id, a.root, a.content_id, a.block_number, a.transaction_hash, a.anchored_at, a.status, "
    "COUNT(*) AS readings FROM reading r JOIN batch s ON s.id = r.batch_id JOIN anchored_batch a ON a.root = s.root "
    "WHERE r.device_id IN (SELECT device_id FROM item_device WHERE item_id = :i) "
    "GROUP BY a.batch_id, a.root, a.content_id, a.block_number, a.transaction_hash, a.anchored_at, a.status) a"
)


def _branch(json: str, table: str, kind: str, columns: tuple[str, ...], key: str) -> str:
    shown = list(columns) + (["latitude_e6", "longitude_e6", "site"] if table in _LOCATED else [])
    pairs = ", ".join(f"'{c}', e.{c}" for c in shown)
    return (
        f"SELECT e.block_number, e.log_index, e.transaction_hash, b.timestamp, '{kind}' AS kind, "
        f"{json}({pairs}) AS details FROM {table} e JOIN chain_block b ON b.number = e.block_number "
        f"WHERE e.{key} = :{key[0]}"
    )


@lru_cache(maxsize=4)
def _timeline_sql(dialect: str) -> TextClause:
    """The whole timeline as one UNION ALL, each entry's own columns packed as a JSON object."""
    json = "json_build_object" if dialect == "postgresql" else "json_object"
    branches = [_branch(json, table, kind, columns, "item_id") for table, kind, columns in _TIMELINE]
    branches += [_branch(json, table, kind, columns, "token_id") for table, kind, columns in _TOKEN_TIMELINE]
    branches.append(_SENSOR_BATCHES.format(json=json))
    return text(" UNION ALL ".join(branches) + " ORDER BY block_number, log_index")  # parsed once per dialect


def item_history(conn: Connection, item_id: str) -> list[dict[str, Any]]:
    """Everything that happened to the item, in chain order: its own events, token mints,
    transfers and freezes, and the anchored batches holding readings of its devices. One query."""
    token_id = str(int(item_id, 16))
    rows = conn.execute(_timeline_sql(conn.dialect.name), {"i": item_id, "t": token_id}).mappings()
    entries = []
    for row in rows:
        details = row["details"]
        details = dict(json_module.loads(details) if isinstance(details, str) else details)
        kind = row["kind"]
        if "latitude_e6" in details:
            details["location"] = location(details)
            for key in ("latitude_e6", "longitude_e6", "site"):
                details.pop(key)
        if kind == "token":
            kind = "token_minted" if details["from_address"] == ZERO_ADDRESS else "token_transferred"
            details = {"token_id": token_id, "from": details["from_address"], "to": details["to_address"]}
        elif kind in ("token_frozen", "token_unfrozen"):
            details = {"token_id": token_id, **details}
        elif kind != "sensor_batch":
            _name_codes(details)
            leaf = details.get("evidence_leaf")
            if leaf and leaf != ZERO_HASH:
                details["evidence_proof"] = f"/v1/readings/{leaf}/proof"
        entries.append(_entry(kind, row, details))
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
