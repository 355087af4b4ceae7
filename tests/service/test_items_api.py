"""Items and tokens through the API, read from the SQL mirror after a real cold-chain flow:
sensor readings ingested, batched and anchored; a checkpoint and a breach proven by one of them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from ledger_service.app.api.app import create_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.supply_chain import Location, SupplyChainContract
from ledger_service.services import items as actions
from ledger_service.services.container import Services
from ledger_service.services.content import LocalContentStore
from tests.utils.accounts import outsider
from tests.utils.event_flow import index
from tests.utils.evidence import prove_breach
from tests.utils.factories import new_device, signed_body
from tests.utils.problems import assert_problem
from tokenization.assets import AssetTokens

DEPOT = Location.of(52.37, 4.89, "8712345000004")


@pytest.fixture
def flow(services: Services, chain: ChainContext, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    api = TestClient(create_app(services))
    ledger = services.ledger
    device = new_device(ledger)
    supply = SupplyChainContract(chain.client, chain.deployment, chain.artifacts)
    carrier = outsider(chain.client)
    item_id = os.urandom(32)
    operator = chain.client.operator.address
    receipt = supply.register_item(item_id, operator, keccak(b"vaccines"), "bafy-vaccines", [device.device_id])
    attached = int(chain.client.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    answers = [api.post("/v1/readings", json=signed_body(device, ledger.domain, timestamp=attached)) for _ in range(4)]
    assert all(a.status_code == 201 for a in answers), answers[0].text
    ids = [a.json()["id"] for a in answers]
    batcher = services.batcher()
    batcher.batch_age = 0.0
    batcher.run_once()
    evidence = actions.evidence_of(services, ids[1])

    expires = int(chain.client.w3.eth.get_block("latest")["timestamp"]) + 3600
    supply.propose_transfer(item_id, carrier.operator.address, DEPOT, expires)
    supply.as_account(carrier).accept_transfer(item_id, DEPOT)
    supply.as_account(carrier).record_checkpoint(item_id, DEPOT, 200, evidence)
    prove_breach(chain, item_id, device.device_id, device.key)
    tokens = AssetTokens(chain.client, chain.deployment, chain.artifacts, LocalContentStore(tmp_path / "content"))
    token_id, _ = tokens.mint(item_id, operator)

    index(services, chain)
    yield api, {
        "item": "0x" + item_id.hex(), "token": str(token_id), "carrier": carrier.operator.address.lower(),
        "device": "0x" + device.device_id.hex(), "evidence_leaf": "0x" + evidence.leaf(ledger.domain).hex(),
        "operator": operator.lower(),
    }  # fmt: skip


def test_item_state_and_lists(flow: tuple[TestClient, dict[str, Any]]) -> None:
    api, facts = flow
    item = api.get(f"/v1/items/{facts['item']}").json()
    assert item["custodian"] == facts["carrier"] and item["condition"] == "out_of_compliance"
    assert item["status"] == "active" and item["devices"] == [facts["device"]]
    assert [c["custodian"] for c in item["custody"]] == [facts["operator"], facts["carrier"]]
    assert item["token"]["token_id"] == facts["token"] and item["indexed_block"] > 0
    listed = api.get("/v1/items", params={"custodian": facts["carrier"], "status": "active"}).json()
    assert [i["item_id"] for i in listed["data"]] == [facts["item"]]
    assert api.get("/v1/items", params={"custodian": facts["carrier"], "status": "recalled"}).json()["data"] == []
    page = api.get("/v1/items", params={"limit": 1}).json()
    assert len(page["data"]) == 1 and page["next_cursor"] == page["data"][0]["item_id"]


def test_item_history_is_one_timeline(flow: tuple[TestClient, dict[str, Any]]) -> None:
    api, facts = flow
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = api.app.state.services.engine
    url = f"/v1/items/{facts['item']}/history"
    event.listen(engine, "before_cursor_execute", record)
    try:
        history = api.get(url).json()
        assert len(statements) == 2, statements  # the mirror's checkpoint, then the whole timeline
        statements.clear()
        assert api.get(url).json() == history
        assert len(statements) == 1, statements  # the mirror has not moved: only its checkpoint is read
        statements.clear()
        with engine.begin() as conn:  # the checkpoint moves (as a confirmation or a reorg moves it)
            conn.execute(text("UPDATE index_state SET confirmed_through = confirmed_through + 1 WHERE id = 'main'"))
        statements.clear()
        assert api.get(url).status_code == 200
        assert len(statements) == 2, statements  # a moved mirror is read again, never answered from before
    finally:
        event.remove(engine, "before_cursor_execute", record)
        with engine.begin() as conn:
            conn.execute(text("UPDATE index_state SET confirmed_through = confirmed_through - 1 WHERE id = 'main'"))
    kinds = [e["type"] for e in history["entries"]]
    assert kinds == [
        "registered", "device_attached", "sensor_batch", "handover_proposed", "handover_accepted", "checkpoint",
        "rule_added", "oracle_report", "condition_changed", "token_minted",
    ]  # fmt: skip
    checkpoint = next(e for e in history["entries"] if e["type"] == "checkpoint")
    assert checkpoint["details"]["evidence_proof"] == f"/v1/readings/{facts['evidence_leaf']}/proof"
    assert checkpoint["details"]["location"] == {"latitude": 52.37, "longitude": 4.89, "site": "8712345000004"}
    assert all(e["transaction_hash"].startswith("0x") and e["time"] > 0 for e in history["entries"])
    proof = api.get(checkpoint["details"]["evidence_proof"])
    assert proof.status_code == 200 and proof.json()["leaf"]["hash"] == facts["evidence_leaf"]


def test_tokens(flow: tuple[TestClient, dict[str, Any]]) -> None:
    api, facts = flow
    token = api.get(f"/v1/tokens/{facts['token']}").json()
    assert token["item_id"] == facts["item"] and token["owner"] == facts["operator"]
    assert token["transferable"] is False and token["frozen"] is False  # out of compliance
    assert [h["to_address"] for h in token["history"]] == [facts["operator"]]
    owned = api.get("/v1/tokens", params={"owner": facts["operator"]}).json()["data"]
    assert facts["token"] in {t["token_id"] for t in owned}


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"/v1/items/0x{'ab' * 32}", 404, "not-found"),
        (f"/v1/items/0x{'ab' * 32}/history", 404, "not-found"),
        ("/v1/items/0x1234", 422, "validation-error"),
        ("/v1/items/<script>alert(1)", 422, "validation-error"),
        ("/v1/items?status=lost", 422, "validation-error"),
        ("/v1/items?custodian=nobody", 422, "validation-error"),
        ("/v1/tokens/12345678901234567890", 404, "not-found"),
        ("/v1/tokens/0xabc", 422, "validation-error"),
        ("/v1/tokens?owner=0x12", 422, "validation-error"),
    ],
)
def test_bad_lookups(services: Services, path: str, status: int, code: str) -> None:
    api = TestClient(create_app(services))
    response = api.get(path)
    assert_problem(response, status, code)
    assert response.headers["content-type"].startswith("application/problem+json")  # never HTML
