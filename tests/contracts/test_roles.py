"""Roles split across keys, on a real anvil: after deploy the deployer holds no role, the admin
given at deploy is the only admin, each role account (anchorer, registrar, report submitter, the
operator) does exactly its job and is refused everything else, and anchoring and reporting run end
to end from their own accounts."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract

from ledger_service.core.chain.accounts import role_key_path
from ledger_service.core.chain.client import ChainClient, connect
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.deploy import ADMIN_ROLE, GRANTS, deploy, role_id, role_names
from ledger_service.core.chain.keystore import keystore_password, load_keystore
from ledger_service.core.chain.manifest import load_manifest
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.compiler import Artifact
from ledger_service.core.enums import Action, KeyType
from ledger_service.core.errors import ConfigurationError, TransactionReverted
from ledger_service.core.keys import DeviceKey
from ledger_service.core.supply_chain import SupplyChainContract
from ledger_service.services.container import Services
from oracles.daemon import OracleDaemon
from oracles.rules import RuleSpec
from oracles.tasks import report_dispatcher
from tests.utils.oracle import fired_events, ingest, now, oracle_of, shipment
from tests.utils.settings import make_settings

ACCESS_CONTROLLED = tuple(GRANTS)  # every contract with roles (ShipmentEscrow has none)


def contract(client: ChainClient, chain: ChainContext, name: str) -> Contract:
    return client.w3.eth.contract(
        address=to_checksum_address(chain.deployment.address_of(name)), abi=chain.artifacts[name].abi
    )


def refusal(call: Callable[[], Any]) -> str | None:
    with pytest.raises(TransactionReverted) as info:
        call()
    return info.value.context["error"]


def holders(chain: ChainContext, name: str, role: bytes) -> set[str]:
    """The accounts holding `role` in contract `name`, replayed from its RoleGranted/RoleRevoked events."""
    events = contract(chain.client, chain, name).events
    start = chain.deployment.contracts[name].block_number
    changes = [
        (e["blockNumber"], e["logIndex"], e["event"], e["args"]["account"])
        for kind in (events.RoleGranted(), events.RoleRevoked())
        for e in kind.get_logs(from_block=start, argument_filters={"role": role})
    ]
    held: set[str] = set()
    for _, _, event, account in sorted(changes):
        (held.add if event == "RoleGranted" else held.discard)(account)
    return held


def test_after_deploy_the_deployer_holds_no_role(chain: ChainContext) -> None:
    deployer = chain.client.for_role("deployer").operator.address
    checked = 0
    for name in ACCESS_CONTROLLED:
        functions = contract(chain.client, chain, name).functions
        for role in role_names(chain.artifacts[name]):
            assert not functions.hasRole(role_id(role), deployer).call(), f"{name}.{role}"
            assert deployer not in holders(chain, name, role_id(role))
            checked += 1
    assert checked >= 10  # admin in five contracts, and the five working roles
    assert chain.deployment.roles["deployer"] == deployer


def test_the_admin_given_at_deploy_is_the_only_admin(chain: ChainContext) -> None:
    admin = chain.client.admin_address
    assert admin is not None and admin == chain.deployment.roles["admin"]
    others = {
        chain.client.operator.address,
        *(chain.client.for_role(r).operator.address for r in ("deployer", "anchorer", "registrar", "reporter")),
    }
    assert admin not in others
    for name in ACCESS_CONTROLLED:
        assert holders(chain, name, ADMIN_ROLE) == {admin}, name


def test_each_working_role_is_held_by_its_account_only(chain: ChainContext) -> None:
    roles = chain.deployment.roles
    oracle = chain.deployment.address_of("SensorOracle")
    expected = {
        ("DeviceRegistry", "REGISTRAR_ROLE"): {roles["registrar"]},
        ("DataNotary", "ANCHORER_ROLE"): {roles["anchorer"]},
        ("SupplyChain", "MANUFACTURER_ROLE"): {roles["operator"]},
        ("AssetToken", "FREEZER_ROLE"): {oracle},
        ("AssetToken", "MINTER_ROLE"): {roles["operator"]},
    }
    for (name, role), accounts in expected.items():
        assert holders(chain, name, role_id(role)) == {to_checksum_address(a) for a in accounts}, (name, role)
    # item conditions: no role at all, only the SensorOracle bound once at deploy
    supply = contract(chain.client, chain, "SupplyChain").functions
    assert supply.oracle().call() == oracle and "ORACLE_ROLE" not in role_names(chain.artifacts["SupplyChain"])
    # the report submitter needs no role: SensorOracle checks the evidence, not the sender
    reporter = chain.client.for_role("reporter").operator.address
    for name in ACCESS_CONTROLLED:
        for role in role_names(chain.artifacts[name]):
            assert reporter not in holders(chain, name, role_id(role))


def test_each_role_account_does_its_job_and_is_refused_outside_it(chain: ChainContext) -> None:
    clients = {role: chain.client.for_role(role) for role in ("deployer", "anchorer", "registrar", "reporter")}
    clients["operator"] = chain.client
    key = DeviceKey.generate(KeyType.SECP256K1).public_key
    owner = chain.client.operator.address

    def anchor(client: ChainClient) -> Any:
        root = keccak(os.urandom(8))
        return client.transact(contract(client, chain, "DataNotary").functions.anchor(root, 1, 1, 1, ""))

    def register(client: ChainClient) -> Any:
        return client.transact(
            contract(client, chain, "DeviceRegistry").functions.registerDevice(
                os.urandom(32), owner, key.as_tuple(), ("", bytes(32), "")
            )
        )

    def make_item(client: ChainClient) -> Any:
        return SupplyChainContract(client, chain.deployment, chain.artifacts).register_item(
            os.urandom(32), owner, keccak(b"goods")
        )

    def grant(client: ChainClient) -> Any:  # any role holder trying to widen its own powers
        notary = contract(client, chain, "DataNotary")
        return client.transact(notary.functions.grantRole(role_id("ANCHORER_ROLE"), client.operator.address))

    jobs = {"anchorer": anchor, "registrar": register, "operator": make_item, "admin": grant}
    notary = contract(chain.client, chain, "DataNotary").functions
    for role, client in clients.items():
        for job, act in jobs.items():
            if job == role:
                assert act(client)["status"] == 1
                continue
            batches = notary.batchCount().call()
            assert refusal(lambda a=act, c=client: a(c)) == "AccessControlUnauthorizedAccount", (role, job)
            assert notary.batchCount().call() == batches  # nothing changed
    # the admin can grant (and does nothing else here): admin of every contract, nothing more
    admin = chain.client.for_role("admin")
    assert refusal(lambda: anchor(admin)) == "AccessControlUnauthorizedAccount"
    assert refusal(lambda: register(admin)) == "AccessControlUnauthorizedAccount"
    assert refusal(lambda: make_item(admin)) == "AccessControlUnauthorizedAccount"


def test_anchoring_and_reports_are_sent_from_their_own_accounts(services: Services) -> None:
    anchorer = services.ledger.client.for_role("anchorer").operator.address
    reporter = services.ledger.client.for_role("reporter").operator.address
    item_id, sensor = shipment(services)
    rule_id, _ = oracle_of(services).add_rule(
        RuleSpec(
            item_id,
            "temperature",
            unit="Cel",
            upper=800,
            scale=2,
            min_readings=2,
            actions=Action.MARK_OUT_OF_COMPLIANCE,
        )  # fmt: skip
    )
    daemon = OracleDaemon(services, report_dispatcher(services), name="roles")
    ingest(services, sensor, [900, 900, 900, 900], now(services) + 1)
    assert len(daemon.step().claimed) == 1
    before = int(services.ledger.client.w3.eth.block_number)
    services.batcher().run_once()
    assert daemon.step().queued
    w3 = services.ledger.client.w3
    (fired,) = fired_events(services, rule_id)
    assert fired["args"]["submitter"] == reporter
    assert w3.eth.get_transaction(fired["transactionHash"])["from"] == reporter
    anchors = services.ledger.notary.events.BatchAnchored().get_logs(from_block=before + 1)
    assert len(anchors) == 1 and anchors[0]["args"]["anchorer"] == anchorer
    assert w3.eth.get_transaction(anchors[0]["transactionHash"])["from"] == anchorer


def test_a_multisig_admin_address_given_at_deploy_is_the_admin_and_no_key_is_held_for_it(
    anvil: ManagedAnvil, artifacts: dict[str, Artifact], tmp_path: Path
) -> None:
    multisig = Account.create().address  # stands for a multisig: the service never sees its key
    settings = make_settings(tmp_path / "data", admin_address=multisig.lower())
    client = connect(settings, anvil.url)
    deployment, deployed = deploy(client, artifacts, settings.manifest_path)
    assert deployed and deployment.roles["admin"] == multisig
    assert not role_key_path(settings.data_dir, "admin").exists()
    with pytest.raises(ConfigurationError, match="does not hold"):
        client.for_role("admin")
    for name in ACCESS_CONTROLLED:
        functions = client.w3.eth.contract(address=deployment.address_of(name), abi=artifacts[name].abi).functions
        assert functions.hasRole(ADMIN_ROLE, multisig).call()
        assert not functions.hasRole(ADMIN_ROLE, client.for_role("deployer").operator.address).call()
    # the same settings again: the manifest matches and nothing is deployed
    again, redeployed = deploy(connect(settings, anvil.url), artifacts, settings.manifest_path)
    assert not redeployed and again == deployment
    # another admin: the deployment does not match any more, and is made afresh for it
    other = Account.create().address
    moved = settings.model_copy(update={"admin_address": other})
    fresh, redeployed = deploy(connect(moved, anvil.url), artifacts, moved.manifest_path)
    assert redeployed and fresh.roles["admin"] == other
    assert load_manifest(moved.manifest_path) == fresh


def test_role_accounts_must_be_distinct(anvil: ManagedAnvil, artifacts: dict[str, Artifact], tmp_path: Path) -> None:
    shared = Account.create().key.to_0x_hex()
    same_key = make_settings(tmp_path / "a", anchorer_key=shared, registrar_key=shared)
    with pytest.raises(ConfigurationError, match="separate accounts"):
        connect(same_key, anvil.url)
    deployer = Account.create()
    admin_is_deployer = make_settings(
        tmp_path / "b", deployer_key=deployer.key.to_0x_hex(), admin_address=deployer.address
    )
    with pytest.raises(ConfigurationError, match="separate accounts"):
        connect(admin_is_deployer, anvil.url)
    operator = Account.create()
    admin_is_operator = make_settings(
        tmp_path / "c", operator_key=operator.key.to_0x_hex(), admin_address=operator.address
    )
    with pytest.raises(ConfigurationError, match="separate accounts"):
        connect(admin_is_operator, anvil.url)
    with pytest.raises(ConfigurationError, match="not an address"):
        connect(make_settings(tmp_path / "d", admin_address="0x1234"), anvil.url)


def test_each_role_key_lives_in_its_own_file(chain_settings: Any, chain: ChainContext) -> None:
    files = {
        role: role_key_path(chain_settings.data_dir, role)
        for role in ("deployer", "admin", "anchorer", "registrar", "reporter")
    }
    password = keystore_password(chain_settings)
    keys = {role: load_keystore(path, password).key for role, path in files.items()}
    assert len(set(keys.values())) == len(keys)
    for role, path in files.items():
        assert path.stat().st_mode & 0o777 == 0o600, role
        assert keys[role].hex().removeprefix("0x") not in path.read_text()  # encrypted at rest
        assert Account.from_key(keys[role]).address == (
            chain.client.admin_address if role == "admin" else chain.client.for_role(role).operator.address
        )
