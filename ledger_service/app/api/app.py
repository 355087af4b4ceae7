"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger_service import __version__
from ledger_service.app.api.access import RequestRateLimit, read_access
from ledger_service.app.api.limits import BodySizeLimit
from ledger_service.app.api.observe import RequestMetrics
from ledger_service.app.api.problems import document_problems, install_problem_handlers, write_errors
from ledger_service.app.api.routes import (
    batches,
    completeness,
    content,
    devices,
    digital_link,
    epcis,
    events,
    exports,
    graphql,
    health,
    items,
    log,
    metrics,
    oracles,
    parties,
    proofs,
    reading_queries,
    readings,
    subscriptions,
    tokens,
    trust,
)
from ledger_service.app.explorer import routes as explorer
from ledger_service.core.ratelimit import RateLimiter
from ledger_service.services.container import Services
from ledger_service.services.ingest import ON_REQUEST_THREAD


class MarkRequestThreads:
    """Sets `ON_REQUEST_THREAD` for every HTTP request; the threads a request runs in copy it, so
    they never wait for the registry's sync slot. A plain ASGI middleware: Starlette's
    `BaseHTTPMiddleware` would add a task and a stream to every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            ON_REQUEST_THREAD.set(True)
        await self.app(scope, receive, send)


def create_app(services: Services) -> FastAPI:
    """The API bound to `services`."""
    threads = services.settings.api_threads

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads  # the handlers' threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="provenance-ledger",
        version=__version__,
        description="Signed IoT readings, batched into Merkle trees and anchored on an EVM chain.",
        responses=write_errors(
            {
                401: "An API key is needed (writes; reads when PROVENANCE_PRIVATE_READS is on) or is not valid",
                429: "Too many requests from this API key or client address (see Retry-After)",
            }
        ),
    )
    settings = services.settings
    app.state.services = services
    services.parties.admin_created_only(services.engine)  # requests never make a party
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        RequestRateLimit,
        per_key=settings.api_key_rate,
        per_client=settings.api_client_rate,
        engine=services.engine,
        per_ingest_client=settings.ingest_client_rate,
    )
    app.state.bad_signatures = RateLimiter(settings.client_bad_signature_rate, settings.client_bad_signature_burst)
    app.state.http_metrics = CollectorRegistry()
    app.add_middleware(RequestMetrics, registry=app.state.http_metrics)
    install_problem_handlers(app)

    app.add_middleware(MarkRequestThreads)

    document_problems(app)
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    """One router per resource; reads behind `read_access` (public unless reads are private)."""
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(trust.router)  # public: verifiers need it before they hold any key
    app.include_router(parties.router)
    app.include_router(events.router)  # each needs a key of its own and shows only its party's events
    app.include_router(subscriptions.router)
    app.include_router(epcis.router)  # a key of its own; acts through the item routes with it
    app.include_router(reading_queries.router, dependencies=[read_access])  # before /v1/readings/{id}
    app.include_router(readings.router)  # ingest is public (device-signed); its reads depend on read_access
    routers = (
        devices.router,
        batches.router,
        proofs.router,
        items.router,
        tokens.router,
        oracles.router,
        exports.router,
        log.router,
        completeness.router,
        content.router,
    )
    for router in routers:
        app.include_router(router, dependencies=[read_access])
    app.include_router(graphql.router, dependencies=[read_access])  # its fields call the routes above
    app.mount("/explorer/static", explorer.static, name="explorer-static")
    app.include_router(explorer.router, dependencies=[read_access])
    app.include_router(digital_link.router, dependencies=[read_access])  # a QR code's URI leads to its item
