"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ledger_service.core.errors import InvalidFilter
from ledger_service.services.container import Services


def get_services(request: Request) -> Services:
    """The process's services, attached to the app at start."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def mirror_block(services: Services) -> int | None:
    """The last block the SQL mirror holds: the height a read reflects."""
    from indexer.queries import indexed_block

    with services.engine.connect() as conn:
        return indexed_block(conn)


def only_params(request: Request, allowed: set[str]) -> None:
    """Refuses query parameters the endpoint does not know: a misspelt filter must not widen a query."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidFilter(
            f"unknown filter {', '.join(unknown)}; this endpoint takes {', '.join(sorted(allowed))}",
            unknown=unknown,
        )
