"""Parties: accounts the service holds keys for. Only an admin key lists or creates them; no
other request makes one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status

from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.problems import write_errors
from ledger_service.app.api.routes.devices import require
from ledger_service.app.api.schemas import PartyIn, PartyList, PartyPublic
from ledger_service.core.models import ApiKey
from ledger_service.services.apikeys import Role
from ledger_service.services.parties import list_parties

router = APIRouter(prefix="/v1/parties", tags=["parties"])

AdminKey = Annotated[ApiKey, require(Role.ADMIN)]
_ERRORS = write_errors(
    {401: "No valid API key", 403: "The API key is not an admin key", 409: "The party exists (party-exists)"}
)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PartyPublic, responses=_ERRORS)
def create_party(body: PartyIn, services: ServicesDep, _: AdminKey) -> PartyPublic:
    """Creates a party (`admin` role): its key is made and kept by the service, and funded on dev chains."""
    return PartyPublic(name=body.name, address=services.parties.create(body.name))


@router.get("", response_model=PartyList, responses=_ERRORS)
def parties(services: ServicesDep, _: AdminKey) -> PartyList:
    """Every party with its address (`admin` role)."""
    return PartyList(data=[PartyPublic(name=n, address=a) for n, a in list_parties(services.settings.data_dir)])
