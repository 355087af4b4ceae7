"""`POST /graphql`: GraphQL over the REST read models (`ledger_service.app.api.graphql_schema`),
behind the same read access and rate limits as REST. Parse and validation errors, and queries over
the depth or cost limit, are answered 400 with `errors` and nothing run."""

from __future__ import annotations

import functools
from inspect import isawaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from graphql import GraphQLError, GraphQLSchema, execute, parse, validate
from pydantic import BaseModel, ConfigDict, Field

from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.graphql_schema import build_schema, check_limits, type_definitions
from ledger_service.app.api.problems import GRAPHQL_MEDIA_TYPE

router = APIRouter(tags=["graphql"])


@functools.cache
def schema() -> GraphQLSchema:
    return build_schema()


class GraphQLRequest(BaseModel):
    """A GraphQL request (GraphQL over HTTP, JSON)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    query: str = Field(max_length=20_000)
    variables: dict[str, Any] | None = None
    operation_name: str | None = Field(None, alias="operationName", max_length=200)


def _refused(errors: list[GraphQLError]) -> JSONResponse:
    return JSONResponse({"errors": [e.formatted for e in errors]}, status_code=400, media_type=GRAPHQL_MEDIA_TYPE)


_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "`data`, and `errors` for fields that failed", "content": {GRAPHQL_MEDIA_TYPE: {}}},
    400: {"description": "Not a valid query, or over the depth or cost limit", "content": {GRAPHQL_MEDIA_TYPE: {}}},
}


@router.post("/graphql", responses=_ANSWERS)
async def graphql(body: GraphQLRequest, request: Request, services: ServicesDep) -> JSONResponse:
    """Runs one query. Types and fields are those of the REST answers (`GET /graphql/schema`)."""
    try:
        document = parse(body.query)
    except GraphQLError as exc:
        return _refused([exc])
    errors = validate(schema(), document)
    if errors:
        return _refused(errors)
    settings = services.settings
    over = check_limits(
        document.definitions, body.variables or {}, settings.graphql_max_depth, settings.graphql_max_cost
    )
    if over is not None:
        return _refused([over])
    result = execute(
        schema(), document, variable_values=body.variables, operation_name=body.operation_name,
        context_value={"scope": request.scope},
    )  # fmt: skip
    if isawaitable(result):
        result = await result
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [e.formatted for e in result.errors]
    return JSONResponse(answer, media_type=GRAPHQL_MEDIA_TYPE)


@router.get("/graphql/schema", response_class=JSONResponse)
def graphql_schema() -> JSONResponse:
    """The schema in SDL."""
    return JSONResponse({"sdl": type_definitions()})
