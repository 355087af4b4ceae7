"""Typed tables of the DeviceRegistry and DataNotary events and of the AccessControl and EIP-712
events every project contract emits."""

from __future__ import annotations

from sqlalchemy import BigInteger, Text
from sqlmodel import Field

from ledger_service.core.mirror_models.base import ADDRESS, CLUSTERED, HASH, EventRow


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


class EvAnchorRecorded(EventRow, table=True):
    """DataNotary.AnchorRecorded: a batch recorded for on-chain checks."""

    __tablename__ = "ev_anchor_recorded"
    __table_args__ = CLUSTERED

    batch_id: int = Field(sa_type=BigInteger)
    root: str = Field(max_length=HASH, index=True)


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
