"""Read queries over the mirrored SensorOracle events and the oracle daemons' report records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ledger_service.core.enums import Action, Comparison, Path, RuleKind

_PATHS = {int(p): p.name.lower() for p in Path}


def _rule_row(row: Any) -> dict[str, Any]:
    state = "fired" if row["fired_block"] is not None else "disabled" if row["disabled_block"] is not None else "armed"
    return {
        "rule_id": int(row["rule_id"]),
        "item_id": row["item_id"],
        "device_id": row["device_id"],
        "manager": row["manager"],
        "metric": row["metric"],
        "unit": row["unit"],
        "kind": RuleKind(int(row["kind"])).name.lower(),
        "comparison": Comparison(int(row["comparison"])).name.lower(),
        "lower": row["lower"],
        "upper": row["upper"],
        "scale": int(row["scale"]),
        "min_readings": int(row["min_readings"]),
        "min_duration": int(row["min_duration"]),
        "actions": Action(int(row["actions"])).names(),
        "state": state,
        "report_id": row["report_id"],
        "added_block": int(row["block_number"]),
        "transaction_hash": row["transaction_hash"],
    }


def list_rules(
    conn: Connection, item_id: str | None, state: str | None, cursor: int | None, limit: int
) -> list[dict[str, Any]]:
    """Rules in id order, optionally of one item and in one state; ids after `cursor`."""
    clauses = ["CAST(a.rule_id AS BIGINT) > :cursor"]
    params: dict[str, Any] = {"cursor": cursor or 0, "limit": limit}
    if item_id is not None:
        clauses.append("a.item_id = :item")
        params["item"] = item_id
    if state == "fired":
        clauses.append("f.block_number IS NOT NULL")
    elif state == "disabled":
        clauses.append("f.block_number IS NULL AND d.block_number IS NOT NULL")
    elif state == "armed":
        clauses.append("f.block_number IS NULL AND d.block_number IS NULL")
    rows = conn.execute(
        text(
            "SELECT a.*, d.block_number AS disabled_block, f.block_number AS fired_block, f.report_id "
            "FROM ev_rule_added a "
            "LEFT JOIN ev_rule_disabled d ON d.rule_id = a.rule_id AND d.address = a.address "
            "LEFT JOIN ev_rule_fired f ON f.rule_id = a.rule_id AND f.address = a.address "
            f"WHERE {' AND '.join(clauses)} ORDER BY CAST(a.rule_id AS BIGINT) LIMIT :limit"
        ),
        params,
    ).mappings()
    return [_rule_row(r) for r in rows]


def rule_view(conn: Connection, rule_id: int) -> dict[str, Any] | None:
    """One rule, or None."""
    rows = list_rules(conn, None, None, rule_id - 1, 1)
    return rows[0] if rows and rows[0]["rule_id"] == rule_id else None


def list_reports(conn: Connection, item_id: str | None, limit: int) -> list[dict[str, Any]]:
    """Reports in the order they happened: those that fired a rule on chain (from the mirror), and
    those the daemons found that have not (pending, queued, superseded or failed), newest last."""
    params: dict[str, Any] = {"limit": limit}
    where = ""
    if item_id is not None:
        where = "WHERE f.item_id = :item"
        params["item"] = item_id
    fired = conn.execute(
        text(
            "SELECT f.*, b.timestamp FROM ev_rule_fired f JOIN chain_block b ON b.number = f.block_number "
            f"{where} ORDER BY f.block_number, f.log_index LIMIT :limit"
        ),
        params,
    ).mappings()
    reports: list[dict[str, Any]] = []
    on_chain: set[str] = set()
    for row in fired:
        on_chain.add(row["report_id"])
        reports.append(
            {
                "report_id": row["report_id"],
                "rule_id": int(row["rule_id"]),
                "item_id": row["item_id"],
                "device_id": row["device_id"],
                "path": _PATHS.get(int(row["path"]), str(row["path"])),
                "status": "fired",
                "value": row["value"],
                "observed_at": int(row["observed_at"]),
                "actions": Action(int(row["actions"])).names(),
                "evidence_root": row["evidence_root"],
                "submitter": row["submitter"],
                "block_number": int(row["block_number"]),
                "transaction_hash": row["transaction_hash"],
                "time": int(row["timestamp"]),
            }
        )
    local_where = "WHERE status <> 'fired'" + (" AND item_id = :item" if item_id is not None else "")
    for row in conn.execute(
        text(f"SELECT * FROM oracle_report {local_where} ORDER BY found_at LIMIT :limit"), params
    ).mappings():
        if row["report_id"] in on_chain:
            continue
        reports.append(
            {
                "report_id": row["report_id"],
                "rule_id": int(row["rule_id"]),
                "item_id": row["item_id"],
                "device_id": row["device_id"],
                "path": row["path"],
                "status": row["status"],
                "found_by": row["found_by"],
                "found_at": row["found_at"],
                "reading_ids": [r for r in str(row["reading_ids"]).split(",") if r],
                "last_error": row["last_error"],
            }
        )
    return reports[:limit]
