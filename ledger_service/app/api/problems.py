"""RFC 9457 problem responses: every error leaves the API as `application/problem+json`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger_service.core.errors import ChainRefused, ProvenanceError, TransactionReverted
from ledger_service.core.redact import redact_value

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "urn:provenance-ledger:problem:"
MEDIA_TYPE = "application/problem+json"


def problem(status: int, code: str, title: str, detail: str, instance: str, **extra: Any) -> JSONResponse:
    """A problem response with a stable `code`; every text in it redacted (no URL secret or
    credential leaves in an error body)."""
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        **extra,
    }
    return JSONResponse(redact_value(jsonable_encoder(body)), status_code=status, media_type=MEDIA_TYPE)


def _context(exc: ProvenanceError) -> dict[str, Any]:
    return {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in exc.context.items() if v is not None}


def install_problem_handlers(app: FastAPI) -> None:
    """Maps every exception the API can raise to a problem response."""

    @app.exception_handler(ProvenanceError)
    async def _provenance_error(request: Request, exc: ProvenanceError) -> JSONResponse:
        if exc.status >= 500:
            log.error("request failed", extra={"path": request.url.path, "code": exc.code, "detail": exc.detail})
        response = problem(exc.status, exc.code, exc.title, exc.detail, request.url.path, **_context(exc))
        if "retry_after" in exc.context:
            response.headers["Retry-After"] = str(max(1, round(float(exc.context["retry_after"]))))
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return problem(422, "validation-error", "Invalid request", detail, request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, f"http-{exc.status_code}")
        return problem(exc.status_code, code, str(exc.detail), str(exc.detail), request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem(500, "internal-error", "Internal error", "an unexpected error occurred", request.url.path)


def refusal(exc: TransactionReverted, reverts: dict[str, tuple[int, str]], contract: str) -> ChainRefused:
    """A contract's revert as the API reports it: the custom error's (status, code) from `reverts`,
    409 `chain-refused` for errors not listed."""
    name = str(exc.context.get("error") or "")
    status_code, code = reverts.get(name, (409, "chain-refused"))
    refused = ChainRefused(f"{contract} refused: {exc.detail}", contract_error=name or None)
    refused.status, refused.code = status_code, code
    return refused


def write_errors(texts: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for problem answers: status -> description."""
    return {code: {"description": text, "content": {MEDIA_TYPE: {}}} for code, text in texts.items()}


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details with a stable `code`; some carry more fields.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "A URN naming the problem type"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path"},
        "code": {"type": "string", "description": "Stable machine-readable code, e.g. not-found"},
    },
    "additionalProperties": True,
}


#: GraphQL over HTTP answers its request errors in its own media type, not as problems.
GRAPHQL_MEDIA_TYPE = "application/graphql-response+json"


def document_problems(app: FastAPI) -> None:
    """Makes the OpenAPI document describe every error response as it is sent: problem+json with
    the Problem schema (FastAPI's default 422 says application/json HTTPValidationError)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for code, response in operation.get("responses", {}).items():
                    if code[:1] in ("4", "5") and GRAPHQL_MEDIA_TYPE not in response.get("content", {}):
                        response["content"] = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
                        if response.get("description") == "Validation Error":
                            response["description"] = "Malformed request (validation-error, with `errors`)"
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
