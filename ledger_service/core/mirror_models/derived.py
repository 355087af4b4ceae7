"""Derived state the indexer keeps equal to the contracts': devices and their keys, role members,
items, their devices and custody periods, asset tokens."""

from __future__ import annotations

from sqlalchemy import BigInteger, Text
from sqlmodel import Field, SQLModel

from ledger_service.core.mirror_models.base import ADDRESS, HASH


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
