"""The HTTP API over real services (database and chain): ingest, refusals, status, proofs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from ledger_service.app.api.app import create_app
from ledger_service.core.chain.deploy import CONTRACTS
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.models import Batch
from ledger_service.services.container import Services
from tests.utils.factories import Device, body_of, new_device, signed_body
from tests.utils.problems import assert_problem
from tests.utils.readings import stored_count


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as http:
        yield http


@pytest.fixture
def device(services: Services) -> Device:
    return new_device(services.ledger)


def test_a_signed_reading_is_stored_and_a_repeat_is_not(api: TestClient, services: Services, device: Device) -> None:
    body = signed_body(device, services.ledger.domain)
    first = api.post("/v1/readings", json=body)
    assert first.status_code == 201, first.text
    reading_id = first.json()["id"]
    assert first.json()["duplicate"] is False
    assert first.headers["location"] == f"/v1/readings/{reading_id}"

    again = api.post("/v1/readings", json=body)
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert stored_count(services) == 1

    status = api.get(f"/v1/readings/{reading_id}").json()
    assert status["status"] == "pending"
    assert status["signer"] == device.key.public_key.signer
    assert status["reading"]["value"] == body["value"]


def test_reading_signed_by_another_key_is_refused(api: TestClient, services: Services, device: Device) -> None:
    reading = device.reading()
    signature = DeviceKey.generate(KeyType.SECP256K1).sign(reading.digest(services.ledger.domain))
    assert_problem(api.post("/v1/readings", json=body_of(reading, signature)), 422, "invalid-signature")
    assert stored_count(services) == 0


def test_reading_altered_after_signing_is_refused(api: TestClient, services: Services, device: Device) -> None:
    body = signed_body(device, services.ledger.domain)
    body["value"] += 1
    assert_problem(api.post("/v1/readings", json=body), 422, "invalid-signature")
    assert stored_count(services) == 0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda sig: sig[:64] + bytes([sig[64] - 27]),  # v as 0/1: the contract refuses it
        lambda sig: sig[:32] + (2**256 - 1).to_bytes(32, "big") + sig[64:],  # s too large
        lambda sig: bytes(65),  # recovers to nothing
    ],
    ids=["v-not-27-28", "high-s", "zero"],
)
def test_malformed_signature_is_refused(api: TestClient, services: Services, device: Device, mangle: Any) -> None:
    reading = device.reading()
    signature = mangle(device.sign(reading, services.ledger.domain))
    assert_problem(api.post("/v1/readings", json=body_of(reading, signature)), 422, "invalid-signature")
    assert stored_count(services) == 0


def test_reading_from_unknown_device_is_refused(api: TestClient, services: Services) -> None:
    stranger = new_device(None)
    body = assert_problem(
        api.post("/v1/readings", json=signed_body(stranger, services.ledger.domain)), 422, "unknown-device"
    )
    assert body["device_id"] == "0x" + stranger.device_id.hex()
    assert stored_count(services) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sequence": "7"}, "sequence"),
        ({"value": 1.5}, "value"),
        ({"value": 2**255}, "value"),
        ({"scale": 200}, "scale"),
        ({"device_id": "0x1234"}, "device_id"),
        ({"signature": "0xzz"}, "signature"),
        ({"metric": ""}, "metric"),
        ({"unexpected": 1}, "unexpected"),
        ({"timestamp": None}, "timestamp"),
    ],
)
def test_wrong_field_type_is_refused(
    api: TestClient, services: Services, device: Device, change: dict[str, Any], field: str
) -> None:
    body = {**signed_body(device, services.ledger.domain), **change}
    problem = assert_problem(api.post("/v1/readings", json=body), 422, "validation-error")
    assert any(field in err["loc"] for err in problem["errors"])
    assert stored_count(services) == 0


@pytest.mark.parametrize("missing", ["device_id", "sequence", "timestamp", "metric", "value", "signature"])
def test_missing_field_is_refused(api: TestClient, services: Services, device: Device, missing: str) -> None:
    body = signed_body(device, services.ledger.domain)
    del body[missing]
    problem = assert_problem(api.post("/v1/readings", json=body), 422, "validation-error")
    assert problem["errors"][0]["loc"] == ["body", missing]
    assert stored_count(services) == 0


def test_body_that_is_not_json_is_refused(api: TestClient, services: Services) -> None:
    response = api.post("/v1/readings", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(response, 422, "validation-error")
    assert stored_count(services) == 0


def test_replayed_or_lower_sequence_is_refused(api: TestClient, services: Services, device: Device) -> None:
    device.sequence = 9
    api.post("/v1/readings", json=signed_body(device, services.ledger.domain))  # sequence 10
    for sequence in (10, 3):
        device.sequence = sequence - 1
        clash = api.post("/v1/readings", json=signed_body(device, services.ledger.domain, value=-1))
        problem = assert_problem(clash, 409, "sequence-not-increasing")
        assert problem["last_sequence"] == 10
    assert stored_count(services) == 1
    device.sequence = 10
    assert api.post("/v1/readings", json=signed_body(device, services.ledger.domain)).status_code == 201


def test_unknown_reading_and_route_give_problems(api: TestClient) -> None:
    missing = "0x" + os.urandom(32).hex()
    assert_problem(api.get(f"/v1/readings/{missing}"), 404, "not-found")
    assert_problem(api.get(f"/v1/readings/{missing}/proof"), 404, "not-found")
    assert_problem(api.get("/v1/readings/not-an-id"), 422, "validation-error")
    assert_problem(api.get("/v1/nothing-here"), 404, "not-found")


def test_proof_is_refused_until_anchored_then_verifies_on_chain(
    api: TestClient, services: Services, device: Device
) -> None:
    ids = [api.post("/v1/readings", json=signed_body(device, services.ledger.domain)).json()["id"] for _ in range(3)]
    assert_problem(api.get(f"/v1/readings/{ids[0]}/proof"), 409, "not-yet-anchored")

    batcher = services.batcher()
    batcher.batch_age = 0.0
    batcher.run_once()

    ledger = services.ledger
    ledger.record_anchors({bytes.fromhex(api.get(f"/v1/readings/{i}/proof").json()["merkle"]["root"][2:]) for i in ids})
    for reading_id in ids:
        bundle = api.get(f"/v1/readings/{reading_id}/proof").json()
        root = bytes.fromhex(bundle["merkle"]["root"][2:])
        proof = [bytes.fromhex(p[2:]) for p in bundle["merkle"]["proof"]]
        leaf = bytes.fromhex(bundle["leaf"]["hash"][2:])
        assert leaf.hex() == reading_id[2:]
        assert ledger.verify(root, leaf, proof)
        tampered = bytes([leaf[0] ^ 1]) + leaf[1:]
        assert not ledger.verify(root, tampered, proof)
        assert bundle["anchor"]["notary"] == ledger.notary.address
        assert bundle["anchor"]["transaction_hash"].startswith("0x")
        assert bundle["reading"]["signer"] == device.key.public_key.signer
    assert api.get(f"/v1/readings/{ids[0]}").json()["status"] == "confirmed"
    with Session(services.engine) as session:
        assert len(session.exec(select(Batch)).all()) == 1


def test_health_reports_chain_and_queue(api: TestClient, services: Services, device: Device) -> None:
    api.post("/v1/readings", json=signed_body(device, services.ledger.domain))
    health = api.get("/health").json()
    assert health["status"] == "ok"
    assert health["chain_id"] == services.ledger.deployment.chain_id
    assert health["counts"]["pending_readings"] == 1
    assert set(health["contracts"]) == set(CONTRACTS)
