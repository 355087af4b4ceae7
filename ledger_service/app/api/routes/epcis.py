"""GS1 EPCIS 2.0: capture (`POST /epcis/capture`) and the event query (`GET /epcis/events`), with
an API key; see `ledger_service.app.api.epcis_capture` and `epcis_query` for what each does."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.epcis_capture import capture
from ledger_service.app.api.epcis_query import Filters, iso, item_events, query_document
from ledger_service.app.api.problems import write_errors
from ledger_service.app.api.routes.events import AnyKey
from ledger_service.core.errors import EpcisInvalid, InvalidFilter, NotFound
from ledger_service.core.models import EpcisCapture
from ledger_service.services.container import Services
from ledger_service.services.epcis_events import CaptureDevice
from ledger_service.services.gs1 import canonical, item_id_of
from ledger_service.services.webhooks import check_scope

router = APIRouter(prefix="/epcis", tags=["epcis"])
_ERRORS = write_errors({
    401: "No valid API key",
    422: "Not EPCIS 2.0 (epcis-invalid, with each failing path), or an event a chain refused (epcis-invalid)",
})  # fmt: skip
MEDIA = "application/ld+json"


@router.post("/capture", status_code=202, responses=_ERRORS)
async def capture_document(request: Request, services: ServicesDep, key: AnyKey) -> JSONResponse:
    """Captures an EPCISDocument (a capture job, answered 202 once it has run, `Location` naming
    it): every event notarized as a reading (its proof link in the job); commissioning, shipping,
    receiving, inspecting and accepting events done as item actions with this key's roles and
    account. Events this party captured before are reported as duplicates. A document the schema
    refuses is answered 422 and makes no job."""
    try:
        document = await run_in_threadpool(json.loads, await request.body())
    except ValueError as exc:
        raise EpcisInvalid("the body is not JSON", errors=[{"path": "", "message": str(exc)[:200]}]) from exc
    device = request.app.state.__dict__.get("capture_device")
    if device is None:  # one per API process: it registers once and keeps its sequence in one lock
        device = request.app.state.capture_device = await run_in_threadpool(CaptureDevice, services)
    started = time.time()
    outcome = await capture(request.scope, services, device, key.party, document)
    job = EpcisCapture(
        id=str(uuid.uuid4()), party=key.party, api_key_id=key.id or 0, created_at=started,
        finished_at=time.time(), success=outcome["success"], result=json.dumps(outcome),
    )  # fmt: skip
    await run_in_threadpool(_save, services, job)
    headers = {"location": f"/epcis/capture/{job.id}"}
    return JSONResponse(_job(job), status_code=202, headers=headers)


def _save(services: Services, job: EpcisCapture) -> None:
    with Session(services.engine, expire_on_commit=False) as session:
        session.add(job)
        session.commit()


def _job(job: EpcisCapture) -> dict[str, Any]:
    """A capture job as EPCIS 2.0 shows one, with each event's outcome."""
    result = json.loads(job.result)
    return {
        "captureID": job.id, "createdAt": iso(job.created_at), "finishedAt": iso(job.finished_at),
        "running": False, "success": job.success, "captureErrorBehaviour": "proceed",
        "errors": result["errors"], "captured": result["captured"], "events": result["events"],
    }  # fmt: skip


@router.get("/capture/{capture_id}", responses=_ERRORS)
def capture_job(services: ServicesDep, key: AnyKey, capture_id: Annotated[str, Path(max_length=40)]) -> JSONResponse:
    """A capture job of this key's party (another party's: 404, as for none)."""
    with Session(services.engine) as session:
        job = session.get(EpcisCapture, capture_id)
    if job is None or (job.party != key.party and not (key.party is None and "admin" in key.roles.split(","))):
        raise NotFound(f"no capture job {capture_id[:40]}")
    return JSONResponse(_job(job))


def _time(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise InvalidFilter(f"{name} is not an ISO 8601 time: {value[:40]!r}") from exc


@router.get("/events", responses={200: {"content": {MEDIA: {}}, "description": "An EPCISQueryDocument"}, **_ERRORS})
async def events(
    request: Request,
    services: ServicesDep,
    key: AnyKey,
    match_epc: Annotated[
        str, Query(alias="MATCH_epc", description="The item: a GS1 Digital Link URI, an EPC URN or an item id")
    ],
    eq_biz_step: Annotated[str | None, Query(alias="EQ_bizStep", description="Comma-separated bizSteps")] = None,
    eq_action: Annotated[
        str | None, Query(alias="EQ_action", description="ADD, OBSERVE or DELETE (comma-separated)")
    ] = None,
    eq_disposition: Annotated[str | None, Query(alias="EQ_disposition")] = None,
    eq_read_point: Annotated[str | None, Query(alias="EQ_readPoint")] = None,
    eq_biz_location: Annotated[str | None, Query(alias="EQ_bizLocation")] = None,
    ge_event_time: Annotated[str | None, Query(alias="GE_eventTime")] = None,
    lt_event_time: Annotated[str | None, Query(alias="LT_eventTime")] = None,
    event_type: Annotated[str | None, Query(alias="eventType", description="Comma-separated event types")] = None,
    per_page: Annotated[int, Query(alias="perPage", ge=1, le=1000)] = 100,
    next_page_token: Annotated[str | None, Query(alias="nextPageToken", pattern=r"^[0-9]{1,9}$")] = None,
) -> JSONResponse:
    """The item's history as an EPCISQueryDocument (SimpleEventQuery): its chain timeline as
    ObjectEvents, its sensors' anchored readings as sensor reports, and the events captured about
    it that were not item actions; `perPage` at a time, the next page linked in `Link` (rel next)."""
    check_scope(key)  # the events captured by every party: an admin key's to see
    item_id = item_id_of(match_epc)
    epc = match_epc if match_epc.startswith("0x") else canonical(match_epc)
    chosen = Filters.of(
        steps=eq_biz_step, actions=eq_action, dispositions=eq_disposition, read_points=eq_read_point,
        locations=eq_biz_location, types=event_type, low=_time(ge_event_time, "GE_eventTime"),
        high=_time(lt_event_time, "LT_eventTime"),
    )  # fmt: skip
    found = [e for e in await item_events(request.scope, services, item_id, epc, key.party) if chosen.matches(e)]
    start = int(next_page_token or 0)
    page = found[start : start + per_page]
    answer = JSONResponse(query_document(page), media_type=MEDIA)
    if start + per_page < len(found):
        following = request.url.include_query_params(nextPageToken=str(start + per_page))
        answer.headers["link"] = f'<{following}>; rel="next"'
    return answer
