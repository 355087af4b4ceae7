"""Typed tables of the AssetToken (ERC-721 and its own) and ShipmentEscrow events."""

from __future__ import annotations

from sqlalchemy import BigInteger, Text
from sqlmodel import Field

from ledger_service.core.mirror_models.base import ADDRESS, CLUSTERED, HASH, EventRow


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
