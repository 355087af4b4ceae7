"""Tables of the SQL mirror (SQLModel).

Three layers, all stamped with the block that produced them so that a reorg rolls them back:
- the chain itself: `chain_block`, `chain_transaction`, and `event_log` (every log of a project
  contract, raw, so the layers above can be rebuilt without the chain);
- one typed table per project event (`ev_*`), its parameters flattened into columns named as
  `indexer.abi.flatten_event` names them;
- derived state that matches the contracts: `device`, `device_key`, `role_member`, and the view
  `anchored_batch` (anchors never change, so a view over `ev_batch_anchored` is exact).

`index_state` holds the checkpoint: the chain it follows and the last block written, committed in
the same transaction as that block's data.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, LargeBinary, Table, Text
from sqlmodel import Field, SQLModel

HASH = 66
ADDRESS = 42


class IndexState(SQLModel, table=True):
    """The checkpoint of one indexer: which chain and deployment it mirrors, and how far."""

    __tablename__ = "index_state"

    id: str = Field(primary_key=True, max_length=32)
    chain_id: int = Field(sa_type=BigInteger)
    genesis_hash: str = Field(max_length=HASH)
    contracts: str = Field(sa_type=Text, description="JSON: contract name -> address")
    start_block: int = Field(sa_type=BigInteger)
    transactions: str = Field(default="all", max_length=16, description="all, or project (only those with events)")
    head_number: int | None = Field(default=None, sa_type=BigInteger)
    head_hash: str | None = Field(default=None, max_length=HASH)
    chain_head: int | None = Field(default=None, sa_type=BigInteger, description="Chain head last seen")
    confirmed_through: int = Field(default=-1, sa_type=BigInteger, description="Deepest block deemed confirmed")
    events_per_second: float = 0.0
    blocks_per_second: float = 0.0
    reorgs: int = 0
    updated_at: float = 0.0


class ChainBlock(SQLModel, table=True):
    """A block of the indexed range."""

    __tablename__ = "chain_block"

    number: int = Field(primary_key=True, sa_type=BigInteger)
    hash: str = Field(max_length=HASH, unique=True)
    parent_hash: str = Field(max_length=HASH)
    timestamp: int = Field(sa_type=BigInteger)
    miner: str = Field(max_length=ADDRESS)
    gas_used: int = Field(sa_type=BigInteger)
    gas_limit: int = Field(sa_type=BigInteger)
    base_fee_per_gas: str | None = Field(default=None, max_length=80)
    transaction_count: int


class ChainTransaction(SQLModel, table=True):
    """A transaction of an indexed block, with what its receipt says."""

    __tablename__ = "chain_transaction"

    hash: str = Field(primary_key=True, max_length=HASH)
    block_number: int = Field(sa_type=BigInteger, index=True)
    transaction_index: int
    from_address: str = Field(max_length=ADDRESS, index=True)
    to_address: str | None = Field(default=None, max_length=ADDRESS, index=True)
    contract_address: str | None = Field(default=None, max_length=ADDRESS)
    value: str = Field(max_length=80, description="wei, decimal")
    nonce: int = Field(sa_type=BigInteger)
    gas: int = Field(sa_type=BigInteger)
    gas_price: str = Field(max_length=80, description="effective gas price, wei, decimal")
    gas_used: int = Field(sa_type=BigInteger)
    status: int
    input: bytes = Field(sa_type=LargeBinary)
    revert_data: bytes | None = Field(
        default=None, sa_type=LargeBinary, description="A failed transaction's revert data, from its replay"
    )


#: Tables keyed by (block_number, log_index) are clustered on that key in SQLite: one B-tree per
#: table instead of a rowid table plus a key index, which halves the work of bulk inserts.
CLUSTERED = {"sqlite_with_rowid": False}


class EventLog(SQLModel, table=True):
    """A log of a project contract, as the chain gave it."""

    __tablename__ = "event_log"
    __table_args__ = CLUSTERED

    block_number: int = Field(primary_key=True, sa_type=BigInteger)
    log_index: int = Field(primary_key=True)
    transaction_hash: str = Field(max_length=HASH)
    transaction_index: int  # a transaction's logs are found through (block_number, transaction_index)
    address: str = Field(max_length=ADDRESS)
    event: str | None = Field(default=None, max_length=100, description="Decoded event name; null if unknown")
    topic0: str | None = Field(default=None, max_length=HASH)
    topic1: str | None = Field(default=None, max_length=HASH)
    topic2: str | None = Field(default=None, max_length=HASH)
    topic3: str | None = Field(default=None, max_length=HASH)
    data: bytes = Field(sa_type=LargeBinary)


class EventRow(SQLModel):
    """Columns every typed event table starts with."""

    block_number: int = Field(primary_key=True, sa_type=BigInteger)
    log_index: int = Field(primary_key=True)
    transaction_hash: str = Field(max_length=HASH)
    address: str = Field(max_length=ADDRESS)


class EvDeviceRegistered(EventRow, table=True):
    """DeviceRegistry.DeviceRegistered."""

    __tablename__ = "ev_device_registered"
    __table_args__ = CLUSTERED

    device_id: str = Field(max_length=HASH, index=True)
    owner: str = Field(max_length=ADDRESS)
    registrar: str = Field(max_length=ADDRESS)
    key_type: int
    signer: str = Field(max_length=ADDRESS)
    x: str = Field(max_length=HASH)
    y: str = Field(max_length=HASH)
    model: str = Field(sa_type=Text)
    firmware_hash: str = Field(max_length=HASH)
    metadata_cid: str = Field(sa_type=Text)


class EvDeviceKeyRotated(EventRow, table=True):
    """DeviceRegistry.DeviceKeyRotated."""

    __tablename__ = "ev_device_key_rotated"
    __table_args__ = CLUSTERED

    device_id: str = Field(max_length=HASH, index=True)
    key_index: int = Field(sa_type=BigInteger)
    key_type: int
    signer: str = Field(max_length=ADDRESS)
    x: str = Field(max_length=HASH)
    y: str = Field(max_length=HASH)


class EvDeviceStatusChanged(EventRow, table=True):
    """DeviceRegistry.DeviceStatusChanged."""

    __tablename__ = "ev_device_status_changed"
    __table_args__ = CLUSTERED

    device_id: str = Field(max_length=HASH, index=True)
    previous_status: int
    new_status: int


class EvDeviceOwnershipTransferred(EventRow, table=True):
    """DeviceRegistry.DeviceOwnershipTransferred."""

    __tablename__ = "ev_device_ownership_transferred"
    __table_args__ = CLUSTERED

    device_id: str = Field(max_length=HASH, index=True)
    previous_owner: str = Field(max_length=ADDRESS)
    new_owner: str = Field(max_length=ADDRESS)


class EvDeviceMetadataUpdated(EventRow, table=True):
    """DeviceRegistry.DeviceMetadataUpdated."""

    __tablename__ = "ev_device_metadata_updated"
    __table_args__ = CLUSTERED

    device_id: str = Field(max_length=HASH, index=True)
    model: str = Field(sa_type=Text)
    firmware_hash: str = Field(max_length=HASH)
    metadata_cid: str = Field(sa_type=Text)


class EvBatchAnchored(EventRow, table=True):
    """DataNotary.BatchAnchored."""

    __tablename__ = "ev_batch_anchored"
    __table_args__ = CLUSTERED

    batch_id: int = Field(sa_type=BigInteger)
    root: str = Field(max_length=HASH, index=True)
    anchorer: str = Field(max_length=ADDRESS)
    reading_count: int = Field(sa_type=BigInteger)
    first_timestamp: int = Field(sa_type=BigInteger)
    last_timestamp: int = Field(sa_type=BigInteger)
    content_id: str = Field(sa_type=Text)


class EvRoleGranted(EventRow, table=True):
    """AccessControl.RoleGranted, from any project contract."""

    __tablename__ = "ev_role_granted"
    __table_args__ = CLUSTERED

    role: str = Field(max_length=HASH)
    account: str = Field(max_length=ADDRESS)
    sender: str = Field(max_length=ADDRESS)


class EvRoleRevoked(EventRow, table=True):
    """AccessControl.RoleRevoked, from any project contract."""

    __tablename__ = "ev_role_revoked"
    __table_args__ = CLUSTERED

    role: str = Field(max_length=HASH)
    account: str = Field(max_length=ADDRESS)
    sender: str = Field(max_length=ADDRESS)


class EvRoleAdminChanged(EventRow, table=True):
    """AccessControl.RoleAdminChanged, from any project contract."""

    __tablename__ = "ev_role_admin_changed"
    __table_args__ = CLUSTERED

    role: str = Field(max_length=HASH)
    previous_admin_role: str = Field(max_length=HASH)
    new_admin_role: str = Field(max_length=HASH)


class EvEip712DomainChanged(EventRow, table=True):
    """ERC-5267 EIP712DomainChanged (no parameters)."""

    __tablename__ = "ev_eip712_domain_changed"
    __table_args__ = CLUSTERED


class EvItemRegistered(EventRow, table=True):
    """SupplyChain.ItemRegistered."""

    __tablename__ = "ev_item_registered"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    manufacturer: str = Field(max_length=ADDRESS)
    custodian: str = Field(max_length=ADDRESS)
    content_hash: str = Field(max_length=HASH)
    metadata_cid: str = Field(sa_type=Text)


class EvDeviceAttached(EventRow, table=True):
    """SupplyChain.DeviceAttached."""

    __tablename__ = "ev_device_attached"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    device_id: str = Field(max_length=HASH)
    actor: str = Field(max_length=ADDRESS)


class EvDeviceDetached(EventRow, table=True):
    """SupplyChain.DeviceDetached."""

    __tablename__ = "ev_device_detached"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    device_id: str = Field(max_length=HASH)
    actor: str = Field(max_length=ADDRESS)


class EvAttachmentApproved(EventRow, table=True):
    """SupplyChain.AttachmentApproved."""

    __tablename__ = "ev_attachment_approved"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    device_id: str = Field(max_length=HASH)
    owner: str = Field(max_length=ADDRESS)
    approved: bool


class EvConditionOracleBound(EventRow, table=True):
    """SupplyChain.ConditionOracleBound."""

    __tablename__ = "ev_condition_oracle_bound"
    __table_args__ = CLUSTERED

    oracle: str = Field(max_length=ADDRESS)


class EvTransferProposed(EventRow, table=True):
    """SupplyChain.TransferProposed."""

    __tablename__ = "ev_transfer_proposed"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    transfer_id: int = Field(sa_type=BigInteger)
    custodian: str = Field(max_length=ADDRESS)
    receiver: str = Field(max_length=ADDRESS)
    latitude_e6: int
    longitude_e6: int
    site: str = Field(max_length=HASH)
    expires_at: int = Field(sa_type=BigInteger)


class EvTransferAccepted(EventRow, table=True):
    """SupplyChain.TransferAccepted."""

    __tablename__ = "ev_transfer_accepted"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    transfer_id: int = Field(sa_type=BigInteger)
    previous_custodian: str = Field(max_length=ADDRESS)
    new_custodian: str = Field(max_length=ADDRESS)
    latitude_e6: int
    longitude_e6: int
    site: str = Field(max_length=HASH)


class EvTransferCancelled(EventRow, table=True):
    """SupplyChain.TransferCancelled."""

    __tablename__ = "ev_transfer_cancelled"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    transfer_id: int = Field(sa_type=BigInteger)
    actor: str = Field(max_length=ADDRESS)


class EvCheckpointRecorded(EventRow, table=True):
    """SupplyChain.CheckpointRecorded."""

    __tablename__ = "ev_checkpoint_recorded"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    recorder: str = Field(max_length=ADDRESS)
    status_code: int
    latitude_e6: int
    longitude_e6: int
    site: str = Field(max_length=HASH)
    evidence_root: str = Field(max_length=HASH)
    evidence_leaf: str = Field(max_length=HASH)


class EvConditionChanged(EventRow, table=True):
    """SupplyChain.ConditionChanged."""

    __tablename__ = "ev_condition_changed"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    previous_condition: int
    new_condition: int
    reporter: str = Field(max_length=ADDRESS)
    evidence_root: str = Field(max_length=HASH)
    evidence_leaf: str = Field(max_length=HASH)


class EvItemHeld(EventRow, table=True):
    """SupplyChain.ItemHeld."""

    __tablename__ = "ev_item_held"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    actor: str = Field(max_length=ADDRESS)


class EvItemReleased(EventRow, table=True):
    """SupplyChain.ItemReleased."""

    __tablename__ = "ev_item_released"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    actor: str = Field(max_length=ADDRESS)


class EvItemRecalled(EventRow, table=True):
    """SupplyChain.ItemRecalled."""

    __tablename__ = "ev_item_recalled"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    actor: str = Field(max_length=ADDRESS)
    reason: str = Field(sa_type=Text)


class EvItemDelivered(EventRow, table=True):
    """SupplyChain.ItemDelivered."""

    __tablename__ = "ev_item_delivered"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    custodian: str = Field(max_length=ADDRESS)
    latitude_e6: int
    longitude_e6: int
    site: str = Field(max_length=HASH)


class EvTransfer(EventRow, table=True):
    """ERC-721 Transfer of AssetToken (token ids as decimal text)."""

    __tablename__ = "ev_transfer"
    __table_args__ = CLUSTERED

    from_address: str = Field(max_length=ADDRESS)
    to_address: str = Field(max_length=ADDRESS, index=True)
    token_id: str = Field(max_length=80, index=True)


class EvApproval(EventRow, table=True):
    """ERC-721 Approval."""

    __tablename__ = "ev_approval"
    __table_args__ = CLUSTERED

    owner: str = Field(max_length=ADDRESS)
    approved: str = Field(max_length=ADDRESS)
    token_id: str = Field(max_length=80)


class EvApprovalForAll(EventRow, table=True):
    """ERC-721 ApprovalForAll."""

    __tablename__ = "ev_approval_for_all"
    __table_args__ = CLUSTERED

    owner: str = Field(max_length=ADDRESS)
    operator: str = Field(max_length=ADDRESS)
    approved: bool


class EvMetadataUpdate(EventRow, table=True):
    """ERC-4906 MetadataUpdate."""

    __tablename__ = "ev_metadata_update"
    __table_args__ = CLUSTERED

    token_id: str = Field(max_length=80)


class EvBatchMetadataUpdate(EventRow, table=True):
    """ERC-4906 BatchMetadataUpdate."""

    __tablename__ = "ev_batch_metadata_update"
    __table_args__ = CLUSTERED

    from_token_id: str = Field(max_length=80)
    to_token_id: str = Field(max_length=80)


class EvAssetMinted(EventRow, table=True):
    """AssetToken.AssetMinted."""

    __tablename__ = "ev_asset_minted"
    __table_args__ = CLUSTERED

    token_id: str = Field(max_length=80)
    item_id: str = Field(max_length=HASH, index=True)
    owner: str = Field(max_length=ADDRESS)
    uri: str = Field(sa_type=Text)


class EvTokenFrozen(EventRow, table=True):
    """AssetToken.TokenFrozen."""

    __tablename__ = "ev_token_frozen"
    __table_args__ = CLUSTERED

    token_id: str = Field(max_length=80, index=True)
    actor: str = Field(max_length=ADDRESS)
    reason: str = Field(max_length=HASH)


class EvTokenUnfrozen(EventRow, table=True):
    """AssetToken.TokenUnfrozen."""

    __tablename__ = "ev_token_unfrozen"
    __table_args__ = CLUSTERED

    token_id: str = Field(max_length=80, index=True)
    actor: str = Field(max_length=ADDRESS)


class EvEscrowOpened(EventRow, table=True):
    """ShipmentEscrow.EscrowOpened."""

    __tablename__ = "ev_escrow_opened"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    buyer: str = Field(max_length=ADDRESS)
    seller: str = Field(max_length=ADDRESS)
    amount: str = Field(max_length=80)
    deadline: int = Field(sa_type=BigInteger)
    rule_ids: str = Field(sa_type=Text, description="JSON list of the rule ids protecting the escrow")


class EvBuyerDesignated(EventRow, table=True):
    """ShipmentEscrow.BuyerDesignated."""

    __tablename__ = "ev_buyer_designated"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    seller: str = Field(max_length=ADDRESS)
    buyer: str = Field(max_length=ADDRESS)


class EvEscrowSettled(EventRow, table=True):
    """ShipmentEscrow.EscrowSettled."""

    __tablename__ = "ev_escrow_settled"
    __table_args__ = CLUSTERED

    item_id: str = Field(max_length=HASH, index=True)
    payee: str = Field(max_length=ADDRESS)
    outcome: int
    amount: str = Field(max_length=80)
    settled_by: str = Field(max_length=ADDRESS)


class EvWithdrawn(EventRow, table=True):
    """ShipmentEscrow.Withdrawn."""

    __tablename__ = "ev_withdrawn"
    __table_args__ = CLUSTERED

    account: str = Field(max_length=ADDRESS, index=True)
    amount: str = Field(max_length=80)


class EvRuleAdded(EventRow, table=True):
    """SensorOracle.RuleAdded."""

    __tablename__ = "ev_rule_added"
    __table_args__ = CLUSTERED

    rule_id: str = Field(max_length=80, index=True)
    manager: str = Field(max_length=ADDRESS)
    item_id: str = Field(max_length=HASH, index=True)
    device_id: str = Field(max_length=HASH)
    metric: str = Field(sa_type=Text)
    unit: str = Field(sa_type=Text)
    kind: int
    comparison: int
    lower: str = Field(max_length=80)
    upper: str = Field(max_length=80)
    scale: int
    min_readings: int = Field(sa_type=BigInteger)
    min_duration: int = Field(sa_type=BigInteger)
    actions: int


class EvRuleDisabled(EventRow, table=True):
    """SensorOracle.RuleDisabled."""

    __tablename__ = "ev_rule_disabled"
    __table_args__ = CLUSTERED

    rule_id: str = Field(max_length=80, index=True)
    actor: str = Field(max_length=ADDRESS)


class EvRuleFired(EventRow, table=True):
    """SensorOracle.RuleFired."""

    __tablename__ = "ev_rule_fired"
    __table_args__ = CLUSTERED

    rule_id: str = Field(max_length=80, index=True)
    item_id: str = Field(max_length=HASH, index=True)
    device_id: str = Field(max_length=HASH)
    report_id: str = Field(max_length=HASH)
    path: int
    value: str = Field(max_length=80)
    observed_at: int = Field(sa_type=BigInteger)
    actions: int
    evidence_root: str = Field(max_length=HASH)
    submitter: str = Field(max_length=ADDRESS)


class EvCommitteeMemberAdded(EventRow, table=True):
    """SensorOracle.CommitteeMemberAdded."""

    __tablename__ = "ev_committee_member_added"
    __table_args__ = CLUSTERED

    signer: str = Field(max_length=ADDRESS)
    position: str = Field(max_length=80)
    bls_key: str = Field(sa_type=Text)
    config_version: int = Field(sa_type=BigInteger)


class EvCommitteeMemberRemoved(EventRow, table=True):
    """SensorOracle.CommitteeMemberRemoved."""

    __tablename__ = "ev_committee_member_removed"
    __table_args__ = CLUSTERED

    signer: str = Field(max_length=ADDRESS)
    config_version: int = Field(sa_type=BigInteger)


class EvQuorumChanged(EventRow, table=True):
    """SensorOracle.QuorumChanged."""

    __tablename__ = "ev_quorum_changed"
    __table_args__ = CLUSTERED

    quorum: int
    config_version: int = Field(sa_type=BigInteger)


class Item(SQLModel, table=True):
    """An item as `SupplyChain` holds it now."""

    __tablename__ = "item"

    item_id: str = Field(primary_key=True, max_length=HASH)
    manufacturer: str = Field(max_length=ADDRESS, index=True)
    custodian: str = Field(max_length=ADDRESS, index=True)
    status: str = Field(max_length=16, index=True, description="active, delivered or recalled")
    condition: str = Field(max_length=20, description="compliant or out_of_compliance")
    held: bool
    content_hash: str = Field(max_length=HASH)
    metadata_cid: str = Field(sa_type=Text)
    transfer_count: int
    pending_transfer_id: int | None = None
    pending_receiver: str | None = Field(default=None, max_length=ADDRESS)
    pending_expires_at: int | None = Field(default=None, sa_type=BigInteger)
    registered_block: int = Field(sa_type=BigInteger)
    registered_at: int = Field(sa_type=BigInteger)
    updated_block: int = Field(sa_type=BigInteger)


class ItemDevice(SQLModel, table=True):
    """A sensor device attached to an item now."""

    __tablename__ = "item_device"

    item_id: str = Field(primary_key=True, max_length=HASH)
    device_id: str = Field(primary_key=True, max_length=HASH, index=True)
    attached_block: int = Field(sa_type=BigInteger)


class CustodyPeriod(SQLModel, table=True):
    """A span of time an account held an item (open while `until_block` is null)."""

    __tablename__ = "custody_period"

    item_id: str = Field(primary_key=True, max_length=HASH)
    sequence: int = Field(primary_key=True, description="0 for the first custodian, then one per handover")
    custodian: str = Field(max_length=ADDRESS, index=True)
    from_block: int = Field(sa_type=BigInteger)
    from_time: int = Field(sa_type=BigInteger)
    until_block: int | None = Field(default=None, sa_type=BigInteger)
    until_time: int | None = Field(default=None, sa_type=BigInteger)


class AssetTokenRow(SQLModel, table=True):
    """An asset token now: its item, owner and metadata URI."""

    __tablename__ = "asset_token"

    token_id: str = Field(primary_key=True, max_length=80, description="decimal")
    item_id: str = Field(max_length=HASH, index=True)
    owner: str = Field(max_length=ADDRESS, index=True)
    uri: str = Field(sa_type=Text)
    minted_block: int = Field(sa_type=BigInteger)
    transfers: int


class Device(SQLModel, table=True):
    """A device as `DeviceRegistry` holds it now."""

    __tablename__ = "device"

    device_id: str = Field(primary_key=True, max_length=HASH)
    owner: str = Field(max_length=ADDRESS, index=True)
    registrar: str = Field(max_length=ADDRESS)
    status: str = Field(max_length=16, index=True, description="active, suspended or revoked")
    key_index: int
    key_type: int
    signer: str = Field(max_length=ADDRESS)
    x: str = Field(max_length=HASH)
    y: str = Field(max_length=HASH)
    model: str = Field(sa_type=Text)
    firmware_hash: str = Field(max_length=HASH)
    metadata_cid: str = Field(sa_type=Text)
    registered_block: int = Field(sa_type=BigInteger)
    registered_at: int = Field(sa_type=BigInteger)
    updated_block: int = Field(sa_type=BigInteger)


class DeviceKey(SQLModel, table=True):
    """A key in a device's history, with the blocks and times it was valid in."""

    __tablename__ = "device_key"

    device_id: str = Field(primary_key=True, max_length=HASH)
    key_index: int = Field(primary_key=True)
    key_type: int
    signer: str = Field(max_length=ADDRESS)
    x: str = Field(max_length=HASH)
    y: str = Field(max_length=HASH)
    valid_from_block: int = Field(sa_type=BigInteger)
    valid_from: int = Field(sa_type=BigInteger)
    valid_until_block: int | None = Field(default=None, sa_type=BigInteger)
    valid_until: int | None = Field(default=None, sa_type=BigInteger)


class RoleMember(SQLModel, table=True):
    """An account holding a role in a project contract now."""

    __tablename__ = "role_member"

    contract: str = Field(primary_key=True, max_length=ADDRESS)
    role: str = Field(primary_key=True, max_length=HASH)
    account: str = Field(primary_key=True, max_length=ADDRESS, index=True)
    granted_block: int = Field(sa_type=BigInteger)
    granted_by: str = Field(max_length=ADDRESS)


#: Typed event tables by event name.
EVENT_TABLES: dict[str, type[SQLModel]] = {
    "DeviceRegistered": EvDeviceRegistered,
    "DeviceKeyRotated": EvDeviceKeyRotated,
    "DeviceStatusChanged": EvDeviceStatusChanged,
    "DeviceOwnershipTransferred": EvDeviceOwnershipTransferred,
    "DeviceMetadataUpdated": EvDeviceMetadataUpdated,
    "BatchAnchored": EvBatchAnchored,
    "RoleGranted": EvRoleGranted,
    "RoleRevoked": EvRoleRevoked,
    "RoleAdminChanged": EvRoleAdminChanged,
    "EIP712DomainChanged": EvEip712DomainChanged,
    "ItemRegistered": EvItemRegistered,
    "DeviceAttached": EvDeviceAttached,
    "DeviceDetached": EvDeviceDetached,
    "AttachmentApproved": EvAttachmentApproved,
    "ConditionOracleBound": EvConditionOracleBound,
    "TransferProposed": EvTransferProposed,
    "TransferAccepted": EvTransferAccepted,
    "TransferCancelled": EvTransferCancelled,
    "CheckpointRecorded": EvCheckpointRecorded,
    "ConditionChanged": EvConditionChanged,
    "ItemHeld": EvItemHeld,
    "ItemReleased": EvItemReleased,
    "ItemRecalled": EvItemRecalled,
    "ItemDelivered": EvItemDelivered,
    "Transfer": EvTransfer,
    "Approval": EvApproval,
    "ApprovalForAll": EvApprovalForAll,
    "MetadataUpdate": EvMetadataUpdate,
    "BatchMetadataUpdate": EvBatchMetadataUpdate,
    "AssetMinted": EvAssetMinted,
    "TokenFrozen": EvTokenFrozen,
    "TokenUnfrozen": EvTokenUnfrozen,
    "EscrowOpened": EvEscrowOpened,
    "BuyerDesignated": EvBuyerDesignated,
    "EscrowSettled": EvEscrowSettled,
    "Withdrawn": EvWithdrawn,
    "RuleAdded": EvRuleAdded,
    "RuleDisabled": EvRuleDisabled,
    "RuleFired": EvRuleFired,
    "CommitteeMemberAdded": EvCommitteeMemberAdded,
    "CommitteeMemberRemoved": EvCommitteeMemberRemoved,
    "QuorumChanged": EvQuorumChanged,
}

#: Tables whose rows belong to one block (column `block_number`, or `number` for blocks).
BLOCK_TABLES: tuple[type[SQLModel], ...] = (
    ChainBlock,
    ChainTransaction,
    EventLog,
    *EVENT_TABLES.values(),
)
#: Derived tables rebuilt from the typed events.
DERIVED_TABLES: tuple[type[SQLModel], ...] = (
    Device, DeviceKey, RoleMember, Item, ItemDevice, CustodyPeriod, AssetTokenRow,
)  # fmt: skip


def table_of(model: type[SQLModel]) -> Table:
    """The SQLAlchemy table of a table model."""
    found: Table = model.__table__  # type: ignore[attr-defined]
    return found
