"""A cold-chain shipment, end to end through the API: a temperature logger signs readings, the
shipment passes from the manufacturer through a carrier and a warehouse to a pharmacy with a
two-party handover at each step, checkpoints carry anchored readings as evidence. A rule (above
8 °C for three readings) watches the lot; the manufacturer names the buyer, who holds its payment in
escrow protected by that rule (which cannot be disabled, nor the logger detached, until it settles);
an excursion at the warehouse is proven on chain by the oracle daemon, which marks the lot out of
compliance (nobody else can), freezes its token and refunds the buyer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console

from ledger_service.app.demo import SimulatedDevice, register_devices
from ledger_service.services.apikeys import Role, create_key
from ledger_service.services.container import Services
from tokenization.assets import AssetTokens
from tokenization.escrow import ShipmentEscrowContract

PRICE_WEI = 10**18
EXCURSION_READINGS = 3

STOPS = [
    ("carrier", {"latitude": 53.5461, "longitude": 9.9661, "site": "4012345000009"}),
    ("warehouse", {"latitude": 51.9036, "longitude": 4.4996, "site": "8712345000004"}),
    ("pharmacy", {"latitude": 52.3702, "longitude": 4.8952, "site": "8712345000011"}),
]
FACTORY = {"latitude": 50.1109, "longitude": 8.6821, "site": "4012345000016"}


@dataclass
class Shipment:
    """What the demo did."""

    item_id: str = ""
    token_id: str = ""
    readings: list[str] = field(default_factory=list)
    breach_reading: str = ""
    rule_id: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)


def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def _party_headers(services: Services) -> dict[str, dict[str, str]]:
    """API key headers: the manufacturer's, and one per custodian along the route (each its party)."""
    keys = {"maker": create_key(services.engine, "demo-maker", [Role.MANUFACTURER, Role.CUSTODIAN])[1]}
    for party, _ in STOPS:
        keys[party] = create_key(services.engine, f"demo-{party}", [Role.CUSTODIAN], party=party)[1]
    return {name: {"Authorization": f"Bearer {secret}"} for name, secret in keys.items()}


def _register_protected_lot(
    http: httpx.Client,
    services: Services,
    maker: dict[str, str],
    logger: SimulatedDevice,
    shipment: Shipment,
    step: Callable[[str], None],
) -> str:
    """Registers the lot with its logger, adds the excursion rule, and has the buyer open an escrow
    under that rule; returns the item id."""
    ledger = services.ledger
    description = {"product": "insulin", "lot": "L-2026-11", "keep": "2-8 Cel"}
    created = _ok(
        http.post(
            "/v1/items",
            json={"description": description, "devices": ["0x" + logger.device_id.hex()]},
            headers=maker,
        ),
        "register",
    )
    item: str = created["item_id"]
    shipment.item_id = item
    step(f"registered lot {item[:18]}… with temperature logger 0x{logger.device_id.hex()[:16]}…")
    rule = {"item_id": item, "metric": "temperature", "unit": "Cel", "above": "8", "scale": 2,
            "readings": EXCURSION_READINGS, "actions": ["mark", "freeze", "settle"]}  # fmt: skip
    added = _ok(http.post("/v1/rules", json=rule, headers=maker), "rule")
    shipment.rule_id = int(added["rule_id"])
    step(f"rule {shipment.rule_id}: {added['description']}: mark, freeze the token, refund the escrow")
    buyer = services.parties.client("buyer")
    seller_escrow = ShipmentEscrowContract(ledger.client, ledger.deployment, services.artifacts)
    seller_escrow.designate_buyer(bytes.fromhex(item[2:]), buyer.operator.address)
    escrow = seller_escrow.as_account(buyer)
    escrow.open(bytes.fromhex(item[2:]), int(time.time()) + 86_400, PRICE_WEI, [shipment.rule_id])
    step(f"the buyer, named by the manufacturer, paid 1 ETH into escrow under rule {shipment.rule_id}")
    return item


def run_shipment(services: Services, api_url: str, console: Console, anchor_timeout: float = 60.0) -> Shipment:
    """Runs the shipment against the API at `api_url` (the service behind it shares `services`'
    database and chain) and prints each step."""
    ledger = services.ledger
    shipment = Shipment()
    logger = register_devices(ledger, 1)[0]
    headers = _party_headers(services)

    def step(text: str) -> None:
        shipment.steps.append(text)
        console.print(f"  {text}")

    with httpx.Client(base_url=api_url, timeout=60) as http:
        item = _register_protected_lot(http, services, headers["maker"], logger, shipment, step)
        holder, here = "maker", FACTORY
        for index, (party, place) in enumerate(STOPS):
            celsius = 11.5 if party == "warehouse" else 4.0 + index
            count = EXCURSION_READINGS if celsius > 8 else 1
            sent_ids = []
            for _ in range(count):
                body = logger.next_reading(ledger.domain, int(time.time()), celsius=celsius)
                sent_ids.append(str(_ok(http.post("/v1/readings", json=body), "reading")["id"]))
            reading = sent_ids[0]
            shipment.readings.extend(sent_ids)
            _wait_anchored(http, sent_ids[-1], anchor_timeout)
            handover = {"to": f"party:{party}", "location": here}
            _ok(http.post(f"/v1/items/{item}/handover", json=handover, headers=headers[holder]), f"handover to {party}")
            _ok(http.post(f"/v1/items/{item}/accept", json={"location": place}, headers=headers[party]), "accept")
            step(f"{holder} -> {party}: proposed, then accepted at site {place['site']}")
            checkpoint = {"location": place, "status_code": 200, "evidence_reading_id": reading}
            _ok(http.post(f"/v1/items/{item}/checkpoints", json=checkpoint, headers=headers[party]), "checkpoint")
            step(f"checkpoint at {party}: {celsius:.1f} °C, reading {reading[:18]}… proven on chain")
            if celsius > 8:
                shipment.breach_reading = reading
                shipment.report = _wait_fired(http, item, anchor_timeout)
                step(
                    f"excursion above 8 °C at {party} ({count} readings): the oracle proved it on chain "
                    f"(report {shipment.report['report_id'][:18]}…): lot out of compliance, token frozen, "
                    "buyer refunded"
                )
            if index == 0:
                tokens = AssetTokens(ledger.client, ledger.deployment, services.artifacts, services.content_store())
                token_id, uri = tokens.mint(bytes.fromhex(item[2:]), ledger.client.operator.address)
                shipment.token_id = str(token_id)
                step(f"asset token minted to the manufacturer, metadata {uri}")
            holder, here = party, place
        _ok(http.post(f"/v1/items/{item}/deliver", json={"location": here}, headers=headers[holder]), "deliver")
        step("delivered to the pharmacy")
    console.print(f"history: {api_url}/v1/items/{shipment.item_id}/history (once the indexer has caught up)")
    return shipment


def _wait_fired(http: httpx.Client, item: str, timeout: float) -> dict[str, Any]:
    """Waits until the oracle's report fired the item's rule and the mirror shows it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reports = http.get("/v1/oracle/reports", params={"item": item}).json().get("data", [])
        fired = [r for r in reports if r["status"] == "fired"]
        if fired and http.get(f"/v1/items/{item}").json().get("condition") == "out_of_compliance":
            return dict(fired[0])
        time.sleep(0.25)
    raise RuntimeError(f"no oracle report fired for {item} within {timeout}s: is the oracle daemon running?")


def _wait_anchored(http: httpx.Client, reading_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http.get(f"/v1/readings/{reading_id}/proof").status_code == 200:
            return
        time.sleep(0.25)
    raise RuntimeError(f"reading {reading_id} was not anchored within {timeout}s: is the batcher running?")
