"""Typed tables of the SupplyChain events."""

from __future__ import annotations

from sqlalchemy import BigInteger, Text
from sqlmodel import Field

from ledger_service.core.mirror_models.base import ADDRESS, CLUSTERED, HASH, EventRow


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
