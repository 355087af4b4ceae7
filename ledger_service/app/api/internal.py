"""Calling the API's own routes inside the process, as the caller: GraphQL fields and EPCIS
capture go through the REST endpoints themselves, so their validation, access rules, refusals
and caches are the REST ones. The call skips the middleware (the outer request was already
counted and limited) and keeps the caller's headers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from graphql import GraphQLError
from starlette.types import Scope


class RouteProblem(Exception):
    """A problem answer of a route called inside the process."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail", f"HTTP {status}")))
        self.status, self.problem = status, problem


async def call_route(
    scope: Scope, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
) -> Any:
    """The JSON answer of `METHOD path?params` (with `body` as JSON); `RouteProblem` for 4xx/5xx."""
    query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
    payload = b"" if body is None else json.dumps(body).encode()
    headers = [(k, v) for k, v in scope.get("headers", []) if k not in (b"content-length", b"content-type")]
    if body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    inner = {
        **scope, "method": method, "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "headers": headers,
    }  # fmt: skip
    inner.pop("route", None)
    inner.pop("endpoint", None)
    chunks: list[bytes] = []
    status = [500]
    sent = [False]

    async def receive() -> dict[str, Any]:
        if sent[0]:
            return {"type": "http.disconnect"}
        sent[0] = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await scope["app"].router(inner, receive, send)
    answer = json.loads(b"".join(chunks) or b"null")
    if status[0] >= 400:
        raise RouteProblem(status[0], answer if isinstance(answer, dict) else {})
    return answer


async def graphql_get(scope: Scope, path: str, params: dict[str, Any]) -> Any:
    """`call_route` for a GraphQL field: a problem becomes a GraphQL error with its code and status."""
    try:
        return await call_route(scope, "GET", path, params)
    except RouteProblem as exc:
        code = exc.problem.get("code", "error")
        raise GraphQLError(str(exc), extensions={"code": code, "status": exc.status}) from exc
