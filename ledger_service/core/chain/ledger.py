"""Typed calls to the deployed DeviceRegistry and DataNotary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.deploy import Deployment
from ledger_service.core.chain.notary_log import NotaryLog, batch_anchored_logs
from ledger_service.core.compiler import Artifact
from ledger_service.core.device_state import Metadata
from ledger_service.core.errors import TransactionReverted
from ledger_service.core.keys import PublicKey
from ledger_service.core.readings import Domain, Reading


@dataclass(frozen=True)
class AnchorRecord:
    """Where a batch root was anchored on chain."""

    chain_batch_id: int
    transaction_hash: str
    block_number: int
    block_hash: str


class Ledger:
    """The project's contracts on one chain, called through one `ChainClient`."""

    def __init__(
        self, client: ChainClient, deployment: Deployment, artifacts: dict[str, Artifact], log: NotaryLog | None = None
    ) -> None:
        """`log`: the notary's log as another `Ledger` of the same deployment keeps it (`self.log`),
        shared so that neither reads the blocks the other has read."""
        self.client = client
        self.deployment = deployment
        for artifact in artifacts.values():
            client.errors.register(artifact.abi)
        self.registry: Contract = self._contract("DeviceRegistry", artifacts)
        self.notary: Contract = self._contract("DataNotary", artifacts)
        self.domain = Domain(chain_id=deployment.chain_id, verifying_contract=self.registry.address)
        self.log = log or NotaryLog(self.notary, deployment.contracts["DataNotary"].block_number)

    def _contract(self, name: str, artifacts: dict[str, Artifact]) -> Contract:
        return self.client.w3.eth.contract(
            address=to_checksum_address(self.deployment.address_of(name)), abi=artifacts[name].abi
        )

    # DeviceRegistry

    def register_device(
        self, device_id: bytes, key: PublicKey, owner: str | None = None, metadata: Metadata | None = None
    ) -> TxReceipt:
        """Registers a device from the registrar account; the operator owns it unless `owner` is given."""
        return self.client.for_role("registrar").transact(
            self.registry.functions.registerDevice(
                device_id,
                to_checksum_address(owner or self.client.operator.address),
                key.as_tuple(),
                (metadata or Metadata()).as_tuple(),
            )
        )

    def rotate_key(self, device_id: bytes, key: PublicKey) -> TxReceipt:
        """Replaces the device's key (the operator must own the device)."""
        return self.client.transact(self.registry.functions.rotateKey(device_id, key.as_tuple()))

    def suspend_device(self, device_id: bytes) -> TxReceipt:
        """Suspends the device."""
        return self.client.transact(self.registry.functions.suspendDevice(device_id))

    def reactivate_device(self, device_id: bytes) -> TxReceipt:
        """Reactivates a suspended device."""
        return self.client.transact(self.registry.functions.reactivateDevice(device_id))

    def revoke_device(self, device_id: bytes) -> TxReceipt:
        """Revokes the device for good."""
        return self.client.transact(self.registry.functions.revokeDevice(device_id))

    def transfer_device(self, device_id: bytes, new_owner: str) -> TxReceipt:
        """Hands the device over to `new_owner`."""
        return self.client.transact(
            self.registry.functions.transferDeviceOwnership(device_id, to_checksum_address(new_owner))
        )

    def update_metadata(self, device_id: bytes, metadata: Metadata) -> TxReceipt:
        """Replaces the device's metadata."""
        return self.client.transact(self.registry.functions.updateDeviceMetadata(device_id, metadata.as_tuple()))

    def reading_digest(self, reading: Reading) -> bytes:
        """The digest the registry computes for `reading` (for cross-checks)."""
        return bytes(self.registry.functions.readingDigest(reading.as_tuple()).call())

    def verify_reading(self, device_id: bytes, digest: bytes, signature: bytes) -> bool:
        """The registry's verdict on a reading signature with the device's current key."""
        return bool(self.registry.functions.verifyReading(device_id, digest, signature).call())

    def verify_reading_at(self, device_id: bytes, digest: bytes, signature: bytes, timestamp: int) -> bool:
        """The registry's verdict with the key valid at `timestamp`."""
        return bool(self.registry.functions.verifyReadingAt(device_id, digest, signature, timestamp).call())

    def verify_signed_reading(self, reading: Reading, signature: bytes) -> bool:
        """The registry's verdict on a whole reading, with the key valid at its timestamp."""
        return bool(self.registry.functions.verifySignedReading(reading.as_tuple(), signature).call())

    # DataNotary

    def anchor(self, root: bytes, count: int, first_ts: int, last_ts: int, content_id: str) -> AnchorRecord:
        """Anchors a batch root from the anchorer account and returns where it landed. It is sent as
        the log's next batch as the chain shows it now (`anchorAs`): if another anchor lands first (a
        copy of an earlier one a reorg put back into the pool, say), it reverts with
        `DataNotaryNotNextBatch` instead of appending the root twice."""
        anchorer = self.client.for_role("anchorer")
        next_id = int(self.notary.functions.batchCount().call())
        call = self.notary.functions.anchorAs(next_id, root, count, first_ts, last_ts, content_id)
        receipt = anchorer.transact(call)
        events = self.notary.events.BatchAnchored().process_receipt(receipt)
        if not events:
            raise RuntimeError("anchor transaction emitted no BatchAnchored event")
        return AnchorRecord(
            chain_batch_id=int(events[0]["args"]["batchId"]),
            transaction_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            block_number=int(receipt["blockNumber"]),
            block_hash=HexBytes(receipt["blockHash"]).to_0x_hex(),
        )

    def find_anchor(self, root: bytes, batch: tuple[int, int, int, str] | None = None) -> AnchorRecord | None:
        """Where `root` was first anchored, found from the chain's logs, or None when it is not; with
        `batch` (reading count, first and last timestamp, content id), only an anchor of exactly that
        batch counts. The anchorer's transactions left pending by an earlier run are waited for first,
        so an anchor still on its way is seen before another is sent."""
        self.client.for_role("anchorer").settle()
        start = self.deployment.contracts["DataNotary"].block_number
        logs = batch_anchored_logs(self.notary, start, int(self.client.w3.eth.block_number), root)
        fields = ("readingCount", "firstTimestamp", "lastTimestamp", "contentId")
        logs = [log for log in logs if batch is None or tuple(log["args"][f] for f in fields) == batch]
        if not logs:
            return None
        entry: Any = min(logs, key=lambda log: int(log["args"]["batchId"]))
        return AnchorRecord(
            chain_batch_id=int(entry["args"]["batchId"]),
            transaction_hash=HexBytes(entry["transactionHash"]).to_0x_hex(),
            block_number=int(entry["blockNumber"]),
            block_hash=HexBytes(entry["blockHash"]).to_0x_hex(),
        )

    def is_recorded(self, root: bytes) -> bool:
        """Whether `root` is recorded for on-chain checks (`DataNotary.verify` answers for it)."""
        return bool(self.notary.functions.isRecorded(root).call())

    def record_anchors(self, roots: Iterable[bytes], attempts: int = 3) -> int:
        """Records each anchored root of `roots` not recorded yet (`DataNotary.recordAnchor`, from
        this client's account): the batch's leaf and its path to the log's frontier are read from the
        chain's events. A path goes stale when batches land before it does; it is built again, up to
        `attempts` times. A root never anchored is left alone (a contract checking it will refuse it).
        Returns how many were recorded."""
        recorded = 0
        for root in dict.fromkeys(roots):
            for attempt in range(attempts):
                if self.is_recorded(root):
                    break
                call = self.log.record_call(root)
                if call is None:
                    break
                call = self.notary.functions.recordAnchor(*call.args)  # over this client's connection
                try:
                    self.client.transact(call)
                except TransactionReverted:
                    # the path went stale (before the estimate or after it), or someone recorded it
                    # first: look again, and build the path again
                    if attempt == attempts - 1 and not self.is_recorded(root):
                        raise
                    continue
                recorded += 1
                break
        return recorded

    def anchor_depth(self, transaction_hash: str, block_hash: str) -> int | None:
        """How many blocks (its own included) confirm the anchor, or None when its transaction is
        no longer in that block of the canonical chain (a reorg)."""
        try:
            receipt = self.client.w3.eth.get_transaction_receipt(transaction_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        if HexBytes(receipt["blockHash"]).to_0x_hex() != block_hash or receipt["status"] != 1:
            return None
        return int(self.client.w3.eth.block_number) - int(receipt["blockNumber"]) + 1

    def finalized_block(self) -> int | None:
        """The number of the chain's finalized block, or None when the node has no such tag."""
        try:
            return int(self.client.w3.eth.get_block("finalized")["number"])
        except Exception:  # noqa: BLE001 - nodes without the tag answer with various errors
            return None

    def reset_nonce(self) -> None:
        """Forgets the cached nonces of the operator and the anchorer (a reorg may have dropped
        transactions they counted)."""
        self.client.reset_nonce()  # the role clients' too

    def verify(self, root: bytes, leaf: bytes, proof: list[bytes]) -> bool:
        """`DataNotary.verify` on chain (false for a root not recorded: `record_anchors`)."""
        return bool(self.notary.functions.verify(root, leaf, proof).call())
