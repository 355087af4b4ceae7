"""A GS1 Digital Link resolver for items: the URI printed in a product's QR code
(`/01/{GTIN}/21/{serial}`, `/00/{SSCC}`, ...) on this service's host leads to that item. Browsers
go to its explorer page; `Accept: application/json` to `GET /v1/items/{id}`; `linkType`
`gs1:traceability` to its history, `gs1:epcis` to its EPCIS events (which need an API key)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from ledger_service.app.api.problems import write_errors
from ledger_service.services.gs1 import canonical, item_id_of

router = APIRouter(tags=["digital link"])
_ERRORS = write_errors({422: "Not a GS1 Digital Link URI this service resolves (invalid-filter)"})
_TARGETS = {"gs1:traceability": "/v1/items/{id}/history", "gs1:epcis": "/epcis/events?MATCH_epc={uri}"}
LinkType = Annotated[str | None, Query(alias="linkType", pattern=r"^gs1:[a-zA-Z]{1,40}$")]


def _resolve(request: Request, link_type: str | None) -> RedirectResponse:
    uri = canonical(str(request.url.replace(query="")))
    item = item_id_of(uri)
    if link_type in _TARGETS:
        target = _TARGETS[link_type].format(id=item, uri=quote(uri, safe=""))
    elif "application/json" in request.headers.get("accept", ""):
        target = f"/v1/items/{item}"
    else:
        target = f"/explorer/item/{item}"
    return RedirectResponse(target, status_code=307)


@router.get("/01/{gtin}/{qualifier}/{value}", status_code=307, response_class=RedirectResponse, responses=_ERRORS)
def gtin_instance(
    request: Request, gtin: str, qualifier: str, value: str, link_type: LinkType = None
) -> RedirectResponse:
    """A GTIN with a serial (`/21/`) or lot (`/10/`)."""
    return _resolve(request, link_type)


@router.get("/01/{gtin}", status_code=307, response_class=RedirectResponse, responses=_ERRORS)
def gtin_class(request: Request, gtin: str, link_type: LinkType = None) -> RedirectResponse:
    return _resolve(request, link_type)


@router.get("/00/{sscc}", status_code=307, response_class=RedirectResponse, responses=_ERRORS)
def logistic_unit(request: Request, sscc: str, link_type: LinkType = None) -> RedirectResponse:
    return _resolve(request, link_type)
