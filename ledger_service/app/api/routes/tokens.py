"""Asset tokens, read from the SQL mirror."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from indexer import queries
from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.problems import MEDIA_TYPE
from ledger_service.app.api.read_schemas import TokenPage, TokenView
from ledger_service.core.errors import NotFound

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])

TokenId = Path(pattern=r"^[0-9]{1,78}$", description="The token id, decimal (the item id read as a number)")
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such token in the mirror", "content": {MEDIA_TYPE: {}}},
    422: {"description": "Malformed id or filter", "content": {MEDIA_TYPE: {}}},
}


@router.get("", responses=_ERRORS, response_model=TokenPage)
def list_tokens(
    services: ServicesDep,
    owner: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,78}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Tokens, optionally of one owner; cursor pagination."""
    with services.engine.connect() as conn:
        data = queries.list_tokens(conn, owner.lower() if owner else None, cursor, limit)
        block = queries.indexed_block(conn)
    return {"data": data, "next_cursor": data[-1]["token_id"] if len(data) == limit else None, "indexed_block": block}


@router.get("/{token_id}", responses=_ERRORS, response_model=TokenView)
def get_token(services: ServicesDep, token_id: str = TokenId) -> dict[str, Any]:
    """A token: its item, owner, metadata URI, whether it is frozen or transferable, and its owners."""
    with services.engine.connect() as conn:
        token = queries.token_view(conn, str(int(token_id)))
        block = queries.indexed_block(conn)
    if token is None:
        raise NotFound(f"no token {token_id} in the mirror (at block {block})", token_id=token_id)
    return {**token, "indexed_block": block}
