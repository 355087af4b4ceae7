"""Reads of the SQL mirror for the API and the explorer: items and tokens (timelines: `indexer.history`).

Every answer says which block the mirror reflects (`indexed_block`); nothing here asks the chain.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = "0x" + "00" * 32


def indexed_block(conn: Connection) -> int | None:
    """The last block the mirror holds."""
    value = conn.execute(text("SELECT head_number FROM index_state WHERE id = 'main'")).scalar_one_or_none()
    return None if value is None else int(value)


def item_known(conn: Connection, item_id: str) -> tuple[bool, int | None]:
    """Whether the mirror holds the item, and the mirror's last block: one query."""
    present, block = conn.execute(
        text(
            "SELECT (SELECT COUNT(*) FROM item WHERE item_id = :i), "
            "(SELECT head_number FROM index_state WHERE id = 'main')"
        ),
        {"i": item_id},
    ).one()
    return bool(present), None if block is None else int(block)


def _site(hex_site: str) -> str:
    raw = bytes.fromhex(hex_site[2:]).rstrip(b"\0")
    return raw.decode("ascii", errors="replace")


def location(row: dict[str, Any]) -> dict[str, Any]:
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
