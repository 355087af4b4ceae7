"""The SupplyChain contract from Python: items, devices attached for periods with their owner's
consent, two-party custody handovers, checkpoints with notarized evidence, hold, recall and
delivery. The condition is set only by the sensor oracle contract."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address
from web3.contract import Contract
from web3.types import TxReceipt

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.deploy import Deployment
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.compiler import Artifact
from ledger_service.core.enums import Condition, ItemStatus
from ledger_service.core.hashing import keccak256
from ledger_service.core.readings import Domain, Reading

_NO_READING = Reading(bytes(32), 0, 0, "", 0, 0, "", bytes(32))


@dataclass(frozen=True)
class Location:
    """WGS 84 microdegrees and a site code (a GLN as ASCII digits, or empty)."""

    latitude_e6: int = 0
    longitude_e6: int = 0
    site: str = ""

    @classmethod
    def of(cls, latitude: float, longitude: float, site: str = "") -> Location:
        """A location from degrees."""
        return cls(round(latitude * 1_000_000), round(longitude * 1_000_000), site)

    def as_tuple(self) -> tuple[int, int, bytes]:
        """The `SupplyChain.Location` struct."""
        encoded = self.site.encode("ascii")
        if len(encoded) > 32:
            raise ValueError(f"site code {self.site!r} is longer than 32 bytes")
        return (self.latitude_e6, self.longitude_e6, encoded.ljust(32, b"\0"))

    @classmethod
    def from_tuple(cls, value: Any) -> Location:
        """Reads the struct (a tuple from calls, a mapping from events)."""
        if isinstance(value, Mapping):
            value = (value["latitudeE6"], value["longitudeE6"], value["site"])
        latitude, longitude, site = value
        return cls(int(latitude), int(longitude), bytes(site).rstrip(b"\0").decode("ascii", errors="replace"))


@dataclass(frozen=True)
class Evidence:
    """A signed reading and the Merkle proof of its leaf under an anchored batch root; the contract
    computes the digest and the leaf, checks the signature and that the device was attached to
    the item when the reading was taken. Empty (root zero): no evidence."""

    reading: Reading = _NO_READING
    signature: bytes = b""
    root: bytes = bytes(32)
    proof: list[bytes] = field(default_factory=list)

    def leaf(self, domain: Domain) -> bytes:
        """The reading's leaf under the registry's EIP-712 `domain`, as the contract computes it."""
        return reading_leaf_of(self.reading.digest(domain), keccak256(self.signature))

    def as_tuple(self) -> tuple[Any, bytes, bytes, list[bytes]]:
        """The `SupplyChain.Evidence` struct."""
        return (self.reading.as_tuple(), self.signature, self.root, list(self.proof))


@dataclass(frozen=True)
class Attachment:
    """A period a device was attached to an item: [attached_at, detached_at), detached_at 0 while
    it still is."""

    attached_at: int
    detached_at: int

    def covers(self, start: int, end: int) -> bool:
        """True when the period holds every time from `start` to `end` (the contract's test)."""
        return self.attached_at <= start and (self.detached_at == 0 or end < self.detached_at)


def attached_throughout(periods: list[Attachment], start: int, end: int) -> bool:
    """`SupplyChain.attachedThroughout`: the latest period that began by `start` covers `end` too."""
    for period in reversed(periods):
        if period.attached_at > start:
            continue
        return period.covers(start, end)
    return False


def reading_leaf_of(digest: bytes, signature_hash: bytes) -> bytes:
    """keccak256(keccak256(digest ‖ signature hash)): a reading's leaf in the notary's trees."""
    return keccak256(keccak256(digest + signature_hash))


@dataclass(frozen=True)
class Item:
    """An item as the contract holds it."""

    item_id: bytes
    manufacturer: str
    status: ItemStatus
    condition: Condition
    held: bool
    registered_at: int
    custodian: str
    transfer_count: int
    content_hash: bytes
    closed_at: int = 0


class SupplyChainContract:
    """SupplyChain called from one account (its `ChainClient`)."""

    def __init__(self, client: ChainClient, deployment: Deployment, artifacts: dict[str, Artifact]) -> None:
        self.client = client
        self._deployment, self._artifacts = deployment, artifacts
        client.errors.register(artifacts["SupplyChain"].abi)
        self.contract: Contract = client.w3.eth.contract(
            address=to_checksum_address(deployment.address_of("SupplyChain")), abi=artifacts["SupplyChain"].abi
        )
        self._ledger = Ledger(client, deployment, artifacts)

    def as_account(self, client: ChainClient) -> SupplyChainContract:
        """The same contract called from another account."""
        other = SupplyChainContract.__new__(SupplyChainContract)
        other.client = client
        other._deployment, other._artifacts = self._deployment, self._artifacts
        client.errors.register(self.contract.abi)  # type: ignore[arg-type]
        other.contract = client.w3.eth.contract(address=self.contract.address, abi=self.contract.abi)
        other._ledger = Ledger(client, self._deployment, self._artifacts, log=self._ledger.log)
        return other

    @property
    def functions(self) -> Any:
        """The contract's functions (for calls this wrapper does not name)."""
        return self.contract.functions

    def register_item(
        self,
        item_id: bytes,
        custodian: str,
        content_hash: bytes,
        metadata_cid: str = "",
        devices: list[bytes] | None = None,
    ) -> TxReceipt:
        """Registers an item (the caller is its manufacturer)."""
        return self.client.transact(
            self.functions.registerItem(
                item_id, to_checksum_address(custodian), content_hash, metadata_cid, list(devices or [])
            )
        )

    def approve_attachment(self, item_id: bytes, device_id: bytes, approved: bool = True) -> TxReceipt:
        """As the device's owner, approves (or withdraws approval of) attaching it to the item."""
        return self.client.transact(self.functions.approveAttachment(item_id, device_id, approved))

    def attach_device(self, item_id: bytes, device_id: bytes) -> TxReceipt:
        """Attaches a sensor device (the caller owns it, or its owner approved)."""
        return self.client.transact(self.functions.attachDevice(item_id, device_id))

    def detach_device(self, item_id: bytes, device_id: bytes) -> TxReceipt:
        """Detaches a sensor device."""
        return self.client.transact(self.functions.detachDevice(item_id, device_id))

    def propose_transfer(self, item_id: bytes, to: str, location: Location, expires_at: int) -> TxReceipt:
        """Proposes a custody transfer (the caller is the custodian)."""
        return self.client.transact(
            self.functions.proposeTransfer(item_id, to_checksum_address(to), location.as_tuple(), expires_at)
        )

    def accept_transfer(self, item_id: bytes, location: Location | None = None) -> TxReceipt:
        """Accepts the pending transfer, received at `location` (the caller is the receiver)."""
        return self.client.transact(self.functions.acceptTransfer(item_id, (location or Location()).as_tuple()))

    def cancel_transfer(self, item_id: bytes) -> TxReceipt:
        """Withdraws or refuses the pending transfer."""
        return self.client.transact(self.functions.cancelTransfer(item_id))

    def record_checkpoint(
        self, item_id: bytes, location: Location, status_code: int, evidence: Evidence | None = None
    ) -> TxReceipt:
        """Records a checkpoint, with evidence checked on chain when given (its batch is recorded in
        the notary first, from this account, unless it is already: `Ledger.record_anchors`)."""
        if evidence is not None and any(evidence.root):
            self._ledger.record_anchors([evidence.root])
        return self.client.transact(
            self.functions.recordCheckpoint(
                item_id, location.as_tuple(), status_code, (evidence or Evidence()).as_tuple()
            )
        )

    def hold(self, item_id: bytes) -> TxReceipt:
        """Puts the item on hold (manufacturer)."""
        return self.client.transact(self.functions.holdItem(item_id))

    def release(self, item_id: bytes) -> TxReceipt:
        """Releases the hold (manufacturer)."""
        return self.client.transact(self.functions.releaseItem(item_id))

    def recall(self, item_id: bytes, reason: str) -> TxReceipt:
        """Recalls the item (manufacturer); final."""
        return self.client.transact(self.functions.recallItem(item_id, reason))

    def confirm_delivery(self, item_id: bytes, location: Location) -> TxReceipt:
        """Takes final delivery (custodian); final."""
        return self.client.transact(self.functions.confirmDelivery(item_id, location.as_tuple()))

    def get_item(self, item_id: bytes) -> Item:
        """The item (raises the contract's `SupplyChainUnknownItem` for an unknown id)."""
        value = self.functions.getItem(item_id).call()
        manufacturer, status, condition, held, registered_at, transfers, custodian, closed_at, content_hash = value
        return Item(
            item_id=item_id,
            manufacturer=str(manufacturer),
            status=ItemStatus(status),
            condition=Condition(condition),
            held=bool(held),
            registered_at=int(registered_at),
            custodian=str(custodian),
            transfer_count=int(transfers),
            content_hash=bytes(content_hash),
            closed_at=int(closed_at),
        )

    def pending_transfer(self, item_id: bytes) -> tuple[str, int, int] | None:
        """(receiver, transfer id, expiry) of the pending transfer, or None."""
        to, expires_at, transfer_id = self.functions.pendingTransfer(item_id).call()
        if int(to, 16) == 0:
            return None
        return str(to), int(transfer_id), int(expires_at)

    def devices_of(self, item_id: bytes, block: int | str = "latest") -> list[bytes]:
        """The sensor devices attached now."""
        return [bytes(d) for d in self.functions.devicesOf(item_id).call(block_identifier=block)]

    def device_history_of(self, item_id: bytes, block: int | str = "latest") -> list[bytes]:
        """Every device ever attached to the item, in the order first attached."""
        return [bytes(d) for d in self.functions.deviceHistoryOf(item_id).call(block_identifier=block)]

    def attachments_of(self, item_id: bytes, device_id: bytes, block: int | str = "latest") -> list[Attachment]:
        """The periods the device was attached to the item, oldest first."""
        rows = self.functions.attachmentsOf(item_id, device_id).call(block_identifier=block)
        return [Attachment(int(a), int(d)) for a, d in rows]

    def oracle(self) -> str:
        """The bound sensor oracle contract, the only setter of conditions."""
        return str(self.functions.oracle().call())
