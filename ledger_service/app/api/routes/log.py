"""The transparency log (`ledger_service.services.transparency_log`): its signed checkpoint, the
verifier key to pin, kept checkpoints, and inclusion and consistency proofs (hashes as 0x-hex)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse

from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.problems import write_errors
from ledger_service.core.errors import NotFound
from ledger_service.services.container import Services
from ledger_service.services.transparency_log import TransparencyLog

router = APIRouter(prefix="/v1/log", tags=["transparency log"])
_ERRORS = write_errors(
    {404: "No checkpoint of that size was served (not-found)", 422: "Out of the log (invalid-filter)"}
)
Size = Annotated[int, Query(ge=1, le=2**62)]


def transparency_log(request: Request, services: Services) -> TransparencyLog:
    """The log of this deployment, one per API process (its origin names the chain and the notary)."""
    return services.transparency_log


@router.get("/checkpoint", response_class=PlainTextResponse, responses=_ERRORS)
def checkpoint(request: Request, services: ServicesDep) -> PlainTextResponse:
    """The latest checkpoint: a C2SP tlog-checkpoint signed as a C2SP note (Ed25519)."""
    return PlainTextResponse(transparency_log(request, services).checkpoint())


@router.get("/checkpoints/{size}", response_class=PlainTextResponse, responses=_ERRORS)
def kept_checkpoint(
    request: Request, services: ServicesDep, size: Annotated[int, Path(ge=0, le=2**62)]
) -> PlainTextResponse:
    """The checkpoint served when the log had `size` leaves."""
    note = transparency_log(request, services).kept_checkpoint(size)
    if note is None:
        raise NotFound(f"no checkpoint of size {size} was served")
    return PlainTextResponse(note)


@router.get("/key", responses=_ERRORS)
def key(request: Request, services: ServicesDep) -> dict[str, str]:
    """The note verifier key to pin (`NAME+HEXID+BASE64KEY`), and the log's origin line."""
    log = transparency_log(request, services)
    return {"verifier_key": log.verifier, "origin": log.origin}


@router.get("/proof/inclusion", responses=_ERRORS)
def inclusion(
    request: Request, services: ServicesDep, index: Annotated[int, Query(ge=0)], size: Size
) -> dict[str, Any]:
    """Leaf `index` (its data and hash) and its audit path in the tree of `size` leaves."""
    return transparency_log(request, services).inclusion(index, size)


@router.get("/proof/consistency", responses=_ERRORS)
def consistency(
    request: Request,
    services: ServicesDep,
    old: Annotated[int, Query(alias="from", ge=1)],
    new: Annotated[int, Query(alias="to", ge=1)],
) -> dict[str, Any]:
    """That the tree of `from` leaves is a prefix of the tree of `to` leaves."""
    return transparency_log(request, services).consistency(old, new)
