"""Readings arriving out of order (`PROVENANCE_ACCEPT_LATE_READINGS`): a reading below its device's
last sequence is stored when its sequence is free, once; one that would take a held sequence is
refused `sequence-taken`; without the setting the service refuses it as before. Also the case it
exists for: a gateway's backlog arriving after readings the device sent directly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge.gateway import Gateway
from ledger_service.app.api.app import create_app
from ledger_service.app.edge_api import create_edge_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.db import create_schema, make_engine
from ledger_service.services.container import Services
from provenance_device.http import HttpTransport
from tests.utils.factories import new_device, signed_body
from tests.utils.service import serving


@pytest.fixture
def late(services: Services) -> Services:
    services.ingestor.policy.accept_late = True  # the policy the settings give the ingestor and its store
    return services


def sequences(services: Services, device_id: bytes) -> list[int]:
    with services.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT device_id, sequence FROM reading").all()
    return sorted(s for d, s in rows if d == "0x" + device_id.hex())


def test_a_late_reading_fills_its_free_sequence_once_by_either_endpoint(late: Services) -> None:
    api = TestClient(create_app(late))
    device = new_device(late.ledger)
    domain = late.ledger.domain
    assert api.post("/v1/readings", json=signed_body(device, domain, sequence=10)).status_code == 201
    early = signed_body(device, domain, sequence=3)
    assert api.post("/v1/readings", json=early).status_code == 201  # below 10, and 3 is free
    again = api.post("/v1/readings", json=early)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    batch = api.post(
        "/v1/readings/batch",
        json={"readings": [signed_body(device, domain, sequence=s) for s in (5, 4, 11)] + [early]},
    ).json()
    assert [r["status"] for r in batch["results"]] == ["stored", "stored", "stored", "duplicate"]
    assert sequences(late, device.device_id) == [3, 4, 5, 10, 11]


def test_a_late_reading_cannot_take_a_sequence_another_reading_holds(late: Services) -> None:
    api = TestClient(create_app(late))
    device = new_device(late.ledger)
    domain = late.ledger.domain
    for sequence in (2, 7):
        assert api.post("/v1/readings", json=signed_body(device, domain, sequence=sequence)).status_code == 201
    rival = signed_body(device, domain, sequence=2, value=-999)  # another reading at a held sequence
    refused = api.post("/v1/readings", json=rival)
    assert refused.status_code == 409 and refused.json()["code"] == "sequence-taken"
    twins = [signed_body(device, domain, sequence=4, value=v) for v in (1, 2)]  # two for one free sequence
    results = api.post("/v1/readings/batch", json={"readings": [*twins, rival]}).json()["results"]
    assert [(r["status"], r["code"]) for r in results] == [
        ("stored", None), ("refused", "sequence-taken"), ("refused", "sequence-taken")
    ]  # fmt: skip
    assert sequences(late, device.device_id) == [2, 4, 7]


def test_without_the_setting_a_late_reading_is_refused_as_before(services: Services) -> None:
    api = TestClient(create_app(services))
    device = new_device(services.ledger)
    domain = services.ledger.domain
    assert api.post("/v1/readings", json=signed_body(device, domain, sequence=10)).status_code == 201
    refused = api.post("/v1/readings", json=signed_body(device, domain, sequence=3))
    assert refused.status_code == 409 and refused.json()["code"] == "sequence-not-increasing"


@pytest.fixture
def upstream(late: Services) -> Iterator[str]:
    with serving(create_app(late)) as port:
        yield f"http://127.0.0.1:{port}"


def test_a_gateways_backlog_arriving_after_direct_readings_is_stored(
    late: Services, chain: ChainContext, upstream: str, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'edge.db'}")
    create_schema(engine)
    gateway = Gateway(engine, chain.client.w3, chain.deployment, chain.artifacts["DeviceRegistry"].abi, upstream)
    try:
        device = new_device(late.ledger)
        gateway.sync_registry()
        domain = late.ledger.domain
        held = [signed_body(device, domain) for _ in range(3)]  # 1-3 wait in the gateway, the link down
        for body in held:
            assert TestClient(create_edge_app(gateway)).post("/v1/readings", json=body).status_code == 201
        direct = TestClient(create_app(late))
        for _ in range(2):  # 4-5 sent straight to the service, in coverage
            assert direct.post("/v1/readings", json=signed_body(device, domain)).status_code == 201
        gateway.forwarder.transport = HttpTransport(upstream)
        report = gateway.forwarder.forward_once()
        assert (report.forwarded, report.refused) == (3, 0)
        assert sequences(late, device.device_id) == [1, 2, 3, 4, 5]
    finally:
        gateway.close()
