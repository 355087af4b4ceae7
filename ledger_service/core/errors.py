"""Exceptions of the service. Each has a stable `code`; the API maps them to problem responses."""

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


class DeviceSuspended(ReadingRejected):
    """The device is suspended: its readings are refused until it is reactivated."""

    code = "device-suspended"
    title = "Device suspended"


class DeviceRevoked(ReadingRejected):
    """The device is revoked for good."""

    code = "device-revoked"
    title = "Device revoked"


class KeyRotated(ReadingRejected):
    """The reading is signed with a key the device no longer uses."""

    code = "key-rotated"
    title = "Signed with a rotated-out key"


class KeyNotYetValid(ReadingRejected):
    """The reading's timestamp is before its signing key became valid, so it could not verify on chain."""

    code = "key-not-yet-valid"
    title = "Timestamp before the key was valid"


class TimestampInFuture(ReadingRejected):
    """The reading's timestamp is further ahead of the service's clock than the allowed skew."""

    code = "timestamp-in-future"
    title = "Timestamp in the future"


class TimestampTooOld(ReadingRejected):
    """The reading's timestamp is further behind the service's clock than the allowed age."""

    code = "timestamp-too-old"
    title = "Timestamp too old"


class TimestampNotIncreasing(ReadingRejected):
    """The timestamp is before the device's previous accepted reading (with the same key): a
    backdated reading."""

    code = "timestamp-not-increasing"
    status = 409
    title = "Timestamp not increasing"


class DatedInSuspension(ReadingRejected):
    """The reading is dated inside a period in which its device was suspended; it would never
    verify on chain, also after the reactivation."""

    code = "dated-in-suspension"
    title = "Dated inside a suspension"


class SequenceNotIncreasing(ReadingRejected):
    """The sequence number is not above the device's last one: a replay or a reordering."""

    code = "sequence-not-increasing"
    status = 409
    title = "Sequence number not increasing"


class InvalidKey(ProvenanceError, ValueError):
    """A public key is malformed or not on its curve."""

    code = "invalid-key"
    status = 422
    title = "Invalid key"


class Unauthorized(ProvenanceError, PermissionError):
    """The request carries no valid API key."""

    code = "unauthorized"
    status = 401
    title = "API key missing or invalid"


class Forbidden(ProvenanceError, PermissionError):
    """The API key's roles do not allow the action."""

    code = "forbidden"
    status = 403
    title = "Not allowed"


class ChainRefused(ProvenanceError, ValueError):
    """The contract refused the change (its custom error is in `error`)."""

    code = "chain-refused"
    status = 409
    title = "Refused by the contract"


class RateLimited(ReadingRejected):
    """The device sends faster than its allowed rate."""

    code = "rate-limited"
    status = 429
    title = "Too many readings from this device"


class PayloadTooLarge(ProvenanceError, ValueError):
    """The request body or batch is larger than allowed."""

    code = "payload-too-large"
    status = 413
    title = "Payload too large"


class InvalidProofRequest(ProvenanceError, ValueError):
    """A multiproof was asked for readings that do not share a batch."""

    code = "readings-span-batches"
    status = 422
    title = "Readings span several batches"


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


class IndexChainChanged(ProvenanceError, RuntimeError):
    """The chain (or deployment) is not the one the SQL mirror was built from."""

    code = "index-chain-changed"
    status = 409
    title = "The mirror follows another chain"
    retryable = False


class InvalidRule(ProvenanceError, ValueError):
    """A sensor rule that the contract cannot express (no threshold, a band upside down...)."""

    code = "invalid-rule"
    status = 422
    title = "Invalid rule"


class TrustAnchorError(ProvenanceError, ValueError):
    """A trust document, manifest or pinned value cannot serve as a verifier's trust anchor."""

    code = "invalid-trust-anchor"
    status = 422
    title = "Invalid trust anchor"
    retryable = False


# Tenant isolation and ingest floods (issue 13)


class UnknownParty(ProvenanceError, LookupError):
    """A party named in a request does not exist: parties are created by admins only."""

    code = "unknown-party"
    status = 422
    title = "Unknown party"


class PartyExists(ProvenanceError, ValueError):
    """A party with this name exists already."""

    code = "party-exists"
    status = 409
    title = "Party exists"


class NotDeviceOwner(Forbidden):
    """The API key's party does not own the device on chain."""

    code = "not-device-owner"
    title = "Not the device's owner"


class OwnerNotKeyParty(Forbidden):
    """A key acting for a party may register devices owned by that party only."""

    code = "owner-not-key-party"
    title = "Owner is not the key's party"


class TooManyBadSignatures(ReadingRejected):
    """A batch held more readings with bad signatures than allowed; checking stopped, nothing was stored."""

    code = "too-many-bad-signatures"
    title = "Too many bad signatures"


class BadSignatureBudgetSpent(ProvenanceError, PermissionError):
    """This client address sent more bad signatures than its budget allows; its readings are not
    checked until the budget refills."""

    code = "bad-signature-budget-spent"
    status = 429
    title = "Too many bad signatures from this client"
