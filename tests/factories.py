"""Shared test factories: devices with keys, signed readings as the API takes them."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger_service.chain.ledger import Ledger
from ledger_service.readings import Domain, Reading, sign_digest


@dataclass
class Device:
    """A registered (or not) device key and id, with a running sequence number."""

    account: LocalAccount
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


def new_device(ledger: Ledger | None = None) -> Device:
    """A fresh device key, registered in `ledger` when one is given."""
    device = Device(account=Account.create())
    if ledger is not None:
        ledger.register_device(device.device_id, device.account.address)
    return device


def body_of(reading: Reading, signature: bytes) -> dict[str, Any]:
    """The JSON body that posts `reading` with `signature`."""
    return {
        "device_id": "0x" + reading.device_id.hex(),
        "sequence": reading.sequence,
        "timestamp": reading.timestamp,
        "metric": reading.metric,
        "value": reading.value,
        "scale": reading.scale,
        "unit": reading.unit,
        "payload_hash": "0x" + reading.payload_hash.hex(),
        "signature": "0x" + signature.hex(),
    }


def signed_body(device: Device, domain: Domain, **overrides: Any) -> dict[str, Any]:
    """The device's next reading, signed with its key, as a JSON body."""
    reading = device.reading(**overrides)
    return body_of(reading, sign_digest(reading.digest(domain), device.account.key))
