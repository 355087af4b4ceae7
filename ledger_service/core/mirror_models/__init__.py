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

from sqlmodel import SQLModel

from ledger_service.core.mirror_models.base import (  # noqa: F401 - one import path for every table
    ADDRESS,
    CLUSTERED,
    HASH,
    ChainBlock,
    ChainTransaction,
    EventLog,
    EventRow,
    IndexState,
    table_of,
)
from ledger_service.core.mirror_models.derived import (  # noqa: F401 - one import path for every table
    AssetTokenRow,
    CustodyPeriod,
    Device,
    DeviceKey,
    Item,
    ItemDevice,
    RoleMember,
)
from ledger_service.core.mirror_models.oracle_events import (  # noqa: F401 - one import path for every table
    EvCommitteeMemberAdded,
    EvCommitteeMemberRemoved,
    EvQuorumChanged,
    EvRuleAdded,
    EvRuleDisabled,
    EvRuleFired,
)
from ledger_service.core.mirror_models.registry_events import (  # noqa: F401 - one import path for every table
    EvAnchorRecorded,
    EvBatchAnchored,
    EvDeviceKeyRotated,
    EvDeviceMetadataUpdated,
    EvDeviceOwnershipTransferred,
    EvDeviceRegistered,
    EvDeviceStatusChanged,
    EvEip712DomainChanged,
    EvRoleAdminChanged,
    EvRoleGranted,
    EvRoleRevoked,
)
from ledger_service.core.mirror_models.supply_events import (  # noqa: F401 - one import path for every table
    EvAttachmentApproved,
    EvCheckpointRecorded,
    EvConditionChanged,
    EvConditionOracleBound,
    EvDeviceAttached,
    EvDeviceDetached,
    EvItemDelivered,
    EvItemHeld,
    EvItemRecalled,
    EvItemRegistered,
    EvItemReleased,
    EvTransferAccepted,
    EvTransferCancelled,
    EvTransferProposed,
)
from ledger_service.core.mirror_models.token_events import (  # noqa: F401 - one import path for every table
    EvApproval,
    EvApprovalForAll,
    EvAssetMinted,
    EvBatchMetadataUpdate,
    EvBuyerDesignated,
    EvEscrowOpened,
    EvEscrowSettled,
    EvMetadataUpdate,
    EvTokenFrozen,
    EvTokenUnfrozen,
    EvTransfer,
    EvWithdrawn,
)

#: Typed event tables by event name.
EVENT_TABLES: dict[str, type[SQLModel]] = {
    "DeviceRegistered": EvDeviceRegistered,
    "DeviceKeyRotated": EvDeviceKeyRotated,
    "DeviceStatusChanged": EvDeviceStatusChanged,
    "DeviceOwnershipTransferred": EvDeviceOwnershipTransferred,
    "DeviceMetadataUpdated": EvDeviceMetadataUpdated,
    "BatchAnchored": EvBatchAnchored,
    "AnchorRecorded": EvAnchorRecorded,
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
