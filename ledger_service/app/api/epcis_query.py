"""EPCIS 2.0 query: an item's history as EPCIS events (from its REST timeline, so the two agree),
its sensors' anchored readings as `sensorElementList`s, and the captured events that name it and
were not supply-chain actions (those are already in the timeline).

| timeline entry | EPCIS event (all ObjectEvent) |
|---|---|
| registered | ADD, bizStep commissioning, disposition active |
| handover_proposed | OBSERVE, shipping, in_transit, destination owning_party = the receiver |
| handover_accepted | OBSERVE, receiving, in_progress, source owning_party = the previous custodian |
| checkpoint | OBSERVE, inspecting, readPoint `geo:LAT,LON` |
| condition_changed | OBSERVE, inspecting, disposition conformant or non_conformant |
| recalled | OBSERVE, holding, recalled |
| delivered | OBSERVE, accepting, completeness_verified |
| sensor_batch | OBSERVE, sensor_reporting, one sensorElement per reading of the item's devices |

Each event carries `prov:transactionHash` and `prov:blockNumber` (and `prov:readingId` per
sensor report), so it can be checked on chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from ledger_service.app.api.epcis_capture import plan, vocabulary
from ledger_service.app.api.internal import call_route
from ledger_service.core.models import EpcisEvent, EpcisItem
from ledger_service.services.container import Services

CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
           {"prov": "https://github.com/provenance-ledger/provenance-ledger/blob/main/docs/epcis.md#"}]  # fmt: skip
_STEPS = {
    "registered": ("ADD", "commissioning", "active"),
    "handover_proposed": ("OBSERVE", "shipping", "in_transit"),
    "handover_accepted": ("OBSERVE", "receiving", "in_progress"),
    "checkpoint": ("OBSERVE", "inspecting", None),
    "condition_changed": ("OBSERVE", "inspecting", None),
    "recalled": ("OBSERVE", "holding", "recalled"),
    "delivered": ("OBSERVE", "accepting", "completeness_verified"),
    "sensor_batch": ("OBSERVE", "sensor_reporting", None),
}
_MEASUREMENTS = {"temperature": ("gs1:Temperature", {"Cel": "CEL"}), "humidity": ("gs1:RelativeHumidity", {"%": "P1"})}


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _with_id(event: dict[str, Any]) -> dict[str, Any]:
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return {"eventID": f"ni:///sha-256;{hashlib.sha256(canonical).hexdigest()}", **event}


def _sensor_elements(services: Services, item_id: str, root: str) -> list[dict[str, Any]]:
    query = text(
        "SELECT r.id, r.device_id, r.timestamp, r.metric, r.value, r.scale, r.unit FROM reading r "
        "JOIN batch b ON b.id = r.batch_id WHERE b.root = :root AND r.device_id IN "
        "(SELECT device_id FROM item_device WHERE item_id = :item) ORDER BY r.device_id, r.sequence"
    )
    elements = []
    with services.engine.connect() as conn:
        for row in conn.execute(query, {"root": root, "item": item_id}):
            kind, units = _MEASUREMENTS.get(row.metric, (f"prov:{row.metric}", {}))
            report = {"type": kind, "value": int(row.value) / 10**row.scale, "uom": units.get(row.unit, row.unit),
                      "deviceID": f"prov:device:{row.device_id}", "prov:readingId": row.id}  # fmt: skip
            elements.append({"sensorMetadata": {"time": iso(row.timestamp)}, "sensorReport": [report]})
    return elements


def _from_entry(services: Services, item_id: str, epc: str, entry: dict[str, Any]) -> dict[str, Any] | None:
    shape = _STEPS.get(entry["type"])
    if shape is None:
        return None
    action, step, disposition = shape
    details = entry.get("details") or {}
    event: dict[str, Any] = {
        "type": "ObjectEvent", "eventTime": iso(entry["time"]), "eventTimeZoneOffset": "+00:00",
        "epcList": [epc], "action": action, "bizStep": step,
    }  # fmt: skip
    if entry["type"] == "condition_changed":
        disposition = "non_conformant" if details.get("new_condition") == "out_of_compliance" else "conformant"
    if disposition:
        event["disposition"] = disposition
    if entry["type"] == "handover_proposed":
        event["destinationList"] = [{"type": "owning_party", "destination": f"ethereum:{details.get('receiver')}"}]
    if entry["type"] == "handover_accepted":
        source = details.get("previous_custodian")
        event["sourceList"] = [{"type": "owning_party", "source": f"ethereum:{source}"}]
    place = details.get("location") or {}
    if place.get("latitude") is not None:
        event["readPoint"] = {"id": f"geo:{place['latitude']},{place['longitude']}"}
    if entry["type"] == "checkpoint":
        event["prov:statusCode"] = details.get("status_code")
        leaf = details.get("evidence_leaf")
        if details.get("evidence_proof"):
            event["sensorElementList"] = [{"sensorReport": [{"type": "prov:evidence", "prov:readingId": leaf}]}]
    if entry["type"] == "sensor_batch":
        event["sensorElementList"] = _sensor_elements(services, item_id, details["root"])
    event["prov:transactionHash"] = entry["transaction_hash"]
    event["prov:blockNumber"] = entry["block_number"]
    return _with_id(event)


async def item_events(
    scope: Scope, services: Services, item_id: str, epc: str, party: str | None
) -> list[dict[str, Any]]:
    """The item's history as EPCIS events, in time order; of the events captured about it, those
    `party` captured (None: an admin key of the operator's, all)."""
    history = await call_route(scope, "GET", f"/v1/items/{item_id}/history")
    return await run_in_threadpool(_assemble, services, item_id, epc, party, history["entries"])


def _assemble(
    services: Services, item_id: str, epc: str, party: str | None, entries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    events = [e for e in (_from_entry(services, item_id, epc, entry) for entry in entries) if e]
    with Session(services.engine) as session:
        rows = session.exec(select(EpcisItem.event).where(EpcisItem.item_id == item_id)).all()
        query = select(EpcisEvent).where(col(EpcisEvent.id).in_(rows))
        if party is not None:
            query = query.where(EpcisEvent.party == party)
        captured = session.exec(query).all() if rows else []
    for row in captured:
        event = json.loads(row.document)
        if not plan(event, 0).acts:  # an action is in the timeline already
            events.append({"eventID": row.event_id, **event, "prov:readingId": row.reading_id})
    events.sort(key=lambda e: e["eventTime"])
    return events


@dataclass(frozen=True)
class Filters:
    """The query's `EQ_` and time parameters; an empty set lets everything through."""

    steps: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    dispositions: frozenset[str] = frozenset()
    read_points: frozenset[str] = frozenset()
    locations: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    low: float | None = None
    high: float | None = None

    @classmethod
    def of(cls, low: float | None = None, high: float | None = None, **lists: str | None) -> Filters:
        """From comma-separated parameters; vocabulary values in any form (bare, URN, Web URI)."""

        def split(name: str, normal: Callable[[str], str] = str) -> frozenset[str]:
            text = lists.get(name)
            return frozenset(normal(v.strip()) for v in text.split(",") if v.strip()) if text else frozenset()

        return cls(split("steps", vocabulary), split("actions"), split("dispositions", vocabulary),
                   split("read_points"), split("locations"), split("types"), low, high)  # fmt: skip

    def matches(self, event: dict[str, Any]) -> bool:
        def within(chosen: frozenset[str], value: str | None) -> bool:
            return not chosen or (value is not None and value in chosen)

        when = datetime.fromisoformat(str(event["eventTime"]).replace("Z", "+00:00")).timestamp()
        return (within(self.steps, vocabulary(event.get("bizStep")) or None)
                and within(self.actions, event.get("action"))
                and within(self.dispositions, vocabulary(event.get("disposition")) or None)
                and within(self.read_points, (event.get("readPoint") or {}).get("id"))
                and within(self.locations, (event.get("bizLocation") or {}).get("id"))
                and within(self.types, event.get("type"))
                and (self.low is None or when >= self.low) and (self.high is None or when < self.high))  # fmt: skip


def query_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": CONTEXT, "type": "EPCISQueryDocument", "schemaVersion": "2.0", "creationDate": iso(
            datetime.now(UTC).timestamp()
        ),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}},
    }  # fmt: skip
