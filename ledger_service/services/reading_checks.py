"""The checks a signed reading passes before it is stored, none of which needs the database.

In order, each with its own error: timestamp neither too far ahead of the service's clock nor
older than the allowed age; device known, not suspended, not revoked; signature by the device's
current key (a signature by an earlier key is `key-rotated`); timestamp not before that key became
valid and not inside one of the device's suspension periods. The checks against the device's
stored cursor (sequence and time order) follow when storing: `reading_store`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from ledger_service.core.device_state import DeviceRecord, KeyRecord
from ledger_service.core.enums import DeviceStatus
from ledger_service.core.errors import (
    DatedInSuspension,
    DeviceRevoked,
    DeviceSuspended,
    InvalidSignature,
    KeyNotYetValid,
    KeyRotated,
    NotAGateway,
    ReadingRejected,
    TimestampInFuture,
    TimestampTooOld,
    UnknownDevice,
)
from ledger_service.core.readings import GATEWAY_MODEL, GATEWAY_ROOT_METRIC, Domain, Reading, reading_leaf
from ledger_service.services.registry import RegistryCache
from ledger_service.services.sigcheck import Job, KeyTuple, SignaturePool, key_tuple, too_many_bad_signatures

#: True while an HTTP request is served (set by the API): a request thread never waits for the
#: registry's next sync slot (the route waits on the event loop instead). Other callers (MQTT, the
#: CLI, demos) wait for it, so a device registered a moment ago is found.
ON_REQUEST_THREAD: ContextVar[bool] = ContextVar("on_request_thread", default=False)

#: Batches at least this large have their signatures checked in the worker processes, if any.
POOL_THRESHOLD = 256


@dataclass
class TimePolicy:
    """What the service accepts of a reading's time, shared by the checks and the store."""

    max_clock_skew: float = 300.0
    max_reading_age: float = 86_400.0
    strict_time_order: bool = False
    clock: Callable[[], float] = field(default=time.time)
    #: Accept a reading below the device's last sequence when no other reading holds its sequence
    #: (arrival out of order: an edge gateway's backlog after readings sent directly).
    accept_late: bool = False


@dataclass(frozen=True)
class VerifiedReading:
    """A reading whose signature checked out, with what the check established."""

    reading: Reading
    signature: bytes
    digest: bytes
    signer: str
    leaf: bytes
    key_index: int


def key_label(record: KeyRecord) -> str:
    """How a stored reading names the key that signed it: the address, or p256:x."""
    key = record.key
    return key.signer if key.signer else f"p256:0x{key.x:064x}"


class ReadingChecks:
    """Checks signed readings against the registry and the service's clock."""

    def __init__(self, domain: Domain, registry: RegistryCache, policy: TimePolicy, processes: int = 0) -> None:
        self.domain = domain
        self.registry = registry
        self.policy = policy
        self.processes = processes
        self._pool: SignaturePool | None = None
        self._pool_lock = threading.Lock()

    def warm_up(self) -> None:
        """Starts the signature-checking processes now rather than at the first large batch."""
        pool = self._signature_pool()
        if pool is not None:
            pool.check(self.domain, [])

    def _signature_pool(self) -> SignaturePool | None:
        if self.processes < 1:
            return None
        with self._pool_lock:
            if self._pool is None:
                self._pool = SignaturePool(self.processes)
            return self._pool

    def close(self) -> None:
        """Stops the signature-checking processes."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def verify(self, reading: Reading, signature: bytes, refresh_unknown: bool = True) -> VerifiedReading:
        """Runs every check that needs no database; raises the matching `ReadingRejected`."""
        self._check_timestamp(reading)
        device = self._device(reading.device_id, refresh=refresh_unknown)
        digest = reading.digest(self.domain)
        current = device.current_key
        if not current.key.verify(digest, signature):
            # The cache may be a moment behind a rotation: look again before refusing, unless it
            # looked a moment ago (a flood of forged signatures must not cost a sync each).
            if self.registry.refresh(wait=False):
                device = self._device(reading.device_id)
                current = device.current_key
            if not current.key.verify(digest, signature):
                self._refuse_signature(device, digest, signature)
        self._check_dated_in_key(device, current, reading)
        self._check_gateway(device, reading)
        leaf = reading_leaf(digest, signature)
        return VerifiedReading(reading, signature, digest, key_label(current), leaf, len(device.keys) - 1)

    def _check_timestamp(self, reading: Reading) -> None:
        policy = self.policy
        now = policy.clock()
        if reading.timestamp > now + policy.max_clock_skew:
            raise TimestampInFuture(
                f"timestamp {reading.timestamp} is more than {policy.max_clock_skew:g}s ahead of the service's clock",
                timestamp=reading.timestamp,
            )
        if reading.timestamp < now - policy.max_reading_age:
            raise TimestampTooOld(
                f"timestamp {reading.timestamp} is more than {policy.max_reading_age:g}s behind the service's clock",
                timestamp=reading.timestamp,
                max_age=policy.max_reading_age,
            )

    @staticmethod
    def _check_dated_in_key(device: DeviceRecord, current: KeyRecord, reading: Reading) -> None:
        """The reading's time must be one at which the chain would accept it: the signing key valid,
        the device not suspended (`DeviceRegistry.verifyReadingAt`)."""
        if reading.timestamp < current.valid_from:
            raise KeyNotYetValid(
                f"timestamp {reading.timestamp} is before the signing key became valid at {current.valid_from}",
                valid_from=current.valid_from,
            )
        period = device.suspension_at(reading.timestamp)
        if period is not None:
            until = "still suspended" if period.end is None else f"reactivated at {period.end}"
            raise DatedInSuspension(
                f"timestamp {reading.timestamp} falls inside a suspension of device 0x{device.device_id.hex()} "
                f"(suspended at {period.start}, {until})",
                suspended_from=period.start,
                suspended_until=period.end,
            )

    @staticmethod
    def _check_gateway(device: DeviceRecord, reading: Reading) -> None:
        """Only a device registered as an edge gateway publishes gateway roots (docs/edge.md)."""
        if reading.metric == GATEWAY_ROOT_METRIC and device.metadata.model != GATEWAY_MODEL:
            raise NotAGateway(
                f"device 0x{device.device_id.hex()} is not registered as an edge gateway (model "
                f"{GATEWAY_MODEL!r}): it may not publish {GATEWAY_ROOT_METRIC} readings"
            )

    def _device(self, device_id: bytes, refresh: bool = True) -> DeviceRecord:
        device = self.registry.get(device_id, refresh=False)
        if device is None and refresh and self.registry.refresh(wait=not ON_REQUEST_THREAD.get()):
            device = self.registry.get(device_id, refresh=False)
        if device is None:
            raise UnknownDevice(f"device 0x{device_id.hex()} is not registered", device_id=device_id)
        if device.status is DeviceStatus.REVOKED:
            raise DeviceRevoked(f"device 0x{device_id.hex()} is revoked", device_id=device_id)
        if device.status is DeviceStatus.SUSPENDED:
            raise DeviceSuspended(f"device 0x{device_id.hex()} is suspended", device_id=device_id)
        return device

    def _refuse_signature(self, device: DeviceRecord, digest: bytes, signature: bytes) -> None:
        for index, record in enumerate(device.keys[:-1]):
            if record.key.verify(digest, signature):
                raise KeyRotated(
                    f"signed with key {index} of device 0x{device.device_id.hex()}, "
                    f"rotated out at {record.valid_until}",
                    key_index=index,
                )
        raise InvalidSignature(
            f"the signature is not a valid {device.current_key.key.key_type.label} signature by the current key "
            f"of device 0x{device.device_id.hex()} over this reading"
        )

    def _verify_or_refusal(self, item: tuple[Reading, bytes]) -> VerifiedReading | ReadingRejected:
        try:
            return self.verify(*item, refresh_unknown=False)  # verify_many refreshed once already
        except ReadingRejected as exc:
            return exc

    def verify_many(
        self, items: Sequence[tuple[Reading, bytes]], max_bad: int | None = None
    ) -> list[VerifiedReading | ReadingRejected]:
        """Verifies every reading. With worker processes, the signatures are checked there and
        only the readings that fail come back here for the full check that names the reason.
        More than `max_bad` bad signatures stop the checks: `TooManyBadSignatures`."""
        if not self.registry.knows({reading.device_id for reading, _ in items}):
            self.registry.refresh(wait=False)  # once for the request, not once per unknown device; never sleeps
        pool = self._signature_pool()
        if pool is None or len(items) < POOL_THRESHOLD:
            return self._verify_here(items, max_bad)
        return self._verify_in_pool(pool, items, max_bad)

    def _verify_here(
        self, items: Sequence[tuple[Reading, bytes]], max_bad: int | None
    ) -> list[VerifiedReading | ReadingRejected]:
        checked: list[VerifiedReading | ReadingRejected] = []
        bad = 0
        for item in items:
            checked.append(self._verify_or_refusal(item))
            bad += isinstance(checked[-1], InvalidSignature | KeyRotated)
            if max_bad is not None and bad > max_bad:
                raise too_many_bad_signatures(max_bad)
        return checked

    def _verify_in_pool(
        self, pool: SignaturePool, items: Sequence[tuple[Reading, bytes]], max_bad: int | None
    ) -> list[VerifiedReading | ReadingRejected]:
        results: list[VerifiedReading | ReadingRejected | None] = [None] * len(items)
        jobs: list[Job] = []
        positions: list[tuple[int, DeviceRecord]] = []
        keys: dict[bytes, tuple[DeviceRecord, KeyTuple] | ReadingRejected] = {}  # one registry lookup per device
        for index, (reading, signature) in enumerate(items):
            try:
                self._check_timestamp(reading)
            except ReadingRejected as exc:
                results[index] = exc
                continue
            known = keys.get(reading.device_id)
            if known is None:
                known = keys[reading.device_id] = self._device_key(reading.device_id)
            if isinstance(known, ReadingRejected):
                results[index] = known
                continue
            jobs.append((reading.as_tuple(), signature, known[1]))
            positions.append((index, known[0]))
        for (index, device), (valid, digest, leaf) in zip(
            positions, pool.check(self.domain, jobs, max_bad), strict=True
        ):
            results[index] = self._after_pool(items[index], device, valid, digest, leaf)
        return [r for r in results if r is not None]

    def _device_key(self, device_id: bytes) -> tuple[DeviceRecord, KeyTuple] | ReadingRejected:
        try:
            device = self._device(device_id, refresh=False)
        except ReadingRejected as exc:
            return exc
        return device, key_tuple(device.current_key.key)

    def _after_pool(
        self, item: tuple[Reading, bytes], device: DeviceRecord, valid: bool, digest: bytes, leaf: bytes
    ) -> VerifiedReading | ReadingRejected:
        """The rest of the checks for a reading whose signature a worker process checked."""
        if not valid:
            return self._verify_or_refusal(item)  # names the reason, or finds a fresh key
        reading, signature = item
        current = device.current_key
        try:
            self._check_dated_in_key(device, current, reading)
            self._check_gateway(device, reading)
        except ReadingRejected as exc:
            return exc
        return VerifiedReading(reading, signature, digest, key_label(current), leaf, len(device.keys) - 1)
