"""The event feed: a page after a position (`GET /v1/events`) and the live stream as server-sent
events (`GET /v1/events/stream`, resumable with `Last-Event-ID`). Both need an API key and show
only what the key's party may see (`ledger_service.services.events`)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.event_schemas import FeedEventOut, FeedPageOut
from ledger_service.app.api.problems import write_errors
from ledger_service.app.api.routes.devices import _bearer
from ledger_service.core.errors import TooManyStreams
from ledger_service.core.models import ApiKey
from ledger_service.services.apikeys import authenticate, still_valid
from ledger_service.services.container import Services
from ledger_service.services.events import START, EventFeed, Position, check_types
from ledger_service.services.webhooks import check_scope

router = APIRouter(prefix="/v1/events", tags=["events"])
_ERRORS = write_errors({
    401: "No valid API key",
    403: "A key without a party that is not an admin key (forbidden)",
    422: "Not an event id (invalid-event-id), or an unknown type",
    429: "Too many open streams for this key (too-many-streams)",
})  # fmt: skip
KEEPALIVE = 15.0  # seconds between comment lines on a quiet stream, so proxies keep it open
_STREAM_POLL = 0.2
MAX_STREAMS_PER_KEY = 4  # open streams one API key may hold in one API process
_OPEN: dict[int, int] = {}  # API key id -> its open streams (this process's event loop only touches it)
KEY_RECHECK = 5.0  # seconds between looks at whether the stream's key is still valid


def _key(services: ServicesDep, secret: Annotated[str | None, Depends(_bearer)]) -> ApiKey:
    return authenticate(services.engine, secret)


AnyKey = Annotated[ApiKey, Depends(_key)]


def viewer_of(services: Services, key: ApiKey) -> str | None:
    """The account whose events `key` may see; None for an admin key without a party (all events);
    `Forbidden` for any other key without a party."""
    check_scope(key)
    return services.parties.address(key.party) if key.party is not None else None


def _types(types: str | None) -> list[str] | None:
    return check_types(t for t in types.split(",") if t) if types else None


@router.get("", response_model=FeedPageOut, responses=_ERRORS)
def events(
    services: ServicesDep,
    key: AnyKey,
    after: Annotated[str | None, Query(description="Events after this id; none: from the start")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    types: Annotated[str | None, Query(description="Comma-separated event types; none: all")] = None,
) -> FeedPageOut:
    """A page of the feed after `after`; `next` is the `after` of the next page."""
    page = EventFeed(services.engine).read(
        Position.parse(after) if after else START, limit, viewer_of(services, key), _types(types)
    )
    return FeedPageOut(
        data=[FeedEventOut(**e.to_json()) for e in page.events], next=str(page.next),
        confirmed_through=page.confirmed_through,
    )  # fmt: skip


@router.get("/stream", responses={200: {"content": {"text/event-stream": {}}}, **_ERRORS})
async def stream(
    request: Request,
    services: ServicesDep,
    key: AnyKey,
    after: Annotated[str | None, Query(description="Start after this id (Last-Event-ID wins)")] = None,
    types: Annotated[str | None, Query(description="Comma-separated event types; none: all")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The feed as server-sent events (`id`, `event`: the type, `data`: the event as JSON), live.
    A client that reconnects with `Last-Event-ID` gets every event after that one, once; with
    neither it nor `after`, the stream starts at the events to come."""
    feed = EventFeed(services.engine)
    start = last_event_id or after
    position = Position.parse(start) if start else await run_in_threadpool(feed.head)
    viewer = await run_in_threadpool(viewer_of, services, key)
    wanted = _types(types)  # unknown types are refused before the stream starts

    holder = key.id or 0
    if _OPEN.get(holder, 0) >= MAX_STREAMS_PER_KEY:
        raise TooManyStreams(f"this key has {MAX_STREAMS_PER_KEY} event streams open already")

    async def lines() -> AsyncIterator[bytes]:
        _OPEN[holder] = _OPEN.get(holder, 0) + 1  # counted while it streams, so never left counted
        try:
            async for chunk in _lines():
                yield chunk
        finally:
            _OPEN[holder] -= 1

    async def _lines() -> AsyncIterator[bytes]:
        nonlocal position
        yield b"retry: 1000\n\n"
        quiet_since = checked = time.monotonic()
        while not await request.is_disconnected():
            if time.monotonic() - checked > KEY_RECHECK:  # a revoked key's stream ends
                if not await run_in_threadpool(still_valid, services.engine, key.id):
                    return
                checked = time.monotonic()
            page = await run_in_threadpool(feed.read, position, 500, viewer, wanted)
            for event in page.events:
                data = json.dumps(event.to_json(), separators=(",", ":"))
                yield f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()
            if page.events:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE:
                yield b": keepalive\n\n"
                quiet_since = time.monotonic()
            position = page.next
            if len(page.events) < 500:
                await asyncio.sleep(_STREAM_POLL)

    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(lines(), media_type="text/event-stream", headers=headers)
