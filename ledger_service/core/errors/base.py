"""The root error and the errors of the service's own setup and of the chain."""

from __future__ import annotations

from typing import Any

from ledger_service.core.redact import redact, redact_value


class ProvenanceError(Exception):
    """Root of every error the service raises on purpose. Its detail and context are redacted
    when it is made (`ledger_service.core.redact`): no RPC URL or credential travels in one."""

    code = "provenance-error"
    status = 500
    title = "Internal error"
    #: Whether a long-running loop should try again after this error (`ledger_service.core.loops`):
    #: false for what only an operator can fix (settings, toolchain, another chain than the mirror's).
    retryable = True

    def __init__(self, detail: str, **context: Any) -> None:
        detail = redact(detail)
        super().__init__(detail)
        self.detail = detail
        self.context = {k: redact_value(v) for k, v in context.items()}


class ConfigurationError(ProvenanceError, ValueError):
    """The settings or the environment cannot work."""

    code = "configuration-error"
    title = "Configuration error"
    retryable = False


class ToolchainError(ProvenanceError, RuntimeError):
    """A compiler or node tool is missing or failed."""

    code = "toolchain-error"
    title = "Toolchain error"
    retryable = False


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
    retryable = False


class IndexChainChanged(ProvenanceError, RuntimeError):
    """The chain (or deployment) is not the one the SQL mirror was built from."""

    code = "index-chain-changed"
    status = 409
    title = "The mirror follows another chain"
    retryable = False


class SealingRaced(ProvenanceError, RuntimeError):
    """Another batcher sealed some of the readings this one was sealing: its batch keeps them, and
    this one's is rolled back and sealed again from what is left."""

    code = "sealing-raced"
    status = 409
    title = "Sealing raced another batcher"


class SendingPaused(ChainError):
    """The transaction manager holds a transaction back: the hour's gas budget is spent, or the
    sender's balance is under the minimum. Loops retry; nothing is sent until it clears."""

    code = "sending-paused"
    status = 503
    title = "Sending paused"
