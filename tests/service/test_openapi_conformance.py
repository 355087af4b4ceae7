"""Schemathesis against the app's own OpenAPI document: for every operation, generated requests
(valid and invalid) must get no server error and a response that its documented schema, status
codes and media type allow. A bounded number of examples per operation keeps it quick."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from ledger_service.app.api.app import create_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.services.container import Services
from tests.utils.event_flow import index
from tests.utils.factories import new_device
from tests.utils.settings import make_settings

EXAMPLES = 12


@pytest.fixture(scope="module")
def seeded(chain: ChainContext, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """A service over SQLite with a device, anchored readings and the mirror filled."""
    data = tmp_path_factory.mktemp("fuzz")
    settings_ = make_settings(data / "data", database_url=f"sqlite:///{data / 'fuzz.db'}", batch_size=4, batch_age=60.0)
    services = Services.build(settings_, chain.client, chain.deployment, chain.artifacts)
    try:
        device = new_device(services.ledger)
        services.registry.refresh(force=True)
        for _ in range(4):
            reading = device.reading()
            services.ingestor.ingest(reading, device.sign(reading, services.ledger.domain))
        services.batcher().run_once()
        index(services, chain)
        yield services
    finally:
        services.close()


def test_every_operation_answers_as_documented(seeded: Services) -> None:
    """Each operation, EXAMPLES generated requests: no 5xx, every response allowed by the document
    (status, media type, body schema). Schema-valid requests may still be refused (an unknown device,
    a bad signature: things a schema cannot say), so that check is left out.
    (Schemathesis's own pytest plugin does not run under pytest 9, so the operations are driven
    here through their Hypothesis strategies.)"""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(seeded))
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together below
            failures[operation.label] = str(exc)[:1500]
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())


def test_the_document_describes_every_route(seeded: Services, tmp_path: Path) -> None:
    """Every /v1 operation documents its error responses as problem+json."""
    document = create_app(seeded).openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            errors = {code: r for code, r in operation["responses"].items() if code.startswith("4")}
            if path.startswith("/v1"):
                assert errors, f"{method.upper()} {path} documents no error response"
                for code, response in errors.items():
                    assert "application/problem+json" in response.get("content", {}), (path, method, code)
