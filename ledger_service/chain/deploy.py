"""Idempotent deployment of the project's contracts, recorded in a manifest in the data directory.

The manifest names the chain (id and genesis hash), and for each contract its address, deploy
block, transaction, the hash of the creation code it was built from and the hash of the runtime
code found at its address. It is reused only while the chain is the same one, the code at each
address is unchanged and the artifacts are the ones deployed; otherwise the contracts are deployed
afresh and the manifest rewritten.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from ledger_service.chain.client import ChainClient
from ledger_service.compiler import Artifact
from ledger_service.errors import DeploymentError

log = logging.getLogger(__name__)

#: Contracts in deployment order, each with its constructor arguments given the operator address.
CONTRACTS: tuple[str, ...] = (
    "DeviceRegistry",
    "DataNotary",
    "SupplyChain",
    "AssetToken",
    "ShipmentEscrow",
    "SensorOracle",
)


@dataclass(frozen=True)
class DeployedContract:
    """One deployed contract as recorded in the manifest."""

    address: str
    block_number: int
    transaction_hash: str
    bytecode_hash: str
    code_hash: str


@dataclass(frozen=True)
class Deployment:
    """The contracts deployed on one chain."""

    chain_id: int
    genesis_hash: str
    contracts: dict[str, DeployedContract] = field(default_factory=dict)

    def address_of(self, name: str) -> str:
        """The address of contract `name`."""
        try:
            return self.contracts[name].address
        except KeyError as exc:
            raise DeploymentError(f"{name} is not in the deployment manifest") from exc

    @property
    def start_block(self) -> int:
        """The first block that holds any of the contracts."""
        return min(c.block_number for c in self.contracts.values())

    def to_json(self) -> dict[str, Any]:
        """The manifest's JSON form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        """Reads a manifest's JSON form."""
        return cls(
            chain_id=int(data["chain_id"]),
            genesis_hash=str(data["genesis_hash"]),
            contracts={name: DeployedContract(**entry) for name, entry in data["contracts"].items()},
        )


def load_manifest(path: Path) -> Deployment | None:
    """The manifest at `path`, or None when there is none or it cannot be read."""
    if not path.exists():
        return None
    try:
        return Deployment.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring an unreadable deployment manifest", extra={"path": str(path)})
        return None


def _save_manifest(path: Path, deployment: Deployment) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(deployment.to_json(), indent=2) + "\n")
    tmp.replace(path)


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


def _grant_oracle_roles(
    client: ChainClient, artifacts: dict[str, Artifact], deployed: dict[str, DeployedContract]
) -> None:
    """Lets the sensor oracle act: bind it in SupplyChain (the only setter of item conditions, for
    good; the deployer binds it, with no role), let it freeze asset tokens."""
    oracle = deployed["SensorOracle"].address
    supply = client.w3.eth.contract(
        address=to_checksum_address(deployed["SupplyChain"].address), abi=artifacts["SupplyChain"].abi
    )
    client.transact(supply.functions.bindOracle(to_checksum_address(oracle)))
    log.info("bound", extra={"contract": "SupplyChain", "oracle": oracle})
    for name, role in (("AssetToken", b"FREEZER_ROLE"),):
        contract = client.w3.eth.contract(address=to_checksum_address(deployed[name].address), abi=artifacts[name].abi)
        client.transact(contract.functions.grantRole(keccak(role), oracle))
        log.info("granted", extra={"contract": name, "role": role.decode(), "account": oracle})


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

    deployed: dict[str, DeployedContract] = {}
    for name in CONTRACTS:
        artifact = artifacts[name]
        client.errors.register(artifact.abi)
        factory = client.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = client.transact(factory.constructor(*_constructor_args(name, client.operator.address, deployed)))
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
    _grant_oracle_roles(client, artifacts, deployed)
    deployment = Deployment(chain_id=client.chain_id, genesis_hash=client.genesis_hash(), contracts=deployed)
    _save_manifest(manifest_path, deployment)
    return deployment, True
