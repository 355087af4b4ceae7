"""Device identity at ingest and over the API: both key types end to end, every refusal, the
device endpoints with API keys, and the event-fed registry cache."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from ledger_service.app.api.app import create_app
from ledger_service.core.chain.client import connect
from ledger_service.core.chain.deploy import deploy
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.compiler import Artifact
from ledger_service.core.enums import DeviceStatus, KeyType
from ledger_service.core.keys import P256_N, DeviceKey, PublicKey
from ledger_service.core.readings import Domain
from ledger_service.services.apikeys import Role, create_key, revoke_key
from ledger_service.services.container import Services
from ledger_service.services.registry import RegistryCache
from tests.utils.factories import Device, body_of, new_device, signed_body
from tests.utils.problems import assert_problem
from tests.utils.readings import stored_count
from tests.utils.settings import make_settings

KEY_TYPES = [KeyType.SECP256K1, KeyType.P256]


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as http:
        yield http


@pytest.fixture
def admin_key(services: Services) -> dict[str, str]:
    _, secret = create_key(services.engine, "test admin", [Role.ADMIN])
    return {"Authorization": f"Bearer {secret}"}


def register_via_api(api: TestClient, headers: dict[str, str], key: DeviceKey, **extra: Any) -> dict[str, Any]:
    response = api.post("/v1/devices", json={"key": key.public_key.to_json(), **extra}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_readings_of_both_key_types_are_anchored_and_verify_on_chain(
    api: TestClient, services: Services, admin_key: dict[str, str], key_type: KeyType
) -> None:
    key = DeviceKey.generate(key_type)
    created = register_via_api(api, admin_key, key, metadata={"model": "TH-1"})
    device = Device(key=key, device_id=bytes.fromhex(created["device_id"][2:]))
    assert created["current_key"]["key"] == key.public_key.to_json()
    ids = [api.post("/v1/readings", json=signed_body(device, services.ledger.domain)).json()["id"] for _ in range(3)]

    batcher = services.batcher()
    batcher.batch_age = 0
    batcher.run_once()
    for reading_id in ids:
        bundle = api.get(f"/v1/readings/{reading_id}/proof").json()
        message = bundle["eip712"]["message"]
        signature = bytes.fromhex(bundle["reading"]["signature"][2:])
        reading = device.reading(sequence=message["sequence"], timestamp=message["timestamp"], value=message["value"])
        assert services.ledger.verify_signed_reading(reading, signature)
        root, leaf = (bytes.fromhex(bundle[k][h][2:]) for k, h in (("merkle", "root"), ("leaf", "hash")))
        services.ledger.record_anchors([root])
        assert services.ledger.verify(root, leaf, [bytes.fromhex(p[2:]) for p in bundle["merkle"]["proof"]])


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_forged_signatures_are_refused_at_ingest(api: TestClient, services: Services, key_type: KeyType) -> None:
    device = new_device(services.ledger, key_type)
    domain = services.ledger.domain
    reading = device.reading()
    good = device.sign(reading, domain)
    n = P256_N if key_type is KeyType.P256 else 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high_s = good[:32] + (n - int.from_bytes(good[32:64], "big")).to_bytes(32, "big") + good[64:]
    if key_type is KeyType.SECP256K1:
        high_s = high_s[:64] + bytes([55 - good[64]])
    forgeries = {
        "other chain": device.key.sign(reading.digest(Domain(domain.chain_id + 1, domain.verifying_contract))),
        "other contract": device.key.sign(reading.digest(Domain(domain.chain_id, "0x" + "42" * 20))),
        "high s": high_s,
        "truncated": good[:-1],
        "one byte": good[:1],
        "other key": DeviceKey.generate(key_type).sign(reading.digest(domain)),
    }
    for name, signature in forgeries.items():
        assert_problem(api.post("/v1/readings", json=body_of(reading, signature)), 422, "invalid-signature"), name
    assert stored_count(services) == 0
    assert api.post("/v1/readings", json=body_of(reading, good)).status_code == 201


def test_rotated_out_key_is_refused_and_the_new_key_accepted(
    api: TestClient, services: Services, admin_key: dict[str, str]
) -> None:
    old_key = DeviceKey.generate(KeyType.SECP256K1)
    device = Device(key=old_key, device_id=bytes.fromhex(register_via_api(api, admin_key, old_key)["device_id"][2:]))
    domain = services.ledger.domain
    assert api.post("/v1/readings", json=signed_body(device, domain)).status_code == 201

    new_key = DeviceKey.generate(KeyType.P256)
    rotated = api.post(
        f"/v1/devices/0x{device.device_id.hex()}/rotate-key",
        json={"key": new_key.public_key.to_json()},
        headers=admin_key,
    )
    assert rotated.status_code == 200, rotated.text
    assert [k["key"]["type"] for k in rotated.json()["keys"]] == ["secp256k1", "p256"]
    assert rotated.json()["keys"][0]["valid_until"] is not None

    problem = assert_problem(api.post("/v1/readings", json=signed_body(device, domain)), 422, "key-rotated")
    assert problem["key_index"] == 0
    assert stored_count(services) == 1
    device.key = new_key
    time.sleep(max(0.0, rotated.json()["current_key"]["valid_from"] - time.time()))
    assert api.post("/v1/readings", json=signed_body(device, domain)).status_code == 201


def test_suspended_and_revoked_devices_are_refused(
    api: TestClient, services: Services, admin_key: dict[str, str]
) -> None:
    key = DeviceKey.generate(KeyType.P256)
    device = Device(key=key, device_id=bytes.fromhex(register_via_api(api, admin_key, key)["device_id"][2:]))
    path = f"/v1/devices/0x{device.device_id.hex()}"
    domain = services.ledger.domain
    assert api.post(f"{path}/suspend", headers=admin_key).json()["status"] == "suspended"
    assert_problem(api.post("/v1/readings", json=signed_body(device, domain)), 422, "device-suspended")
    assert api.post(f"{path}/reactivate", headers=admin_key).json()["status"] == "active"
    assert api.post("/v1/readings", json=signed_body(device, domain)).status_code == 201
    assert api.post(f"{path}/revoke", headers=admin_key).json()["status"] == "revoked"
    assert_problem(api.post("/v1/readings", json=signed_body(device, domain)), 422, "device-revoked")
    assert_problem(api.post(f"{path}/reactivate", headers=admin_key), 409, "invalid-device-status")
    assert stored_count(services) == 1


def test_timestamps_out_of_range_are_refused(api: TestClient, services: Services) -> None:
    device = new_device(services.ledger, KeyType.P256)
    domain = services.ledger.domain
    future = signed_body(device, domain, timestamp=int(time.time()) + 3600)
    assert_problem(api.post("/v1/readings", json=future), 422, "timestamp-in-future")
    before_key = signed_body(device, domain, timestamp=int(time.time()) - 3600)
    assert_problem(api.post("/v1/readings", json=before_key), 422, "key-not-yet-valid")
    assert stored_count(services) == 0


def test_device_writes_need_an_api_key_with_the_right_role(
    api: TestClient, services: Services, admin_key: dict[str, str]
) -> None:
    key = DeviceKey.generate(KeyType.SECP256K1)
    body = {"key": key.public_key.to_json()}
    assert_problem(api.post("/v1/devices", json=body), 401, "unauthorized")
    assert_problem(api.post("/v1/devices", json=body, headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    _, manager = create_key(services.engine, "manager", [Role.DEVICE_MANAGER])
    manager_headers = {"Authorization": f"Bearer {manager}"}
    assert_problem(api.post("/v1/devices", json=body, headers=manager_headers), 403, "forbidden")
    record, registrar = create_key(services.engine, "registrar", [Role.REGISTRAR])
    registrar_headers = {"Authorization": f"Bearer {registrar}"}
    created = api.post("/v1/devices", json=body, headers=registrar_headers)
    assert created.status_code == 201
    path = f"/v1/devices/{created.json()['device_id']}"
    assert_problem(api.post(f"{path}/suspend", headers=registrar_headers), 403, "forbidden")
    assert api.post(f"{path}/suspend", headers=manager_headers).status_code == 200
    revoke_key(services.engine, record.prefix)
    other = {"key": DeviceKey.generate(KeyType.P256).public_key.to_json()}
    assert_problem(api.post("/v1/devices", json=other, headers=registrar_headers), 401, "unauthorized")
    assert api.get(path).json()["status"] == "suspended"


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ({"type": "p256", "x": "0x" + "11" * 32, "y": "0x" + "22" * 32}, "invalid-key"),
        ({"type": "p256", "x": "0x" + "11" * 32}, "invalid-key"),
        ({"type": "secp256k1", "address": "0x" + "00" * 20}, "invalid-key"),
        ({"type": "secp256k1"}, "invalid-key"),
        ({"type": "ed25519", "x": "0x" + "11" * 32}, "validation-error"),
        ({"type": "secp256k1", "address": "0x1234"}, "validation-error"),
    ],
)
def test_malformed_device_keys_are_refused_off_chain(
    api: TestClient, services: Services, admin_key: dict[str, str], key: dict[str, str], code: str
) -> None:
    before = len(services.registry.devices())
    assert_problem(api.post("/v1/devices", json={"key": key}, headers=admin_key), 422, code)
    services.registry.refresh(force=True)
    assert len(services.registry.devices()) == before


def test_device_api_reads_filters_and_refuses_what_the_contract_refuses(
    api: TestClient, services: Services, admin_key: dict[str, str]
) -> None:
    key = DeviceKey.generate(KeyType.SECP256K1)
    created = register_via_api(api, admin_key, key)
    assert_problem(
        api.post("/v1/devices", json={"key": key.public_key.to_json()}, headers=admin_key), 409, "device-exists"
    )
    path = f"/v1/devices/{created['device_id']}"
    assert_problem(api.get(f"/v1/devices/0x{os.urandom(32).hex()}"), 404, "not-found")
    assert_problem(api.post(f"/v1/devices/0x{os.urandom(32).hex()}/suspend", headers=admin_key), 404, "not-found")
    assert_problem(
        api.post(f"{path}/rotate-key", json={"key": key.public_key.to_json()}, headers=admin_key), 409, "same-key"
    )
    operator = services.ledger.client.operator.address
    listed = api.get("/v1/devices", params={"owner": operator, "status": "active", "limit": 2}).json()
    assert listed["count"] >= 1 and len(listed["data"]) <= 2
    assert all(d["owner"] == operator and d["status"] == "active" for d in listed["data"])
    everything = api.get("/v1/devices", params={"limit": 500}).json()
    assert created["device_id"] in [d["device_id"] for d in everything["data"]]

    new_owner = Account.create().address
    moved = api.post(f"{path}/transfer", json={"new_owner": new_owner}, headers=admin_key)
    assert moved.json()["owner"] == new_owner
    block = int(services.ledger.client.w3.eth.block_number)
    problem = assert_problem(api.post(f"{path}/suspend", headers=admin_key), 403, "not-device-owner")
    assert problem["owner"] == new_owner  # refused before anything is sent
    assert int(services.ledger.client.w3.eth.block_number) == block
    assert api.get("/v1/devices", params={"owner": new_owner}).json()["count"] == 1
    assert_problem(api.get("/v1/devices", params={"status": "lost"}), 422, "validation-error")


def test_cache_rebuilt_from_events_matches_the_contract(services: Services) -> None:
    ledger = services.ledger
    devices = [new_device(ledger, kt) for kt in (KeyType.SECP256K1, KeyType.P256, KeyType.P256)]
    ledger.rotate_key(devices[0].device_id, DeviceKey.generate(KeyType.P256).public_key)
    ledger.suspend_device(devices[1].device_id)
    ledger.revoke_device(devices[2].device_id)

    fresh = RegistryCache(ledger.registry, ledger.deployment.contracts["DeviceRegistry"].block_number)
    fresh.sync()
    for device in devices:
        cached = fresh.get(device.device_id)
        assert cached is not None
        onchain = ledger.registry.functions.getDevice(device.device_id).call()
        assert (cached.owner, int(cached.status)) == (onchain[0], onchain[1])
        count = ledger.registry.functions.keyCount(device.device_id).call()
        assert len(cached.keys) == count
        for index, record in enumerate(cached.keys):
            key = ledger.registry.functions.getKey(device.device_id, index).call()
            assert PublicKey.from_tuple(key[0]) == record.key
            assert (record.valid_from, record.valid_from_block) == (key[1], key[2])
            assert (record.valid_until or 0, record.valid_until_block or 0) == (key[3], key[4])
    assert fresh.get(devices[2].device_id).status is DeviceStatus.REVOKED  # type: ignore[union-attr]


def test_cache_keeps_the_suspension_periods_the_contract_keeps(services: Services) -> None:
    ledger = services.ledger
    device = new_device(ledger)
    d = device.device_id
    ledger.suspend_device(d)
    ledger.reactivate_device(d)
    time.sleep(1.1)
    ledger.suspend_device(d)
    fresh = RegistryCache(ledger.registry, ledger.deployment.contracts["DeviceRegistry"].block_number)
    fresh.sync()
    cached = fresh.get(d)
    assert cached is not None
    onchain = [
        tuple(ledger.registry.functions.getSuspension(d, i).call())
        for i in range(ledger.registry.functions.suspensionCount(d).call())
    ]
    assert [(p.start, p.end or 0) for p in cached.suspensions] == onchain
    assert len(onchain) == 2 and onchain[1][1] == 0
    for timestamp in (onchain[0][0] - 1, onchain[0][0], onchain[0][1], onchain[1][0], onchain[1][0] + 10**6):
        in_cache = cached.suspension_at(timestamp) is not None
        assert in_cache is ledger.registry.functions.isSuspendedAt(d, timestamp).call(), timestamp


def test_cache_starts_over_after_a_reorg(artifacts: dict[str, Artifact], tmp_path: Path) -> None:
    with ManagedAnvil(state_dir=None) as node:
        client = connect(make_settings(tmp_path), node.url)
        deployment, _ = deploy(client, artifacts, tmp_path / "manifest.json")
        ledger = Ledger(client, deployment, artifacts)
        kept = new_device(ledger)
        snapshot = client.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        dropped = new_device(ledger)
        cache = RegistryCache(ledger.registry, deployment.contracts["DeviceRegistry"].block_number)
        cache.sync()
        assert cache.get(dropped.device_id) is not None
        client.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        client.reset_nonce()
        replacement = new_device(ledger)  # a different block at the same height
        cache.sync()
        assert cache.get(kept.device_id) is not None
        assert cache.get(replacement.device_id) is not None
        assert cache.state.devices.get(dropped.device_id) is None
