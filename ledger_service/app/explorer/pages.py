"""What each explorer page shows, read from the SQL mirror and the service's own tables (never
from the chain): blocks, transactions, addresses, devices, batches, readings, and search.

A device's state and keys come from the registry cache the API reads (handed in by the routes),
so the explorer and the API never show a device two ways; both it and the mirror's `device`
table are folded by `core.device_state`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from indexer.projections import device_row, key_rows
from indexer.queries import indexed_block
from ledger_service.core.device_state import DeviceRecord
from ledger_service.core.enums import Comparison, KeyType, RuleKind

HASH32 = re.compile(r"^0x[0-9a-f]{64}$")
ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
DIGITS = re.compile(r"^[0-9]{1,78}$")
#: Block numbers stay below this; token ids (item ids as integers) are far above it.
BLOCK_LIMIT = 2**63


def _rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def _row(conn: Connection, sql: str, **params: Any) -> dict[str, Any] | None:
    rows = _rows(conn, sql, **params)
    return rows[0] if rows else None


def _count(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def home(conn: Connection, devices: int) -> dict[str, Any]:
    """Latest blocks and transactions, and how many of each thing the ledger holds."""
    return {
        "head": indexed_block(conn),
        "blocks": _rows(conn, "SELECT * FROM chain_block ORDER BY number DESC LIMIT 10"),
        "transactions": _rows(
            conn,
            "SELECT t.hash, t.block_number, t.from_address, t.to_address, t.status, t.input, b.timestamp "
            "FROM chain_transaction t JOIN chain_block b ON b.number = t.block_number "
            "ORDER BY t.block_number DESC, t.transaction_index DESC LIMIT 10",
        ),
        "counts": {
            "devices": devices,
            "readings": _count(conn, "reading"),
            "batches": _count(conn, "batch"),
            "items": _count(conn, "item"),
            "tokens": _count(conn, "asset_token"),
            "rules": _count(conn, "ev_rule_added"),
        },
    }


def blocks(conn: Connection, before: int | None, limit: int) -> list[dict[str, Any]]:
    """Blocks newest first, below `before` when given."""
    if before is None:
        return _rows(conn, "SELECT * FROM chain_block ORDER BY number DESC LIMIT :limit", limit=limit)
    return _rows(
        conn, "SELECT * FROM chain_block WHERE number < :before ORDER BY number DESC LIMIT :limit",
        before=before, limit=limit,
    )  # fmt: skip


def block(conn: Connection, number: int) -> dict[str, Any] | None:
    """A block and its transactions, or None when the mirror does not hold it."""
    found = _row(conn, "SELECT * FROM chain_block WHERE number = :n", n=number)
    if found is None:
        return None
    found["transactions"] = _rows(
        conn, "SELECT * FROM chain_transaction WHERE block_number = :n ORDER BY transaction_index", n=number
    )
    return found


def transaction(conn: Connection, tx_hash: str) -> dict[str, Any] | None:
    """A transaction with its block's time and its project logs, or None."""
    found = _row(
        conn,
        "SELECT t.*, b.timestamp FROM chain_transaction t JOIN chain_block b ON b.number = t.block_number "
        "WHERE t.hash = :h",
        h=tx_hash,
    )
    if found is None:
        return None
    found["logs"] = _rows(
        conn,
        "SELECT * FROM event_log WHERE block_number = :n AND transaction_index = :i ORDER BY log_index",
        n=found["block_number"],
        i=found["transaction_index"],
    )
    return found


def address(conn: Connection, account: str, limit: int = 50, owned: Sequence[DeviceRecord] = ()) -> dict[str, Any]:
    """What the mirror knows of an account: its transactions, roles, devices, items and tokens."""
    return {
        "address": account,
        "transactions": _rows(
            conn,
            "SELECT t.hash, t.block_number, t.from_address, t.to_address, t.status, t.input, b.timestamp "
            "FROM chain_transaction t JOIN chain_block b ON b.number = t.block_number "
            "WHERE t.from_address = :a OR t.to_address = :a OR t.contract_address = :a "
            "ORDER BY t.block_number DESC, t.transaction_index DESC LIMIT :limit",
            a=account,
            limit=limit,
        ),
        "roles": _rows(conn, "SELECT * FROM role_member WHERE account = :a ORDER BY contract, role", a=account),
        "devices": [device_row(record) for record in owned],
        "items": _rows(
            conn,
            "SELECT * FROM item WHERE custodian = :a OR manufacturer = :a ORDER BY registered_block",
            a=account,
        ),
        "tokens": _rows(conn, "SELECT * FROM asset_token WHERE owner = :a ORDER BY minted_block", a=account),
    }


def _scaled(raw: str | int, scale: int) -> float:
    return float(int(raw) / 10**scale)


def _breaches(rule: dict[str, Any], value: int) -> bool:
    return Comparison(int(rule["comparison"])).breached(value, int(rule["lower"]), int(rule["upper"]))


def _watches(rule: dict[str, Any], metric: str, scale: int) -> bool:
    threshold = RuleKind(int(rule["kind"])) is RuleKind.THRESHOLD
    return threshold and rule["metric"] == metric and int(rule["scale"]) == scale


def device(conn: Connection, record: DeviceRecord | None, limit: int = 500) -> dict[str, Any] | None:
    """A device: its state and key history (from the registry cache the API reads, in the mirror's
    row shape), rules, reports, batches and latest readings per metric (oldest first, for the
    chart), each marked when it breaches a threshold rule on the device."""
    if record is None:
        return None
    found = device_row(record)
    device_id = found["device_id"]
    found["keys"] = [{**row, "type": KeyType(row["key_type"]).label} for row in key_rows(record)]
    found["items"] = _rows(conn, "SELECT item_id FROM item_device WHERE device_id = :d", d=device_id)
    rules = _rows(
        conn,
        "SELECT * FROM ev_rule_added WHERE device_id = :d OR item_id IN "
        "(SELECT item_id FROM item_device WHERE device_id = :d) ORDER BY block_number",
        d=device_id,
    )
    found["rules"] = rules
    found["reports"] = _rows(
        conn, "SELECT * FROM ev_rule_fired WHERE device_id = :d ORDER BY block_number", d=device_id
    )
    readings = _rows(
        conn,
        "SELECT id, sequence, timestamp, metric, value, scale, unit, batch_id FROM reading "
        "WHERE device_id = :d ORDER BY sequence DESC LIMIT :limit",
        d=device_id,
        limit=limit,
    )
    readings.reverse()
    series: dict[str, dict[str, Any]] = {}
    for reading in readings:
        metric = reading["metric"]
        entry = series.setdefault(metric, {"metric": metric, "unit": reading["unit"], "points": [], "rules": []})
        watching = [r for r in rules if _watches(r, metric, reading["scale"])]
        value = int(reading["value"])
        entry["points"].append(
            (reading["timestamp"], _scaled(value, reading["scale"]), any(_breaches(r, value) for r in watching))
        )
        for rule in watching:
            if rule not in entry["rules"]:
                entry["rules"].append(rule)
    found["series"] = list(series.values())
    found["readings"] = list(reversed(readings))[:50]
    found["batches"] = _rows(
        conn,
        "SELECT b.id, b.root, b.status, b.reading_count, b.block_number, b.transaction_hash FROM batch b "
        "WHERE b.id IN (SELECT DISTINCT batch_id FROM reading WHERE device_id = :d AND batch_id IS NOT NULL) "
        "ORDER BY b.id DESC LIMIT 50",
        d=device_id,
    )
    return found


def threshold_lines(rule: dict[str, Any]) -> list[tuple[float, str]]:
    """The bounds of a threshold rule, scaled, with labels."""
    scale, comparison = int(rule["scale"]), Comparison(int(rule["comparison"]))
    lines = []
    if comparison in (Comparison.ABOVE, Comparison.OUTSIDE):
        lines.append((_scaled(rule["upper"], scale), f"rule {rule['rule_id']}: > {_scaled(rule['upper'], scale):g}"))
    if comparison in (Comparison.BELOW, Comparison.OUTSIDE):
        lines.append((_scaled(rule["lower"], scale), f"rule {rule['rule_id']}: < {_scaled(rule['lower'], scale):g}"))
    return lines


def batch(conn: Connection, batch_id: int, limit: int = 500) -> dict[str, Any] | None:
    """A batch, where it was anchored (with confirmations against the mirror's head) and its readings."""
    found = _row(conn, "SELECT * FROM batch WHERE id = :b", b=batch_id)
    if found is None:
        return None
    head = indexed_block(conn)
    number = found["block_number"]
    found["confirmations"] = head - number + 1 if head is not None and number is not None and head >= number else 0
    found["readings"] = _rows(
        conn,
        "SELECT id, device_id, sequence, timestamp, metric, value, scale, unit FROM reading WHERE batch_id = :b "
        "ORDER BY device_id, sequence LIMIT :limit",
        b=batch_id,
        limit=limit,
    )
    return found


def reading(conn: Connection, reading_id: str) -> dict[str, Any] | None:
    """A stored reading, or None."""
    return _row(conn, "SELECT * FROM reading WHERE id = :r", r=reading_id)


def resolve(conn: Connection, query: str) -> str | None:
    """The explorer path a search for `query` leads to, or None when nothing matches: a block
    number, a token id (the large numbers), a transaction hash, a reading id, a device id, an item
    id, a batch root or id (`batch 12`), or an address."""
    q = query.strip().lower()
    if q.startswith("batch ") and q[6:].strip().isdigit():
        number = int(q[6:].strip())
        return f"/explorer/batch/{number}" if _row(conn, "SELECT id FROM batch WHERE id = :b", b=number) else None
    if DIGITS.match(q):
        number = int(q)
        if number < BLOCK_LIMIT:
            found = _row(conn, "SELECT number FROM chain_block WHERE number = :n", n=number)
            return f"/explorer/block/{number}" if found else None
        found = _row(conn, "SELECT token_id FROM asset_token WHERE token_id = :t", t=str(number))
        return f"/explorer/token/{number}" if found else None
    if ADDRESS.match(q):
        return f"/explorer/address/{q}"
    if not HASH32.match(q):
        return None
    for sql, page in (
        ("SELECT hash FROM chain_transaction WHERE hash = :k", "tx"),
        ("SELECT id FROM reading WHERE id = :k", "reading"),
        ("SELECT device_id FROM device WHERE device_id = :k", "device"),
        ("SELECT item_id FROM item WHERE item_id = :k", "item"),
    ):
        if _row(conn, sql, k=q):
            return f"/explorer/{page}/{q}"
    found = _row(conn, "SELECT id FROM batch WHERE root = :k", k=q)
    return f"/explorer/batch/{found['id']}" if found else None
