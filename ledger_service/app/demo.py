"""Simulated devices: register on chain, then sign readings and post them to the API. The readings
are built and signed with `provenance_device`, the library a real device would use."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from functools import cached_property

import httpx
from rich.console import Console

from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.readings import Domain
from ledger_service.services.devices import default_device_id
from provenance_device import DeviceKey as DeviceSigner
from provenance_device import Domain as SigningDomain
from provenance_device import Reading


@dataclass
class SimulatedDevice:
    """A device with its own key (secp256k1 or P-256), counting its readings."""

    key: DeviceKey
    device_id: bytes
    sequence: int = 0

    @cached_property
    def signer(self) -> DeviceSigner:
        """The key, as the device library holds it."""
        return DeviceSigner(self.key.key_type.label, self.key.secret)

    def next_reading(
        self, domain: Domain, now: int, metric: str = "temperature", celsius: float | None = None
    ) -> dict[str, object]:
        """The next signed reading, as the API takes it (a cold-chain temperature unless given)."""
        self.sequence += 1
        if celsius is None:
            celsius = 4.0 + 2.0 * math.sin(self.sequence / 10) + random.uniform(-0.2, 0.2)
        reading = Reading(self.device_id, self.sequence, now, metric, round(celsius * 100), scale=2, unit="Cel")
        return reading.body(self.signer.sign(reading.digest(SigningDomain(domain.chain_id, domain.verifying_contract))))


@dataclass
class DemoSummary:
    """What the demo did."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    reading_ids: list[str] = field(default_factory=list)


def register_devices(ledger: Ledger, count: int) -> list[SimulatedDevice]:
    """Creates `count` device keys, alternately secp256k1 and P-256, and registers them."""
    devices = []
    for index in range(count):
        key = DeviceKey.generate(KeyType.P256 if index % 2 else KeyType.SECP256K1)
        device = SimulatedDevice(key=key, device_id=default_device_id(key.public_key))
        ledger.register_device(device.device_id, key.public_key)
        devices.append(device)
    return devices


def run_demo(ledger: Ledger, api_url: str, devices: int, rate: float, duration: float, console: Console) -> DemoSummary:
    """Runs the simulation and prints progress and a summary."""
    fleet = register_devices(ledger, devices)
    kinds = sorted({d.key.key_type.label for d in fleet})
    console.print(
        f"registered {len(fleet)} devices ({', '.join(kinds)}); sending {rate}/s for {duration}s to {api_url}"
    )
    summary = DemoSummary()
    interval = 1.0 / rate
    start = time.monotonic()
    next_at = start
    with httpx.Client(base_url=api_url, timeout=30) as http:
        while time.monotonic() - start < duration:
            device = fleet[summary.sent % len(fleet)]
            response = http.post("/v1/readings", json=device.next_reading(ledger.domain, int(time.time())))
            summary.sent += 1
            if response.status_code in (200, 201):
                summary.accepted += 1
                summary.reading_ids.append(response.json()["id"])
            else:
                summary.rejected += 1
                console.print(f"[red]rejected[/red] {response.status_code}: {response.text[:200]}")
            if summary.sent % max(1, int(rate * 5)) == 0:
                console.print(f"  sent {summary.sent}, accepted {summary.accepted}, rejected {summary.rejected}")
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    console.print(f"done: sent {summary.sent}, accepted {summary.accepted}, rejected {summary.rejected}")
    if summary.reading_ids:
        console.print(f"last reading: {api_url}/v1/readings/{summary.reading_ids[-1]}/proof")
    return summary
