"""A flow on the session's anvil for the event feed, webhooks, GraphQL and EPCIS tests: a
device's readings anchored, an item handed to a carrier party, a rule fired by a hot reading; then
the mirror indexed. Three API keys: the operator's (admin), the carrier's and a stranger's."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from eth_utils import keccak
from fastapi.testclient import TestClient

from indexer.runner import ChainIndexer, target_of
from ledger_service.app.api.app import create_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.supply_chain import Location, SupplyChainContract
from ledger_service.services.apikeys import Role, create_key
from ledger_service.services.container import Services
from ledger_service.services.events import LAST
from tests.utils.evidence import prove_breach
from tests.utils.factories import new_device, signed_body

DEPOT = Location.of(52.37, 4.89, "")


@dataclass
class Flow:
    api: TestClient
    services: Services
    keys: dict[str, str]  # operator, carrier, stranger
    after: str  # the position just before the flow
    item: str
    device: str
    readings: list[str]
    carrier: str
    chain: ChainContext
    operator: str


def index(services: Services, chain: ChainContext) -> None:
    """Mirrors the session's chain into the service's database, fetching in this process (a child
    process is the backfill's way for long ranges; its start costs more than these ranges take)."""
    indexer = ChainIndexer(
        services.engine, chain.client.rpc_url, target_of(chain.deployment, chain.artifacts), process_threshold=10**9
    )
    try:
        indexer.backfill()
    finally:
        indexer.close()


@pytest.fixture
def flow(services: Services, chain: ChainContext) -> Flow:
    api = TestClient(create_app(services))
    services.settings.webhook_allow_private = True  # the receivers below listen on loopback
    start = chain.client.w3.eth.block_number
    carrier = services.parties.create("carrier")
    services.parties.create("stranger")
    keys = {
        "operator": create_key(services.engine, "ops", [Role.ADMIN])[1],
        "carrier": create_key(services.engine, "carrier", [Role.CUSTODIAN], party="carrier")[1],
        "stranger": create_key(services.engine, "stranger", [Role.CUSTODIAN], party="stranger")[1],
    }
    device = new_device(services.ledger)
    supply = SupplyChainContract(chain.client, chain.deployment, chain.artifacts)
    item_id = os.urandom(32)
    receipt = supply.register_item(item_id, chain.client.operator.address, keccak(b"fish"), "", [device.device_id])
    attached = int(chain.client.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    answers = [api.post("/v1/readings", json=signed_body(device, services.ledger.domain, timestamp=attached))
               for _ in range(3)]  # fmt: skip
    assert all(a.status_code == 201 for a in answers), answers[0].text
    batcher = services.batcher()
    batcher.batch_age = 0.0
    batcher.run_once()
    expires = int(chain.client.w3.eth.get_block("latest")["timestamp"]) + 3600
    supply.propose_transfer(item_id, carrier, DEPOT, expires)
    supply.as_account(services.parties.client("carrier")).accept_transfer(item_id, DEPOT)
    prove_breach(chain, item_id, device.device_id, device.key)
    index(services, chain)
    return Flow(
        api, services, keys, f"{start}-{LAST}-{LAST}", "0x" + item_id.hex(), "0x" + device.device_id.hex(),
        [a.json()["id"] for a in answers], carrier.lower(), chain, chain.client.operator.address.lower(),
    )  # fmt: skip
