"""Errors of requests: access, lookups, refusals of the contracts and of bad input."""

from __future__ import annotations

from ledger_service.core.errors.base import ProvenanceError


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


class InvalidFilter(ProvenanceError, ValueError):
    """A query names a filter it does not have, a time range that ends before it starts, or asks
    for more buckets than an answer holds."""

    code = "invalid-filter"
    status = 422
    title = "Invalid filter"


class InvalidCursor(ProvenanceError, ValueError):
    """A page cursor that this service did not hand out (malformed, or for another query order)."""

    code = "invalid-cursor"
    status = 422
    title = "Invalid cursor"


class InvalidEventId(ProvenanceError, ValueError):
    """A feed position (`after`, `Last-Event-ID`) that is not an event id, `BLOCK-LOG-SUB`."""

    code = "invalid-event-id"
    status = 422
    title = "Invalid event id"


class InvalidWebhookUrl(ProvenanceError, ValueError):
    """A webhook URL with a scheme other than http(s), without a host, or whose host resolves to a
    loopback, private, link-local or otherwise non-public address (unless a setting allows it)."""

    code = "invalid-webhook-url"
    status = 422
    title = "Webhook URL refused"


class EpcisInvalid(ProvenanceError, ValueError):
    """An EPCIS document that the EPCIS 2.0 JSON schema refuses, or whose events this service
    cannot act on; `errors` lists each failure with its JSON pointer."""

    code = "epcis-invalid"
    status = 422
    title = "Invalid EPCIS document"


class TooManyStreams(ProvenanceError, PermissionError):
    """An API key holds as many open event streams as it may; one must close first."""

    code = "too-many-streams"
    status = 429
    title = "Too many open streams"
