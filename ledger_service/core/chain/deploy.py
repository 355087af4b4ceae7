"""Idempotent deployment of the project's contracts, recorded in a manifest in the data directory.

The manifest names the chain (id and genesis hash), and for each contract its address, deploy
block, transaction, the hash of the creation code it was built from and the hash of the runtime
code found at its address. It is reused only while the chain is the same one, the code at each
address is unchanged and the artifacts are the ones deployed; otherwise the contracts are deployed
afresh and the manifest rewritten.

Roles. The contracts are created by the *deployer* account, which their constructors make admin
(and holder of their working roles) so it can wire them: SupplyChain binds the sensor oracle
(`bindOracle`, once; no role can set an item's condition), the oracle gets `FREEZER_ROLE` in
AssetToken, the anchorer `ANCHORER_ROLE`, the registrar
`REGISTRAR_ROLE`, the operator `MANUFACTURER_ROLE` and `MINTER_ROLE`, and the admin address given
at deploy `DEFAULT_ADMIN_ROLE` in every contract. Then the deployer renounces every role it holds,
admin last, and the deployment is checked on chain: the deployer holds nothing and each role is
held by its account. The manifest records the holders and is reused only while they are still the
configured accounts (roles the admin moves later, on chain, are the admin's business).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3.types import TxReceipt

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.manifest import DeployedContract, Deployment, load_manifest, save_manifest
from ledger_service.core.compiler import Artifact
from ledger_service.core.errors import DeploymentError

log = logging.getLogger(__name__)

#: Contracts in deployment order, each with its constructor arguments given the deployer address.
CONTRACTS: tuple[str, ...] = (
    "DeviceRegistry",
    "DataNotary",
    "SupplyChain",
    "AssetToken",
    "ShipmentEscrow",
    "SensorOracle",
)


ADMIN_ROLE = bytes(32)
_WIRING_GAS = 120_000  # a grant or renounce uses about 30,000-55,000: no estimate needed

#: The working roles granted at deploy: contract -> (role, holder), the holder a role account
#: ("anchorer", "registrar", "operator") or a contract of the deployment.
GRANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "DeviceRegistry": (("REGISTRAR_ROLE", "registrar"),),
    "DataNotary": (("ANCHORER_ROLE", "anchorer"),),
    # Conditions come from the bound SensorOracle only (bindOracle in _wire): no account holds a role for it.
    "SupplyChain": (("MANUFACTURER_ROLE", "operator"),),
    "AssetToken": (("FREEZER_ROLE", "SensorOracle"), ("MINTER_ROLE", "operator")),
    "SensorOracle": (),
}


def role_id(name: str) -> bytes:
    """The bytes32 id of AccessControl role `name` (DEFAULT_ADMIN_ROLE is zero)."""
    return ADMIN_ROLE if name == "DEFAULT_ADMIN_ROLE" else keccak(name.encode())


def role_names(artifact: Artifact) -> list[str]:
    """The roles a contract declares (its `*_ROLE` constants), admin first."""
    names = [
        str(entry["name"])
        for entry in artifact.abi
        if entry.get("type") == "function"
        and str(entry.get("name", "")).endswith("_ROLE")
        and not entry.get("inputs")
        and entry.get("name") != "DEFAULT_ADMIN_ROLE"
    ]
    return ["DEFAULT_ADMIN_ROLE", *sorted(names)] if "hasRole" in _functions(artifact) else []


def _functions(artifact: Artifact) -> set[str]:
    return {str(e.get("name")) for e in artifact.abi if e.get("type") == "function"}


def expected_roles(client: ChainClient) -> dict[str, str]:
    """The holders the configured accounts make: admin, anchorer, registrar, operator, deployer."""
    roles = {name: client.for_role(name).operator.address for name in ("deployer", "anchorer", "registrar")}
    if client.admin_address is None:
        raise DeploymentError("no admin address: connect with settings (PROVENANCE_ADMIN_ADDRESS or a dev admin key)")
    return {**roles, "admin": client.admin_address, "operator": client.operator.address}


def _holder(holder: str, roles: dict[str, str], deployed: dict[str, DeployedContract]) -> str:
    return deployed[holder].address if holder in deployed else roles[holder]


def _contract(client: ChainClient, artifact: Artifact, address: str) -> Any:
    return client.w3.eth.contract(address=to_checksum_address(address), abi=artifact.abi)


def roles_match(
    client: ChainClient, deployment: Deployment, artifacts: dict[str, Artifact], roles: dict[str, str]
) -> str | None:
    """None when, on chain, each role is held by its configured holder and the deployer holds none;
    else the first difference found."""
    deployer = roles["deployer"]
    for name, grants in GRANTS.items():
        contract = _contract(client, artifacts[name], deployment.address_of(name)).functions
        wanted = [("DEFAULT_ADMIN_ROLE", "admin"), *grants]
        for role, holder in wanted:
            address = _holder(holder, roles, deployment.contracts)
            if not contract.hasRole(role_id(role), to_checksum_address(address)).call():
                return f"{name}.{role} is not held by the {holder} {address}"
        for role in role_names(artifacts[name]):
            if contract.hasRole(role_id(role), to_checksum_address(deployer)).call():
                return f"the deployer {deployer} still holds {name}.{role}"
    return None


def manifest_matches(client: ChainClient, deployment: Deployment, artifacts: dict[str, Artifact]) -> str | None:
    """Returns None when `deployment` is live on the client's chain, else the reason it is not."""
    if deployment.chain_id != client.chain_id:
        return f"chain id {client.chain_id} differs from the manifest's {deployment.chain_id}"
    if deployment.genesis_hash != client.genesis_hash():
        return "the chain's genesis block differs from the manifest's (a new chain)"
    for name in CONTRACTS:
        entry = deployment.contracts.get(name)
        if entry is None:
            return f"{name} is missing from the manifest"
        if entry.bytecode_hash != artifacts[name].bytecode_hash:
            return f"{name} was rebuilt since it was deployed"
        code = client.code_at(entry.address)
        if not code or HexBytes(keccak(code)).to_0x_hex() != entry.code_hash:
            return f"the code at {name}'s address {entry.address} does not match the manifest"
    for holder, address in expected_roles(client).items():
        if deployment.roles.get(holder, "").lower() != address.lower():
            return f"the {holder} {address} is not the manifest's ({deployment.roles.get(holder)})"
    return None


def _constructor_args(name: str, admin: str, deployed: dict[str, DeployedContract]) -> list[Any]:
    if name in ("DeviceRegistry", "DataNotary"):
        return [admin]
    if name == "SupplyChain":
        return [admin, deployed["DeviceRegistry"].address, deployed["DataNotary"].address]
    if name == "AssetToken":
        return [admin, deployed["SupplyChain"].address]
    if name == "ShipmentEscrow":
        return [deployed["SupplyChain"].address]
    if name == "SensorOracle":
        return [admin] + [
            deployed[dep].address
            for dep in ("DeviceRegistry", "DataNotary", "SupplyChain", "AssetToken", "ShipmentEscrow")
        ]
    raise DeploymentError(f"no constructor arguments known for {name}")


def _wire(
    deployer: ChainClient,
    artifacts: dict[str, Artifact],
    deployed: dict[str, DeployedContract],
    roles: dict[str, str],
) -> list[TxReceipt]:
    """Grants each working role to its holder and the admin role to the admin, then renounces
    every role the deployer holds (the admin role last, once the admin holds it). The contracts
    are fresh, so what the deployer holds is known; the result is checked afterwards."""
    receipts = []
    me = to_checksum_address(deployer.operator.address)
    # SupplyChain takes item conditions from the bound SensorOracle alone, for good; the deployer
    # binds it once, with no role.
    supply = _contract(deployer, artifacts["SupplyChain"], deployed["SupplyChain"].address).functions
    oracle = to_checksum_address(deployed["SensorOracle"].address)
    receipts.append(deployer.transact(supply.bindOracle(oracle), gas=_WIRING_GAS))
    log.info("bound", extra={"contract": "SupplyChain", "oracle": oracle})
    for name, grants in GRANTS.items():
        contract = _contract(deployer, artifacts[name], deployed[name].address).functions
        for role, holder in (*grants, ("DEFAULT_ADMIN_ROLE", "admin")):
            account = to_checksum_address(_holder(holder, roles, deployed))
            receipts.append(deployer.transact(contract.grantRole(role_id(role), account), gas=_WIRING_GAS))
            log.info("granted", extra={"contract": name, "role": role, "holder": holder, "account": account})
        for role in reversed(role_names(artifacts[name])):  # the admin role comes first: renounce it last
            if contract.hasRole(role_id(role), me).call():
                receipts.append(deployer.transact(contract.renounceRole(role_id(role), me), gas=_WIRING_GAS))
                log.info("renounced", extra={"contract": name, "role": role, "account": me})
    return receipts


def deploy(
    client: ChainClient, artifacts: dict[str, Artifact], manifest_path: Path, force: bool = False
) -> tuple[Deployment, bool]:
    """Deploys the contracts unless the manifest still matches; returns it and whether it deployed."""
    missing = [name for name in CONTRACTS if name not in artifacts]
    if missing:
        raise DeploymentError(f"no artifacts for {', '.join(missing)}: compile first")
    existing = None if force else load_manifest(manifest_path)
    if existing is not None:
        reason = manifest_matches(client, existing, artifacts)
        if reason is None:
            log.info("contracts already deployed", extra={"manifest": str(manifest_path)})
            return existing, False
        log.info("deploying afresh", extra={"reason": reason})

    roles = expected_roles(client)
    if roles["admin"].lower() == roles["deployer"].lower():
        raise DeploymentError("the admin must not be the deployer: the deployer renounces its roles after wiring")
    deployer = client.for_role("deployer")
    deployed: dict[str, DeployedContract] = {}
    gas = 0
    for name in CONTRACTS:
        artifact = artifacts[name]
        client.errors.register(artifact.abi)
        factory = deployer.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = deployer.transact(factory.constructor(*_constructor_args(name, roles["deployer"], deployed)))
        gas += int(receipt["gasUsed"])
        address = receipt["contractAddress"]
        if not address:
            raise DeploymentError(f"deploying {name} created no contract")
        deployed[name] = DeployedContract(
            address=str(address),
            block_number=int(receipt["blockNumber"]),
            transaction_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            bytecode_hash=artifact.bytecode_hash,
            code_hash=HexBytes(keccak(client.code_at(address))).to_0x_hex(),
        )
        log.info("deployed", extra={"contract": name, "address": address, "block": receipt["blockNumber"]})
    wiring = _wire(deployer, artifacts, deployed, roles)
    deployment = Deployment(
        chain_id=client.chain_id, genesis_hash=client.genesis_hash(), contracts=deployed, roles=roles
    )
    problem = roles_match(client, deployment, artifacts, roles)
    if problem is not None:
        raise DeploymentError(f"wiring the roles failed: {problem}")
    log.info(
        "deployment wired",
        extra={"creation_gas": gas, "wiring_gas": sum(int(r["gasUsed"]) for r in wiring), "wiring_txs": len(wiring)},
    )
    save_manifest(manifest_path, deployment)
    return deployment, True
