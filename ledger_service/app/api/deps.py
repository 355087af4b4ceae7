"""Dependencies shared by the routers."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response

from ledger_service.app.api.mirror_cache import MirrorCache
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


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_bytes(data: Any) -> bytes:
    """`data` as JSON, serialized by orjson (decimals as numbers)."""
    return orjson.dumps(data, default=_json_default)


def mirror_cache(request: Request) -> MirrorCache:
    """The app's cache of answers made from the SQL mirror (see `mirror_cache`)."""
    cache: MirrorCache | None = getattr(request.app.state, "mirror_cache", None)
    if cache is None:
        cache = request.app.state.mirror_cache = MirrorCache()
    return cache


def json_answer(data: Any) -> Response:
    """`data` as a JSON response, serialized by orjson in one pass. For the hot read paths: a route
    that returns a dict has FastAPI walk it with `jsonable_encoder` (and validate it against its
    response model) first, which cost more than building the answer. The response model stays in
    the route's decorator for the OpenAPI document; the schema tests check the answers against it."""
    return Response(json_bytes(data), media_type="application/json")
