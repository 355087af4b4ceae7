"""The deployment manifest: the chain (id and genesis hash) and, for each contract, its address, deploy
block and transaction, the hashes of its creation and runtime code, and the role holders the deploy
wired. Written atomically in the data directory; an unreadable one counts as none."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ledger_service.core.errors import DeploymentError

log = logging.getLogger(__name__)


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
    #: Who holds what: holder name (admin, anchorer, registrar, operator, deployer) -> address.
    roles: dict[str, str] = field(default_factory=dict)

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
            roles={str(k): str(v) for k, v in data.get("roles", {}).items()},
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


def save_manifest(path: Path, deployment: Deployment) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(deployment.to_json(), indent=2) + "\n")
    tmp.replace(path)
