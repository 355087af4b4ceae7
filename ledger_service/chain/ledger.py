"""Typed calls to the deployed DeviceRegistry and DataNotary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import TxReceipt

from ledger_service.chain.client import ChainClient
from ledger_service.chain.deploy import Deployment
from ledger_service.compiler import Artifact
from ledger_service.readings import Domain, Reading


@dataclass(frozen=True)
class AnchorRecord:
    """Where a batch root was anchored on chain."""

    chain_batch_id: int
    transaction_hash: str
    block_number: int


class Ledger:
    """The project's contracts on one chain, called through one `ChainClient`."""

    def __init__(self, client: ChainClient, deployment: Deployment, artifacts: dict[str, Artifact]) -> None:
        self.client = client
        self.deployment = deployment
        for artifact in artifacts.values():
            client.errors.register(artifact.abi)
        self.registry: Contract = self._contract("DeviceRegistry", artifacts)
        self.notary: Contract = self._contract("DataNotary", artifacts)
        self.domain = Domain(chain_id=deployment.chain_id, verifying_contract=self.registry.address)

    def _contract(self, name: str, artifacts: dict[str, Artifact]) -> Contract:
        return self.client.w3.eth.contract(
            address=to_checksum_address(self.deployment.address_of(name)), abi=artifacts[name].abi
        )

    # DeviceRegistry

    def register_device(self, device_id: bytes, signer: str) -> TxReceipt:
        """Registers a device with the operator as registrar."""
        return self.client.transact(self.registry.functions.registerDevice(device_id, to_checksum_address(signer)))

    def device_signer(self, device_id: bytes) -> str | None:
        """The signing address of `device_id`, or None when it is not registered."""
        try:
            device = self.registry.functions.getDevice(device_id).call()
        except (ContractCustomError, ContractLogicError) as exc:
            if self.client.errors.name_of(exc) == "DeviceRegistryUnknownDevice":
                return None
            raise
        return str(device[0])

    def reading_digest(self, reading: Reading) -> bytes:
        """The digest the registry computes for `reading` (for cross-checks)."""
        return bytes(self.registry.functions.readingDigest(reading.as_tuple()).call())

    def verify_reading(self, device_id: bytes, digest: bytes, signature: bytes) -> bool:
        """The registry's verdict on a reading signature."""
        return bool(self.registry.functions.verifyReading(device_id, digest, signature).call())

    # DataNotary

    def anchor(self, root: bytes, count: int, first_ts: int, last_ts: int, content_id: str) -> AnchorRecord:
        """Anchors a batch root and returns where it landed."""
        receipt = self.client.transact(self.notary.functions.anchor(root, count, first_ts, last_ts, content_id))
        events = self.notary.events.BatchAnchored().process_receipt(receipt)
        if not events:
            raise RuntimeError("anchor transaction emitted no BatchAnchored event")
        return AnchorRecord(
            chain_batch_id=int(events[0]["args"]["batchId"]),
            transaction_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            block_number=int(receipt["blockNumber"]),
        )

    def find_anchor(self, root: bytes) -> AnchorRecord | None:
        """Where `root` was anchored, found from the chain's logs, or None when it is not anchored."""
        if not self.notary.functions.isAnchored(root).call():
            return None
        logs = self.notary.events.BatchAnchored().get_logs(
            from_block=self.deployment.contracts["DataNotary"].block_number, argument_filters={"root": root}
        )
        if not logs:
            raise RuntimeError(f"root 0x{root.hex()} is anchored but no BatchAnchored log was found")
        entry: Any = logs[-1]
        return AnchorRecord(
            chain_batch_id=int(entry["args"]["batchId"]),
            transaction_hash=HexBytes(entry["transactionHash"]).to_0x_hex(),
            block_number=int(entry["blockNumber"]),
        )

    def verify(self, root: bytes, leaf: bytes, proof: list[bytes]) -> bool:
        """`DataNotary.verify` on chain."""
        return bool(self.notary.functions.verify(root, leaf, proof).call())
