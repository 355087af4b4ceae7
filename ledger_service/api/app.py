"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from ledger_service import __version__
from ledger_service.api.limits import BodySizeLimit
from ledger_service.api.problems import install_problem_handlers
from ledger_service.api.routes import batches, devices, health, items, metrics, oracles, proofs, readings, tokens
from ledger_service.services import Services


def create_app(services: Services) -> FastAPI:
    """The API bound to `services`."""
    app = FastAPI(
        title="provenance-ledger",
        version=__version__,
        description="Signed IoT readings, batched into Merkle trees and anchored on an EVM chain.",
    )
    app.state.services = services
    app.add_middleware(BodySizeLimit, max_bytes=services.settings.max_body_bytes)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(readings.router)
    app.include_router(devices.router)
    app.include_router(batches.router)
    app.include_router(proofs.router)
    app.include_router(items.router)
    app.include_router(tokens.router)
    app.include_router(oracles.router)
    return app
