"""Reads of the SQL mirror for the API and the explorer: items, their timelines, tokens.

Every answer says which block the mirror reflects (`indexed_block`); nothing here asks the chain.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from indexer.supply_projections import CONDITIONS
from ledger_service.core.enums import Action, Outcome
from ledger_service.core.enums import Path as ReportPath

_ZERO_ADDRESS = "0x" + "00" * 20
_ZERO_HASH = "0x" + "00" * 32


def indexed_block(conn: Connection) -> int | None:
    """The last block the mirror holds."""
    value = conn.execute(text("SELECT head_number FROM index_state WHERE id = 'main'")).scalar_one_or_none()
    return None if value is None else int(value)


def _site(hex_site: str) -> str:
    raw = bytes.fromhex(hex_site[2:]).rstrip(b"\0")
    return raw.decode("ascii", errors="replace")


def _location(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "latitude": row["latitude_e6"] / 1_000_000,
        "longitude": row["longitude_e6"] / 1_000_000,
        "site": _site(row["site"]),
    }


def item_view(conn: Connection, item_id: str) -> dict[str, Any] | None:
    """An item now: state, attached devices, pending handover, custody chain and token."""
    row = conn.execute(text("SELECT * FROM item WHERE item_id = :i"), {"i": item_id}).mappings().first()
    if row is None:
        return None
    item = dict(row)
    item["held"] = bool(item["held"])
    pending = None
    if item.pop("pending_receiver") is not None:
        pending = {"transfer_id": item["pending_transfer_id"], "receiver": row["pending_receiver"],
                   "expires_at": item["pending_expires_at"]}  # fmt: skip
    item.pop("pending_transfer_id")
    item.pop("pending_expires_at")
    item["pending_transfer"] = pending
    item["devices"] = [
        r[0]
        for r in conn.execute(
            text("SELECT device_id FROM item_device WHERE item_id = :i ORDER BY device_id"), {"i": item_id}
        )
    ]
    item["custody"] = [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT custodian, from_block, from_time, until_block, until_time FROM custody_period "
                "WHERE item_id = :i ORDER BY sequence"
            ),
            {"i": item_id},
        ).mappings()
    ]
    token = (
        conn.execute(text("SELECT token_id, owner, uri FROM asset_token WHERE item_id = :i"), {"i": item_id})
        .mappings()
        .first()
    )
    item["token"] = dict(token) if token else None
    return item


def _where(filters: dict[str, Any], cursor_column: str, after: str | None) -> tuple[str, dict[str, Any]]:
    """A WHERE clause for equality filters (None: no filter) and a cursor, with its parameters."""
    clauses = [f"{column} = :{column}" for column, value in filters.items() if value is not None]
    params = {column: value for column, value in filters.items() if value is not None}
    if after is not None:
        clauses.append(f"{cursor_column} > :after")
        params["after"] = after
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def list_items(
    conn: Connection,
    custodian: str | None,
    status: str | None,
    manufacturer: str | None,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Items in id order after cursor `after`, filtered."""
    where, params = _where({"custodian": custodian, "status": status, "manufacturer": manufacturer}, "item_id", after)
    params["limit"] = limit
    rows = conn.execute(
        text(
            "SELECT item_id, manufacturer, custodian, status, condition, held, transfer_count, registered_at "
            f"FROM item {where} ORDER BY item_id LIMIT :limit"
        ),
        params,
    ).mappings()
    return [{**dict(r), "held": bool(r["held"])} for r in rows]


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
                details["location"] = _location(dict(row))
            _name_codes(details)
            leaf = details.get("evidence_leaf")
            if leaf and leaf != _ZERO_HASH:
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
        kind = "token_minted" if row["from_address"] == _ZERO_ADDRESS else "token_transferred"
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


def _freeze_of(conn: Connection, token_id: str) -> str | None:
    """The report a token is frozen for (an oracle froze it and no admin lifted it since), or None."""
    last: dict[str, tuple[int, int, str]] = {}
    for table in ("ev_token_frozen", "ev_token_unfrozen"):
        reason = "reason" if table == "ev_token_frozen" else "''"
        row = conn.execute(
            text(
                f"SELECT block_number, log_index, {reason} FROM {table} WHERE token_id = :t "
                "ORDER BY block_number DESC, log_index DESC LIMIT 1"
            ),
            {"t": token_id},
        ).first()
        if row is not None:
            last[table] = (int(row[0]), int(row[1]), str(row[2]))
    frozen, lifted = last.get("ev_token_frozen"), last.get("ev_token_unfrozen")
    if frozen is None or (lifted is not None and lifted[:2] > frozen[:2]):
        return None
    return frozen[2]


def token_view(conn: Connection, token_id: str) -> dict[str, Any] | None:
    """A token now, with its owner history and its item's state."""
    row = conn.execute(text("SELECT * FROM asset_token WHERE token_id = :t"), {"t": token_id}).mappings().first()
    if row is None:
        return None
    token = dict(row)
    item = conn.execute(text("SELECT status, condition FROM item WHERE item_id = :i"), {"i": row["item_id"]}).first()
    frozen_by = _freeze_of(conn, token_id)
    token["frozen"] = bool(item and item[0] == "recalled") or frozen_by is not None
    token["frozen_by_report"] = frozen_by
    token["transferable"] = bool(item and item[0] != "recalled" and item[1] == "compliant") and frozen_by is None
    token["history"] = [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT from_address, to_address, block_number, time, transaction_hash FROM v_token_ownership_history "
                "WHERE token_id = :t ORDER BY block_number"
            ),
            {"t": token_id},
        ).mappings()
    ]
    return token


def list_tokens(conn: Connection, owner: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
    """Tokens in id order after cursor `after`, optionally of one owner."""
    where, params = _where({"owner": owner}, "token_id", after)
    params["limit"] = limit
    rows = conn.execute(
        text(
            f"SELECT token_id, item_id, owner, uri, minted_block, transfers FROM asset_token {where} "
            "ORDER BY token_id LIMIT :limit"
        ),  # fmt: skip
        params,
    ).mappings()
    return [dict(r) for r in rows]
