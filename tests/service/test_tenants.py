"""Tenants are isolated in the API: a key acts with its party's authority only, on devices that
party owns on chain, from the party's own account; no request makes a party."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from ledger_service.app.api.app import create_app
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.services.apikeys import Role, create_key
from ledger_service.services.container import Services
from tests.utils.problems import assert_problem


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as http:
        yield http


def bearer(services: Services, name: str, roles: list[Role], party: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(services.engine, name, roles, party=party)[1]}"}


def head(services: Services) -> int:
    return int(services.ledger.client.w3.eth.block_number)


def sender_of_last_block(services: Services) -> str:
    w3 = services.ledger.client.w3
    block = w3.eth.get_block("latest", full_transactions=True)
    (tx,) = block["transactions"]
    return str(tx["from"])  # type: ignore[index]


def party_files(services: Services) -> set[str]:
    folder = services.settings.data_dir / "parties"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def new_key_json() -> dict[str, Any]:
    return DeviceKey.generate(KeyType.SECP256K1).public_key.to_json()


def test_a_device_manager_of_another_party_cannot_touch_a_device(api: TestClient, services: Services) -> None:
    alice = services.parties.create("alice")
    services.parties.create("mallory")
    alice_key = bearer(services, "alice", [Role.REGISTRAR, Role.DEVICE_MANAGER], party="alice")
    mallory_key = bearer(services, "mallory", [Role.REGISTRAR, Role.DEVICE_MANAGER], party="mallory")
    created = api.post("/v1/devices", json={"key": new_key_json()}, headers=alice_key)
    assert created.status_code == 201, created.text
    assert created.json()["owner"] == alice  # a party's registrar registers devices of that party
    path = f"/v1/devices/{created.json()['device_id']}"
    before, block = api.get(path).json(), head(services)
    attacks: list[tuple[str, dict[str, Any] | None]] = [
        ("rotate-key", {"key": new_key_json()}),
        ("suspend", None),
        ("revoke", None),
        ("transfer", {"new_owner": Account.create().address}),
        ("metadata", {"model": "evil", "firmware_hash": "0x" + "66" * 32, "metadata_cid": ""}),
    ]
    for action, body in attacks:
        refused = assert_problem(api.post(f"{path}/{action}", json=body, headers=mallory_key), 403, "not-device-owner")
        assert refused["owner"] == alice
    assert head(services) == block  # no transaction was sent
    services.registry.refresh(force=True)
    assert api.get(path).json() == {**before, "indexed_block": api.get(path).json()["indexed_block"]}

    # the owner's key acts, and the transaction comes from the owner's own account
    suspended = api.post(f"{path}/suspend", headers=alice_key)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert sender_of_last_block(services) == alice
    changed = api.post(f"{path}/metadata", json={"model": "thermo-2"}, headers=alice_key)
    assert changed.status_code == 200 and changed.json()["metadata"]["model"] == "thermo-2"
    assert sender_of_last_block(services) == alice


def test_an_operator_key_cannot_act_on_a_party_device(api: TestClient, services: Services) -> None:
    services.parties.create("owner-co")
    party_key = bearer(services, "owner", [Role.REGISTRAR], party="owner-co")
    operator_key = bearer(services, "ops", [Role.DEVICE_MANAGER])
    created = api.post("/v1/devices", json={"key": new_key_json()}, headers=party_key)
    block = head(services)
    path = f"/v1/devices/{created.json()['device_id']}"
    assert_problem(api.post(f"{path}/revoke", headers=operator_key), 403, "not-device-owner")
    assert head(services) == block and api.get(path).json()["status"] == "active"


def test_a_party_registrar_cannot_register_a_device_for_someone_else(api: TestClient, services: Services) -> None:
    services.parties.create("alice")
    bob = services.parties.create("bob")
    alice_key = bearer(services, "alice", [Role.REGISTRAR], party="alice")
    count, block = len(services.registry.devices()), head(services)
    for owner in (bob, services.ledger.client.operator.address):
        assert_problem(
            api.post("/v1/devices", json={"key": new_key_json(), "owner": owner}, headers=alice_key),
            403,
            "owner-not-key-party",
        )
    services.registry.refresh(force=True)
    assert head(services) == block and len(services.registry.devices()) == count


def test_naming_an_unknown_party_is_refused_and_creates_nothing(api: TestClient, services: Services) -> None:
    maker = bearer(services, "maker", [Role.MANUFACTURER, Role.CUSTODIAN])
    created = api.post("/v1/items", json={"description": {"product": "insulin"}}, headers=maker)
    assert created.status_code == 201, created.text
    item = created.json()["item_id"]
    files, block = party_files(services), head(services)
    handover = {"to": "party:ghost", "location": {"latitude": 1.0, "longitude": 2.0, "site": ""}}
    problem = assert_problem(api.post(f"/v1/items/{item}/handover", json=handover, headers=maker), 422, "unknown-party")
    assert problem["party"] == "ghost"
    assert party_files(services) == files and not (services.settings.data_dir / "parties" / "ghost.json").exists()
    assert head(services) == block


def test_only_an_admin_creates_parties(api: TestClient, services: Services) -> None:
    admin = bearer(services, "root", [Role.ADMIN])
    for roles in ([Role.REGISTRAR], [Role.DEVICE_MANAGER, Role.MANUFACTURER, Role.CUSTODIAN]):
        assert_problem(
            api.post("/v1/parties", json={"name": "rogue"}, headers=bearer(services, "x", roles)), 403, "forbidden"
        )
    assert_problem(api.post("/v1/parties", json={"name": "rogue"}), 401, "unauthorized")
    assert_problem(api.post("/v1/parties", json={"name": "Rogue!"}, headers=admin), 422, "validation-error")
    assert party_files(services) == set()
    made = api.post("/v1/parties", json={"name": "carrier"}, headers=admin)
    assert made.status_code == 201 and made.json()["name"] == "carrier"
    assert api.get("/v1/parties", headers=admin).json()["data"] == [made.json()]
    address = made.json()["address"]
    assert services.ledger.client.w3.eth.get_balance(address) > 0  # funded on the dev chain
    assert_problem(api.post("/v1/parties", json={"name": "carrier"}, headers=admin), 409, "party-exists")
    assert services.parties.address("carrier") == address
    assert party_files(services) == {"carrier.json"}


def test_party_command_creates_and_lists(tmp_path: Any) -> None:
    import subprocess
    import sys

    env = {
        **os.environ,
        "PROVENANCE_DATA_DIR": str(tmp_path / "cli"),
        "PROVENANCE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }

    def cli(*args: str, command: str = "party") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ledger_service.app.cli", command, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = cli("create", "carrier")
    assert made.returncode == 0, made.stderr
    address = made.stdout.strip()
    assert address.startswith("0x") and len(address) == 42
    again = cli("create", "carrier")
    assert again.returncode == 1 and "party-exists" in again.stderr
    bad = cli("create", "Bad Name")
    assert bad.returncode == 1 and "configuration-error" in bad.stderr
    assert address in cli("list").stderr
    assert {p.name for p in (tmp_path / "cli" / "parties").iterdir()} == {"carrier.json"}
    # issuing a key for a new party is an admin's act too: it makes the party
    issued = cli("create", "dock", "--role", "custodian", "--party", "warehouse", command="apikey")
    assert issued.returncode == 0, issued.stderr
    assert "acting as party warehouse (0x" in issued.stderr
    assert {p.name for p in (tmp_path / "cli" / "parties").iterdir()} == {"carrier.json", "warehouse.json"}
    reused = cli("create", "dock-2", "--role", "custodian", "--party", "carrier", command="apikey")
    assert reused.returncode == 0 and f"acting as party carrier ({address})" in reused.stderr
