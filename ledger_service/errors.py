"""Exceptions of the service. Each has a stable `code`; the API maps them to problem responses."""

from __future__ import annotations

from typing import Any


class ProvenanceError(Exception):
    """Root of every error the service raises on purpose."""

    code = "provenance-error"
    status = 500
    title = "Internal error"

    def __init__(self, detail: str, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.context = context


class ConfigurationError(ProvenanceError, ValueError):
    """The settings or the environment cannot work."""

    code = "configuration-error"
    title = "Configuration error"


class ToolchainError(ProvenanceError, RuntimeError):
    """A compiler or node tool is missing or failed."""

    code = "toolchain-error"
    title = "Toolchain error"


class ChainError(ProvenanceError, RuntimeError):
    """The chain did not answer or refused a call."""

    code = "chain-error"
    status = 502
    title = "Chain unavailable"


class TransactionReverted(ChainError):
    """A transaction was mined but reverted."""

    code = "transaction-reverted"
    title = "Transaction reverted"


class DeploymentError(ProvenanceError, RuntimeError):
    """Contracts could not be deployed or the manifest does not match the chain."""

    code = "deployment-error"
    title = "Deployment error"


class ReadingRejected(ProvenanceError, ValueError):
    """A reading was refused; nothing was stored."""

    code = "reading-rejected"
    status = 422
    title = "Reading rejected"


class InvalidSignature(ReadingRejected):
    """The signature does not recover to the device's registered key."""

    code = "invalid-signature"
    title = "Invalid signature"


class UnknownDevice(ReadingRejected):
    """The reading names a device that is not registered."""

    code = "unknown-device"
    title = "Unknown device"


class SequenceConflict(ReadingRejected):
    """Another reading with the same device and sequence number is already stored."""

    code = "sequence-conflict"
    status = 409
    title = "Sequence number already used"


class NotFound(ProvenanceError, LookupError):
    """The thing asked for does not exist."""

    code = "not-found"
    status = 404
    title = "Not found"


class NotYetAnchored(ProvenanceError, LookupError):
    """The reading is stored but its batch is not anchored yet, so there is no proof."""

    code = "not-yet-anchored"
    status = 409
    title = "Not anchored yet"
