"""Exceptions of the service. Each has a stable `code`; the API maps them to problem responses
(`ledger_service.app.api.problems`), the CLI to a message and a non-zero exit.

`base`: the root and the service's own setup and chain; `readings`: why a reading is refused;
`requests`: access, lookups, bad input and the contracts' refusals.
"""

from __future__ import annotations

from ledger_service.core.errors.base import (
    ChainError,
    ConfigurationError,
    DeploymentError,
    IndexChainChanged,
    ProvenanceError,
    ToolchainError,
    TransactionReverted,
)
from ledger_service.core.errors.readings import (
    BadSignatureBudgetSpent,
    DatedInSuspension,
    DeviceRevoked,
    DeviceSuspended,
    InvalidKey,
    InvalidSignature,
    KeyNotYetValid,
    KeyRotated,
    RateLimited,
    ReadingRejected,
    SequenceNotIncreasing,
    TimestampInFuture,
    TimestampNotIncreasing,
    TimestampTooOld,
    TooManyBadSignatures,
    UnknownDevice,
)
from ledger_service.core.errors.requests import (
    ChainRefused,
    Forbidden,
    InvalidCursor,
    InvalidFilter,
    InvalidProofRequest,
    InvalidRule,
    NotDeviceOwner,
    NotFound,
    NotYetAnchored,
    OwnerNotKeyParty,
    PartyExists,
    PayloadTooLarge,
    TrustAnchorError,
    Unauthorized,
    UnknownParty,
)

__all__ = [
    "BadSignatureBudgetSpent",
    "ChainError",
    "ChainRefused",
    "ConfigurationError",
    "DatedInSuspension",
    "DeploymentError",
    "DeviceRevoked",
    "DeviceSuspended",
    "Forbidden",
    "IndexChainChanged",
    "InvalidKey",
    "InvalidCursor",
    "InvalidFilter",
    "InvalidProofRequest",
    "InvalidRule",
    "InvalidSignature",
    "KeyNotYetValid",
    "KeyRotated",
    "NotDeviceOwner",
    "NotFound",
    "NotYetAnchored",
    "OwnerNotKeyParty",
    "PartyExists",
    "PayloadTooLarge",
    "ProvenanceError",
    "RateLimited",
    "ReadingRejected",
    "SequenceNotIncreasing",
    "TimestampInFuture",
    "TimestampNotIncreasing",
    "TimestampTooOld",
    "TooManyBadSignatures",
    "ToolchainError",
    "TransactionReverted",
    "TrustAnchorError",
    "Unauthorized",
    "UnknownDevice",
    "UnknownParty",
]
