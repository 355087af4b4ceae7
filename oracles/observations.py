"""What a committee rule sees at a moment: a heartbeat rule the silence since a device's last stored
reading, an aggregate rule the integer mean of its metric over the window, each kept inside the
device's attachment to the rule's item as the contract keeps it."""

from __future__ import annotations

import logging

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger_service.core.enums import RuleKind
from ledger_service.core.models import StoredReading
from ledger_service.core.supply_chain import Attachment, attached_throughout
from oracles.evaluator import integer_mean
from oracles.rules import ZERO32, Rule

log = logging.getLogger(__name__)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def observe(engine: Engine, rule: Rule, device: bytes, now: int, periods: list[Attachment]) -> tuple[int, int] | None:
    """(value, window start) when the heartbeat or aggregate `rule` is breached at `now` by `device`,
    else None. `periods` are the device's attachment periods to the rule's item (none for a rule
    on a device alone); the window lies inside one of them, as the contract checks."""
    device_hex = _hex(device)
    with Session(engine) as session:
        if rule.kind is RuleKind.HEARTBEAT:
            last = session.exec(
                select(func.max(StoredReading.timestamp)).where(StoredReading.device_id == device_hex)
            ).one()
            window_start = max(int(last or 0), rule.created_at)
            if rule.item_id != ZERO32:
                current = [p for p in periods if p.attached_at <= now and p.detached_at == 0]
                if not current:
                    return None  # not attached now: its silence says nothing of the item
                window_start = max(window_start, current[-1].attached_at)
            silence = now - window_start
            return (silence, window_start) if silence > rule.upper else None
        window_start = now - rule.min_duration
        if window_start < rule.created_at:
            return None
        if rule.item_id != ZERO32 and not attached_throughout(periods, window_start, now):
            return None
        rows = session.exec(
            select(StoredReading).where(
                StoredReading.device_id == device_hex,
                col(StoredReading.timestamp) >= window_start,
                col(StoredReading.timestamp) <= now,
            )
        ).all()
    matching = []
    for row in rows:
        if not rule.is_metric(row.metric):
            continue
        if not rule.same_unit(row.unit, row.scale):
            log.warning(
                "reading of the rule's metric in another unit or scale: left out of the mean",
                extra={"rule_id": rule.rule_id, "reading_id": row.id, "unit": row.unit},
            )
            continue
        matching.append(int(row.value))
    if len(matching) < max(1, rule.min_readings):
        return None
    mean = integer_mean(matching)
    return (mean, window_start) if rule.breaches(mean) else None
