"""Shared test factories: devices with keys, signed readings as the API takes them."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ledger_service.app.api.schemas import reading_body
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.device_state import Metadata
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.readings import Domain, Reading


@dataclass
class Device:
    """A device key and id, with a running sequence number."""

    key: DeviceKey
    device_id: bytes = field(default_factory=lambda: os.urandom(32))
    sequence: int = 0

    def reading(self, **overrides: Any) -> Reading:
        """The device's next reading."""
        self.sequence += 1
        values: dict[str, Any] = {
            "device_id": self.device_id,
            "sequence": self.sequence,
            "timestamp": int(time.time()),
            "metric": "temperature",
            "value": 2150 + self.sequence,
            "scale": 2,
            "unit": "Cel",
        }
        values.update(overrides)
        return Reading(**values)

    def sign(self, reading: Reading, domain: Domain) -> bytes:
        """The device's signature over `reading`."""
        return self.key.sign(reading.digest(domain))


def new_device(ledger: Ledger | None = None, key_type: KeyType = KeyType.SECP256K1, model: str = "") -> Device:
    """A fresh device key, registered in `ledger` (owned by the operator, with metadata model `model`)
    when one is given."""
    device = Device(key=DeviceKey.generate(key_type))
    if ledger is not None:
        ledger.register_device(device.device_id, device.key.public_key, metadata=Metadata(model=model))
    return device


def body_of(reading: Reading, signature: bytes) -> dict[str, Any]:
    """The JSON body that posts `reading` with `signature`."""
    return reading_body(reading, signature)


def signed_body(device: Device, domain: Domain, **overrides: Any) -> dict[str, Any]:
    """The device's next reading, signed with its key, as a JSON body."""
    reading = device.reading(**overrides)
    return body_of(reading, device.sign(reading, domain))


@contextmanager
def role_granted(admin: Any, contract: Any, role: bytes, account: str) -> Iterator[None]:
    """Grant `role` on `contract` to `account` for the block's duration, then revoke it: tests that
    widen a role on the session's shared deployment leave the deployment's role set as deploy made it
    (tests/contracts/test_roles.py checks exactly that set)."""
    admin.transact(contract.functions.grantRole(role, account))
    try:
        yield
    finally:
        admin.transact(contract.functions.revokeRole(role, account))
