"""EPCIS 2.0 capture: each event of a document notarized as a reading, and the events that are
supply-chain actions done as those actions, through the item endpoints with the caller's key (so
with the caller's roles and account, never the operator's).

- ObjectEvent, action ADD, bizStep `commissioning`: each EPC of `epcList` registered as an item
  (`POST /v1/items`; the item id is keccak-256 of the EPC's canonical GS1 Digital Link form);
- ObjectEvent, bizStep `shipping`, with a `destinationList` entry of type `owning_party`: the
  handover of each EPC proposed to that party (`party:NAME`, or an address);
- ObjectEvent, bizStep `receiving`: the pending handover of each EPC accepted;
- ObjectEvent, action OBSERVE, bizStep `inspecting`: a checkpoint of each EPC (`prov:statusCode`,
  default 200; a sensor report's `prov:readingId` as the evidence proven on chain);
- ObjectEvent, bizStep `accepting`: the delivery of each EPC confirmed;
- anything else: notarized only.

Commissioning takes the item's sensors from `ilmd` `prov:devices` and its description from the
other `ilmd` fields.

A location comes from `readPoint.id`: `geo:LAT,LON` gives the coordinates, an SGLN or a Digital Link
`/414/` gives the site's GLN (coordinates 0, 0 then).

Every event is checked (schema, mapping) before the first is acted on; then they are acted on in
order. A chain refusal stops the capture there: the events before it stay captured (a chain
action cannot be taken back), the answer says which. A document sent again captures nothing twice
(events are recognised by their CBV 2.0 event hash, `ledger_service.services.epcis_hash`, which
is also the eventID of an event sent without one; an eventID that claims a CBV 2.0 hash the event
does not have is refused).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from ledger_service.app.api.internal import RouteProblem, call_route
from ledger_service.core.errors import EpcisInvalid, InvalidFilter
from ledger_service.core.models import EpcisEvent, EpcisItem
from ledger_service.services.container import Services
from ledger_service.services.epcis_events import CaptureDevice, check_document, digest, event_time, identifiers
from ledger_service.services.epcis_hash import event_hash
from ledger_service.services.gs1 import canonical, gln_of, item_id_of

_VOCABULARY_PREFIXES = (
    "urn:epcglobal:cbv:bizstep:", "urn:epcglobal:cbv:sdt:", "urn:epcglobal:cbv:disp:",
    "https://ref.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/SDT-", "https://ref.gs1.org/cbv/Disp-",
)  # fmt: skip
_GEO = re.compile(r"^geo:(-?\d{1,2}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?)")


@dataclass
class Act:
    """One item endpoint call an event stands for."""

    method: str
    path: str
    body: dict[str, Any]


@dataclass
class Planned:
    event: dict[str, Any]
    digest: bytes
    items: list[str]
    time: float
    hash: str
    acts: list[Act] = field(default_factory=list)


def vocabulary(value: Any) -> str:
    """A CBV value in its bare form: `commissioning` for the URN, the Web URI or the bare word."""
    text = str(value or "")
    for cut in _VOCABULARY_PREFIXES:
        if text.startswith(cut):
            return text[len(cut) :]
    return text


def location(event: dict[str, Any]) -> dict[str, Any]:
    """The place of an event: coordinates from a `geo:` readPoint, the site's GLN from the
    bizLocation (or an SGLN readPoint); 0, 0 and no site when the event says nothing."""
    point = str((event.get("readPoint") or {}).get("id", ""))
    site = gln_of(str((event.get("bizLocation") or {}).get("id", ""))) or gln_of(point)
    found = _GEO.match(point)
    if found:
        return {"latitude": float(found[1]), "longitude": float(found[2]), "site": site}
    return {"latitude": 0.0, "longitude": 0.0, "site": site}


def _evidence(event: dict[str, Any]) -> str | None:
    """The reading a sensor report of the event names (`prov:readingId`), as a checkpoint's evidence."""
    for element in event.get("sensorElementList") or []:
        for report in element.get("sensorReport") or []:
            if isinstance(report.get("prov:readingId"), str):
                return str(report["prov:readingId"])
    return None


def _commissioned(event: dict[str, Any], epc: str) -> Act:
    ilmd = event.get("ilmd") or {}
    devices = ilmd.get("prov:devices") or []
    description = {"gs1": canonical(epc), **{k: v for k, v in ilmd.items() if not k.startswith("prov:")}}
    return Act("POST", "/v1/items", {"item_id": item_id_of(epc), "description": description, "devices": devices})


def _receiver(event: dict[str, Any], where: str) -> str:
    for entry in event.get("destinationList") or []:
        if vocabulary(entry.get("type")) == "owning_party":
            target = str(entry.get("destination", ""))
            target = target.removeprefix("ethereum:")
            if re.match(r"^(0x[0-9a-fA-F]{40}|party:[a-z0-9][a-z0-9-]{0,62})$", target):
                return target
            raise EpcisInvalid("a shipping destination must be party:NAME or an address", errors=[{"path": where}])
    raise EpcisInvalid("a shipping event needs an owning_party destination", errors=[{"path": where}])


def plan(event: dict[str, Any], index: int) -> Planned:
    """What one event stands for; `EpcisInvalid` (with the event's path) when it cannot be acted on."""
    where = f"/epcisBody/eventList/{index}"
    try:
        items = [item_id_of(e) for e in identifiers(event)]
        planned = Planned(event, digest(event), items, event_time(event, index), event_hash(event))
        claimed = str(event.get("eventID") or "")
        if claimed.endswith("?ver=CBV2.0") and claimed != planned.hash:
            raise EpcisInvalid(
                f"event {index}: its eventID is a CBV 2.0 hash of other content",
                errors=[{"path": where + "/eventID", "message": f"the event hashes to {planned.hash}"}],
            )
        if event.get("type") != "ObjectEvent":
            return planned
        step, action = vocabulary(event.get("bizStep")), event.get("action")
        for epc in (str(e) for e in event.get("epcList") or []):
            item = item_id_of(epc)
            if step == "commissioning" and action == "ADD":
                planned.acts.append(_commissioned(event, epc))
            elif step == "shipping":
                to = _receiver(event, where + "/destinationList")
                handover = {"to": to, "location": location(event), "expires_in": 86_400}  # a day to accept
                planned.acts.append(Act("POST", f"/v1/items/{item}/handover", handover))
            elif step == "receiving":
                planned.acts.append(Act("POST", f"/v1/items/{item}/accept", {"location": location(event)}))
            elif step == "inspecting" and action == "OBSERVE":
                checkpoint = {"location": location(event), "status_code": int(event.get("prov:statusCode", 200)),
                              "evidence_reading_id": _evidence(event)}  # fmt: skip
                planned.acts.append(Act("POST", f"/v1/items/{item}/checkpoints", checkpoint))
            elif step == "accepting":
                planned.acts.append(Act("POST", f"/v1/items/{item}/deliver", {"location": location(event)}))
        return planned
    except EpcisInvalid:
        raise
    except InvalidFilter as exc:
        raise EpcisInvalid(exc.detail, errors=[{"path": where, "message": exc.detail}]) from exc
    except (ValueError, TypeError) as exc:  # an extension of the wrong kind, such as prov:statusCode
        raise EpcisInvalid(f"event {index}: {exc}", errors=[{"path": where, "message": str(exc)[:200]}]) from exc


#: Most events one document may hold: each may be a chain transaction.
MAX_EVENTS = 500


def _checked(document: Any) -> list[Planned]:
    events = check_document(document)
    if len(events) > MAX_EVENTS:
        raise EpcisInvalid(f"a document may hold {MAX_EVENTS} events, this one {len(events)}",
                           errors=[{"path": "/epcisBody/eventList", "message": "too many events"}])  # fmt: skip
    return [plan(event, index) for index, event in enumerate(events)]


def _known(services: Services, step: Planned, party: str | None) -> EpcisEvent | None:
    """The same event (by its CBV 2.0 hash) captured before by the same party."""
    same_party = EpcisEvent.party == party if party is not None else col(EpcisEvent.party).is_(None)
    with Session(services.engine) as session:
        return session.exec(select(EpcisEvent).where(EpcisEvent.event_hash == step.hash, same_party)).first()


async def capture(
    scope: Scope, services: Services, device: CaptureDevice, party: str | None, document: Any
) -> dict[str, Any]:
    """Checks the whole document, then captures its events in order (see the module text): each is
    notarized first (so no action is ever done for an event that then fails to be notarized), then
    acted on, then recorded."""
    planned = await run_in_threadpool(_checked, document)
    results: list[dict[str, Any]] = []
    for index, step in enumerate(planned):
        key = "0x" + step.digest.hex()
        known = await run_in_threadpool(_known, services, step, party)
        if known is not None:
            results.append({"index": index, "event_id": known.event_id, "digest": known.digest,
                            "status": "duplicate", "reading_id": known.reading_id})  # fmt: skip
            continue
        reading_id = await run_in_threadpool(device.notarize, step.digest)
        done = []
        for act in step.acts:
            try:
                answer = await call_route(scope, act.method, act.path, body=act.body)
            except RouteProblem as exc:  # the capture stops here; what came before stays captured
                error = {"path": f"/epcisBody/eventList/{index}", "message": str(exc),
                         "code": exc.problem.get("code"), "status": exc.status}  # fmt: skip
                results.append({"index": index, "digest": key, "status": "refused", "reading_id": reading_id})
                return _outcome(results, [error])
            done.append({"call": f"{act.method} {act.path}", "transaction_hash": answer.get("transaction_hash")})
        event_id = str(step.event.get("eventID") or step.hash)
        await run_in_threadpool(_store, services, step, key, event_id, party, reading_id)
        results.append({"index": index, "event_id": event_id, "digest": key, "status": "captured",
                        "reading_id": reading_id, "actions": done,
                        "proof": f"/v1/readings/{reading_id}/proof"})  # fmt: skip
    return _outcome(results, [])


def _outcome(results: list[dict[str, Any]], errors: list[dict[str, Any]]) -> dict[str, Any]:
    captured = sum(1 for r in results if r["status"] == "captured")
    return {"success": not errors, "captured": captured, "events": results, "errors": errors}


def _store(services: Services, step: Planned, key: str, event_id: str, party: str | None, reading_id: str) -> None:
    event, when = step.event, step.time
    row = EpcisEvent(
        digest=key, event_id=event_id, event_hash=step.hash, type=str(event.get("type")), event_time=when,
        biz_step=vocabulary(event.get("bizStep")) or None, action=event.get("action"),
        item_ids=",".join(step.items), party=party, reading_id=reading_id,
        document=json.dumps(event, separators=(",", ":")), captured_at=time.time(),
    )  # fmt: skip
    with Session(services.engine) as session:
        session.add(row)
        session.flush()  # its id, for the items it names
        assert row.id is not None
        for item in sorted(set(step.items)):
            session.add(EpcisItem(item_id=item, event=row.id, event_time=when))
        session.commit()
