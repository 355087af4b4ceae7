"""Why a reading is refused: each refusal names its reason with a stable code."""

from __future__ import annotations

from ledger_service.core.errors.base import ProvenanceError


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


class NotAGateway(ReadingRejected):
    """A gateway root (metric `edge.root`) from a device not registered as an edge gateway."""

    code = "not-a-gateway"
    title = "Not an edge gateway"


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


class SequenceTaken(ReadingRejected):
    """A late reading (below the device's last sequence, accepted with `accept_late_readings`) whose
    sequence another reading of the device and key already holds."""

    code = "sequence-taken"
    status = 409
    title = "Sequence number already used"


class RateLimited(ReadingRejected):
    """The device sends faster than its allowed rate."""

    code = "rate-limited"
    status = 429
    title = "Too many readings from this device"


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


class InvalidKey(ProvenanceError, ValueError):
    """A public key is malformed or not on its curve."""

    code = "invalid-key"
    status = 422
    title = "Invalid key"
