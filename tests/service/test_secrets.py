"""Secrets: an RPC URL with credentials in it that fails leaves no trace of them in the database,
the API's error bodies, /readyz, /metrics or the logs."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select, update
from sqlmodel import Session

from ledger_service.app.api.app import create_app
from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.chain.node import free_port
from ledger_service.core.chain.rpc import RpcUnavailable
from ledger_service.core.logs import JsonFormatter, TextFormatter
from ledger_service.core.models import Batch
from ledger_service.core.settings import Settings
from ledger_service.services.apikeys import Role, create_key
from ledger_service.services.container import Services
from ledger_service.services.proofs import HeadTracker, ProofService
from tests.utils.factories import new_device, signed_body

PASSWORD = "pw-" + os.urandom(6).hex()
TOKEN = "SECRETKEY" + os.urandom(8).hex()


@pytest.fixture
def secret_url() -> str:
    return f"http://rpcuser:{PASSWORD}@127.0.0.1:{free_port()}/v3/{TOKEN}"  # nothing listens there


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log record, at DEBUG, written by the service's text and JSON formatters."""
    out = io.StringIO()
    handlers = [logging.StreamHandler(out), logging.StreamHandler(out)]
    handlers[0].setFormatter(TextFormatter())
    handlers[1].setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    noisy = {name: logging.getLogger(name).level for name in ("web3", "urllib3", "requests")}
    for name in noisy:
        logging.getLogger(name).setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield out
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(level)
        for name, old in noisy.items():
            logging.getLogger(name).setLevel(old)


def assert_clean(text: str, where: str) -> None:
    for secret in (PASSWORD, TOKEN, "rpcuser:"):
        assert secret not in text, f"{secret} in {where}: {text[:2000]}"


def database_text(services: Services) -> str:
    metadata = MetaData()
    metadata.reflect(services.engine)
    rows = []
    with services.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows.extend(str(tuple(row)) for row in conn.execute(select(table)))
    return "\n".join(rows)


def test_a_failing_rpc_url_with_credentials_leaves_no_trace(
    services: Services, secret_url: str, log_lines: io.StringIO
) -> None:
    settings = services.settings.model_copy(update={"rpc_url": secret_url})
    Settings(rpc_url=secret_url, data_dir=settings.data_dir)  # how the service learns its secrets: its settings
    failing = ChainClient(secret_url, services.ledger.client.operator, timeout=2)
    ledger = Ledger(failing, services.ledger.deployment, services.artifacts)
    head = HeadTracker(lambda: int(failing.w3.eth.block_number))
    proofs = ProofService(
        services.engine, services.ledger.deployment, ledger.domain, registry=services.registry, head=head
    )
    broken = dataclasses.replace(services, settings=settings, ledger=ledger, proofs=proofs)

    # readings stored while the chain was up, then anchoring fails against the secret URL
    device = new_device(services.ledger)
    good = TestClient(create_app(services))
    for _ in range(4):
        assert good.post("/v1/readings", json=signed_body(device, services.ledger.domain)).status_code == 201
    batcher = broken.batcher()
    with pytest.raises(RpcUnavailable) as failed:  # the chain client's own error, redacted where it is made
        batcher.run_once()
    assert "ConnectError" in str(failed.value) and TOKEN not in str(failed.value) and "pw-" not in str(failed.value)
    with Session(services.engine) as session:  # a core UPDATE of an error column is redacted too
        session.execute(update(Batch).values(last_error=f"as the oracle stores it: {failed.value} at {secret_url}"))
        session.commit()
        errors = [row.last_error for row in session.exec(select(Batch)).scalars()]  # type: ignore[call-overload]
    assert errors and all(e and "***" in e for e in errors)

    # the API: error bodies, batches, health, readiness, metrics
    api = TestClient(create_app(broken), raise_server_exceptions=False)
    admin = {"Authorization": f"Bearer {create_key(services.engine, 'admin', [Role.ADMIN])[1]}"}
    answers: list[Any] = [
        api.post("/v1/devices", json={"key": new_device().key.public_key.to_json()}, headers=admin),
        api.post(f"/v1/devices/0x{device.device_id.hex()}/suspend", headers=admin),
        api.get("/v1/batches"),
        api.get("/health"),
        api.get("/readyz"),
        api.get("/metrics"),
    ]
    assert answers[0].status_code >= 500 and answers[4].status_code == 503
    for answer in answers:
        assert_clean(answer.text, f"{answer.request.method} {answer.request.url.path}")
    assert_clean(database_text(services), "the database")
    logged = log_lines.getvalue()
    assert "127.0.0.1" in logged  # the failures were logged...
    assert_clean(logged, "the logs")  # ...without the secrets
