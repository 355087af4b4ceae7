"""Item writes through the API, each party acting through its own API key, and every refusal."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger_service.app.api.app import create_app
from ledger_service.core.enums import ItemStatus
from ledger_service.services.apikeys import Role, create_key
from ledger_service.services.container import Services
from tests.utils.factories import new_device, signed_body
from tests.utils.problems import assert_problem

HERE = {"latitude": 53.5461, "longitude": 9.9661, "site": "4012345000009"}


@pytest.fixture
def keys(services: Services) -> dict[str, dict[str, str]]:
    def key(name: str, roles: list[Role], party: str | None = None) -> dict[str, str]:
        _, secret = create_key(services.engine, name, roles, party=party)
        return {"Authorization": f"Bearer {secret}"}

    return {
        "maker": key("maker", [Role.MANUFACTURER, Role.CUSTODIAN]),
        "carrier": key("carrier", [Role.CUSTODIAN], party="carrier"),
        "warehouse": key("warehouse", [Role.CUSTODIAN], party="warehouse"),
        "stranger": key("stranger", [Role.CUSTODIAN, Role.MANUFACTURER], party="stranger"),
        "registrar": key("registrar", [Role.REGISTRAR]),
        "warehouse-devices": key("warehouse-devices", [Role.DEVICE_MANAGER], party="warehouse"),
        "stranger-devices": key("stranger-devices", [Role.DEVICE_MANAGER], party="stranger"),
    }


def item_state(services: Services, item_id: str) -> Any:
    return services.supply_chain().get_item(bytes.fromhex(item_id[2:]))


def chain_time(services: Services) -> int:
    return int(services.ledger.client.w3.eth.get_block("latest")["timestamp"])


def test_cold_chain_through_the_api(services: Services, keys: dict[str, dict[str, str]]) -> None:
    api = TestClient(create_app(services))
    device = new_device(services.ledger)
    body = {"description": {"product": "vaccine", "lot": "L-42"}, "devices": ["0x" + device.device_id.hex()]}
    assert_problem(api.post("/v1/items", json=body), 401, "unauthorized")
    assert_problem(api.post("/v1/items", json=body, headers=keys["registrar"]), 403, "forbidden")
    created = api.post("/v1/items", json=body, headers=keys["maker"])
    assert created.status_code == 201, created.text
    item = created.json()["item_id"]
    assert created.json()["metadata_cid"].startswith("bafk")
    assert item_state(services, item).status is ItemStatus.ACTIVE

    handover = {"to": "party:carrier", "location": HERE, "expires_in": 3600}
    assert_problem(api.post(f"/v1/items/{item}/handover", json=handover, headers=keys["carrier"]), 403, "not-custodian")
    assert api.post(f"/v1/items/{item}/handover", json=handover, headers=keys["maker"]).status_code == 200
    before = item_state(services, item).custodian
    assert_problem(
        api.post(f"/v1/items/{item}/accept", json={"location": HERE}, headers=keys["warehouse"]), 403, "not-receiver"
    )
    assert item_state(services, item).custodian == before  # a refusal changes nothing
    accepted = api.post(f"/v1/items/{item}/accept", json={"location": HERE}, headers=keys["carrier"])
    assert accepted.status_code == 200 and accepted.json()["account"] == services.parties.address("carrier")
    assert item_state(services, item).custodian == services.parties.address("carrier")
    assert_problem(
        api.post(f"/v1/items/{item}/accept", json={"location": HERE}, headers=keys["carrier"]),
        409,
        "no-pending-transfer",
    )

    # checkpoints, with evidence from a reading of the item's sensor
    stamp = chain_time(services)
    ids = [
        api.post("/v1/readings", json=signed_body(device, services.ledger.domain, timestamp=stamp)).json()["id"]
        for _ in range(2)
    ]
    checkpoint = {"location": HERE, "status_code": 200, "evidence_reading_id": ids[0]}
    assert_problem(
        api.post(f"/v1/items/{item}/checkpoints", json=checkpoint, headers=keys["carrier"]), 409, "not-yet-anchored"
    )
    batcher = services.batcher()
    batcher.batch_age = 0.0
    batcher.run_once()
    path = f"/v1/items/{item}/checkpoints"
    assert_problem(api.post(path, json=checkpoint, headers=keys["stranger"]), 403, "not-custodian")
    # the operator's account is the manufacturer and admin, but only the custodian checkpoints
    assert_problem(api.post(path, json=checkpoint, headers=keys["maker"]), 403, "not-custodian")
    recorded = api.post(f"/v1/items/{item}/checkpoints", json=checkpoint, headers=keys["carrier"])
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["evidence_proof"] == f"/v1/readings/{ids[0]}/proof"
    unknown = {**checkpoint, "evidence_reading_id": "0x" + "cd" * 32}
    assert_problem(api.post(f"/v1/items/{item}/checkpoints", json=unknown, headers=keys["carrier"]), 404, "not-found")

    # attack: anchored, validly signed readings that are no evidence for this item: another device's,
    # and one the item's second sensor took before it was attached
    other = new_device(services.ledger)
    late = new_device(services.ledger)
    early_at = chain_time(services)
    while chain_time(services) <= early_at:
        time.sleep(0.3)
        services.ledger.client.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    services.supply_chain().attach_device(bytes.fromhex(item[2:]), late.device_id)
    stamp = chain_time(services)
    foreign = [
        api.post("/v1/readings", json=signed_body(d, services.ledger.domain, timestamp=t)).json()["id"]
        for d, t in ((other, stamp), (late, early_at), (other, stamp), (late, stamp))
    ]
    batcher.run_once()
    checkpoints_before = len(services.supply_chain().contract.events.CheckpointRecorded().get_logs(from_block=0))
    for reading_id in foreign[:2]:
        refused = {**checkpoint, "evidence_reading_id": reading_id}
        assert_problem(api.post(path, json=refused, headers=keys["carrier"]), 422, "evidence-not-attached")
    assert (
        len(services.supply_chain().contract.events.CheckpointRecorded().get_logs(from_block=0)) == checkpoints_before
    )
    attached_reading = {**checkpoint, "evidence_reading_id": foreign[3]}
    assert api.post(path, json=attached_reading, headers=keys["carrier"]).status_code == 201

    # a handover refused by its receiver, then the recall closes the item
    onward = {"to": "party:warehouse", "location": HERE, "expires_in": 3600}
    assert api.post(f"/v1/items/{item}/handover", json=onward, headers=keys["carrier"]).status_code == 200
    assert_problem(
        api.post(f"/v1/items/{item}/handover", json=onward, headers=keys["carrier"]), 409, "transfer-pending"
    )
    assert_problem(api.post(f"/v1/items/{item}/cancel", headers=keys["stranger"]), 403, "not-transfer-party")
    assert api.post(f"/v1/items/{item}/cancel", headers=keys["warehouse"]).status_code == 200
    assert_problem(
        api.post(f"/v1/items/{item}/recall", json={"reason": "x"}, headers=keys["stranger"]), 403, "not-manufacturer"
    )
    assert (
        api.post(f"/v1/items/{item}/recall", json={"reason": "cold chain broken"}, headers=keys["maker"]).status_code
        == 200
    )
    assert item_state(services, item).status is ItemStatus.RECALLED
    assert_problem(api.post(f"/v1/items/{item}/handover", json=onward, headers=keys["carrier"]), 409, "item-closed")
    assert_problem(
        api.post(f"/v1/items/{item}/deliver", json={"location": HERE}, headers=keys["carrier"]), 409, "item-closed"
    )


def test_delivery_is_final_and_bad_bodies_are_refused(services: Services, keys: dict[str, dict[str, str]]) -> None:
    api = TestClient(create_app(services))
    item = "0x" + os.urandom(32).hex()
    assert api.post("/v1/items", json={"item_id": item}, headers=keys["maker"]).status_code == 201
    assert_problem(api.post("/v1/items", json={"item_id": item}, headers=keys["maker"]), 409, "item-exists")
    assert_problem(
        api.post("/v1/items", json={"devices": ["0x" + "11" * 32]}, headers=keys["maker"]), 422, "unknown-device"
    )
    # attack: a manufacturer registers an item with a device someone else owns
    theirs = new_device()
    services.ledger.register_device(theirs.device_id, theirs.key.public_key, owner="0x" + "42" * 20)
    body = {"item_id": "0x" + os.urandom(32).hex(), "devices": ["0x" + theirs.device_id.hex()]}
    assert_problem(api.post("/v1/items", json=body, headers=keys["maker"]), 403, "no-owner-consent")
    assert not services.supply_chain().functions.exists(bytes.fromhex(body["item_id"][2:])).call()
    assert api.post(f"/v1/items/{item}/deliver", json={"location": HERE}, headers=keys["maker"]).status_code == 200
    assert item_state(services, item).status is ItemStatus.DELIVERED
    handover = {"to": "party:carrier", "location": HERE}
    assert_problem(api.post(f"/v1/items/{item}/handover", json=handover, headers=keys["maker"]), 409, "item-closed")
    unknown = "0x" + os.urandom(32).hex()
    assert_problem(api.post(f"/v1/items/{unknown}/handover", json=handover, headers=keys["maker"]), 404, "unknown-item")
    for bad in (
        {"to": "party:carrier", "location": {**HERE, "latitude": 91}},
        {"to": "someone", "location": HERE},
        {"to": "party:Carrier!", "location": HERE},
        {"to": "party:carrier", "location": HERE, "expires_in": 10},
        {"to": "party:carrier", "location": HERE, "extra": 1},
    ):
        assert_problem(api.post(f"/v1/items/{item}/handover", json=bad, headers=keys["maker"]), 422, "validation-error")
    assert_problem(
        api.post(f"/v1/items/{item}/recall", json={"reason": ""}, headers=keys["maker"]), 422, "validation-error"
    )


def test_attaching_another_owners_device_needs_its_consent_through_the_api(
    services: Services, keys: dict[str, dict[str, str]]
) -> None:
    """Attack: a manufacturer attaches a device the warehouse owns to its item; refused until the
    warehouse (its owner, through its own key) approves, and only for that item."""
    api = TestClient(create_app(services))
    item = api.post("/v1/items", json={}, headers=keys["maker"]).json()["item_id"]
    theirs = new_device()
    services.ledger.register_device(
        theirs.device_id, theirs.key.public_key, owner=services.parties.address("warehouse")
    )
    device = "0x" + theirs.device_id.hex()
    attach = {"device_id": device}
    assert_problem(api.post(f"/v1/items/{item}/devices", json=attach, headers=keys["maker"]), 403, "no-owner-consent")
    assert_problem(
        api.post(f"/v1/items/{item}/devices", json=attach, headers=keys["stranger"]), 403, "not-manufacturer"
    )
    approval = f"/v1/items/{item}/devices/{device}/approval"
    assert_problem(api.put(approval, json={"approved": True}, headers=keys["maker"]), 403, "forbidden")
    assert_problem(
        api.put(approval, json={"approved": True}, headers=keys["stranger-devices"]), 403, "not-device-owner"
    )
    assert services.supply_chain().attachments_of(bytes.fromhex(item[2:]), theirs.device_id) == []
    assert api.put(approval, json={"approved": True}, headers=keys["warehouse-devices"]).status_code == 200
    attached = api.post(f"/v1/items/{item}/devices", json=attach, headers=keys["maker"])
    assert attached.status_code == 200, attached.text
    assert services.supply_chain().devices_of(bytes.fromhex(item[2:])) == [theirs.device_id]
    assert_problem(
        api.post(f"/v1/items/{item}/devices", json=attach, headers=keys["maker"]), 409, "device-already-attached"
    )
    assert api.delete(f"/v1/items/{item}/devices/{device}", headers=keys["maker"]).status_code == 200
    # the approval was used up
    assert_problem(api.post(f"/v1/items/{item}/devices", json=attach, headers=keys["maker"]), 403, "no-owner-consent")
    assert_problem(api.delete(f"/v1/items/{item}/devices/{device}", headers=keys["maker"]), 409, "device-not-attached")
