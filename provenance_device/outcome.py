"""What a transport reports for each reading it sent, and the ways sending can fail."""

from __future__ import annotations

from dataclasses import dataclass

#: The service holds the reading (committed): it leaves the outbox.
CONFIRMED = frozenset({"stored", "duplicate", "accepted"})
#: Refusals that may pass later (a registry not yet synced, a suspension lifted, a clock behind): kept queued.
RETRYABLE_CODES = frozenset(
    {"unknown-device", "device-suspended", "timestamp-in-future", "rate-limited", "registry-stale"}
)


@dataclass(frozen=True)
class Outcome:
    """The answer for one reading: `stored`, `duplicate`, `accepted` (by the broker) or `refused`."""

    sequence: int
    status: str
    code: str | None = None
    detail: str | None = None
    id: str | None = None  # the reading's id (its leaf hash) as the service states it


class TransportError(Exception):
    """Nothing was confirmed (link down, service busy or restarting): try again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(TransportError):
    """The batch was too large for the service: send fewer readings at once."""


class SplitBatch(TransportError):
    """The service refused the batch as a whole for what some of its readings are: send halves."""
