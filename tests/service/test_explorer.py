"""The explorer's pages over a real flow mirrored from anvil (SQLite and PostgreSQL): every page,
the search for every kind of key, decoded calls and logs, the device chart with its rule, and
bad input: 404 and 422 pages and nothing echoed unescaped."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from fastapi.testclient import TestClient

from ledger_service.app.api.app import create_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.enums import Action, Comparison
from ledger_service.core.supply_chain import Location, SupplyChainContract
from ledger_service.services.container import Services
from ledger_service.services.content import LocalContentStore
from oracles.contract import SensorOracleContract
from oracles.rules import RuleSpec
from tests.utils.event_flow import index
from tests.utils.factories import new_device, signed_body
from tokenization.assets import AssetTokens

DEPOT = Location.of(52.37, 4.89, "8712345000004")
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def site(services: Services, chain: ChainContext, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    api = TestClient(create_app(services), follow_redirects=False)
    ledger = services.ledger
    device = new_device(ledger)
    item_id = os.urandom(32)
    operator = chain.client.operator.address
    supply = SupplyChainContract(chain.client, chain.deployment, chain.artifacts)
    register = supply.register_item(item_id, operator, keccak(b"vaccines"), "bafy-vaccines", [device.device_id])
    oracle = SensorOracleContract(chain.client, chain.deployment, chain.artifacts)
    rule_id, added = oracle.add_rule(RuleSpec(item_id, "temperature", unit="Cel", comparison=Comparison.ABOVE,
                                              upper=800, scale=2, min_readings=3,
                                              actions=Action.MARK_OUT_OF_COMPLIANCE))  # fmt: skip
    taken = int(chain.client.w3.eth.get_block(added["blockNumber"])["timestamp"])  # inside the attachment
    values = [450, 520, 910, 930, 950, 610]
    ids = []
    for value in values:
        answer = api.post("/v1/readings", json=signed_body(device, ledger.domain, value=value, timestamp=taken))
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    batcher = services.batcher()
    batcher.batch_age = 0.0
    batcher.run_once()
    tokens = AssetTokens(chain.client, chain.deployment, chain.artifacts, LocalContentStore(tmp_path / "content"))
    token_id, _ = tokens.mint(item_id, operator)
    # a transaction that fails on chain: sent with its own gas limit, so no estimate stops it first
    w3 = chain.client.w3
    failing = w3.eth.send_transaction(
        {
            "from": w3.eth.accounts[0],
            "to": supply.contract.address,
            "data": supply.contract.encode_abi("holdItem", args=[b"\x07" * 32]),
            "gas": 200_000,
        }
    )
    assert w3.eth.wait_for_transaction_receipt(failing)["status"] == 0
    index(services, chain)
    batch = api.get(f"/v1/readings/{ids[0]}").json()["batch"]
    yield api, {
        "item": "0x" + item_id.hex(), "device": "0x" + device.device_id.hex(), "token": str(token_id),
        "operator": operator.lower(), "readings": ids, "register_tx": "0x" + bytes(register["transactionHash"]).hex(),
        "register_block": int(register["blockNumber"]), "batch": batch, "failed_tx": "0x" + bytes(failing).hex(),
        "rule": rule_id,
    }  # fmt: skip


def page(api: TestClient, path: str, status: int = 200) -> str:
    response = api.get(path)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def links(html: str) -> set[str]:
    return {link for link in re.findall(r"href=\"(/explorer/[^\"]+)\"", html) if "/static/" not in link}


def test_every_page_renders_from_the_mirror(site: tuple[TestClient, dict[str, Any]]) -> None:
    api, facts = site
    home = page(api, "/explorer")
    assert "Latest blocks" in home and "registerItem" in home and "anchor" in home
    assert re.search(r"<b>6</b><span>readings</span>", home)

    failed = page(api, f"/explorer/tx/{facts['failed_tx']}")
    assert "reverted" in failed and "SupplyChain.holdItem" in failed
    assert re.search(r'id="revert-reason"><b>SupplyChainUnknownItem</b>\(itemId=0x0707', failed), failed[:3000]

    tx = page(api, f"/explorer/tx/{facts['register_tx']}")
    assert "SupplyChain.registerItem" in tx and "ItemRegistered" in tx and "DeviceAttached" in tx
    assert facts["item"][:12] in tx and "success" in tx
    block = page(api, f"/explorer/block/{facts['register_block']}")
    assert f"/explorer/tx/{facts['register_tx']}" in block and "registerItem" in block
    blocks = page(api, "/explorer/blocks")
    assert f"/explorer/block/{facts['register_block']}" in blocks

    operator = page(api, f"/explorer/address/{facts['operator']}")
    assert "MANUFACTURER_ROLE" in operator and "MINTER_ROLE" in operator  # the operator is not the admin
    assert f"/explorer/device/{facts['device']}" in operator and f"/explorer/item/{facts['item']}" in operator
    assert f"/explorer/token/{facts['token']}" in operator

    device = page(api, f"/explorer/device/{facts['device']}")
    assert device.count('class="point breach"') == 3 and device.count('class="point"') == 3  # 9.1, 9.3, 9.5 °C
    assert 'class="threshold"' in device and f"rule {facts['rule']}: &gt; 8</text>" in device
    assert f"/explorer/batch/{facts['batch']['id']}" in device

    batch = page(api, f"/explorer/batch/{facts['batch']['id']}")
    assert batch.count('/proof" download=') == facts["batch"]["reading_count"] and facts["batch"]["root"] in batch
    reading = page(api, f"/explorer/reading/{facts['readings'][2]}")
    assert "9.10" in reading and f"/v1/readings/{facts['readings'][2]}/proof" in reading
    item = page(api, f"/explorer/item/{facts['item']}")
    assert "registered" in item and "rule added" in item and "token minted" in item and "sensor batch" in item
    token = page(api, f"/explorer/token/{facts['token']}")
    assert facts["item"] in token and "transferable" in token

    # every explorer link on these pages leads to a page
    for path in sorted(links(home + operator + device + item + token + batch) - {"/explorer/blocks"}):
        page(api, path.split("?")[0])


def test_search_reaches_the_page_of_every_kind_of_key(site: tuple[TestClient, dict[str, Any]]) -> None:
    api, facts = site
    cases = {
        str(facts["register_block"]): f"/explorer/block/{facts['register_block']}",
        facts["register_tx"].upper().replace("0X", "0x"): f"/explorer/tx/{facts['register_tx']}",
        facts["operator"]: f"/explorer/address/{facts['operator']}",
        facts["device"]: f"/explorer/device/{facts['device']}",
        facts["item"]: f"/explorer/item/{facts['item']}",
        facts["token"]: f"/explorer/token/{facts['token']}",
        facts["readings"][0]: f"/explorer/reading/{facts['readings'][0]}",
        facts["batch"]["root"]: f"/explorer/batch/{facts['batch']['id']}",
        f"batch {facts['batch']['id']}": f"/explorer/batch/{facts['batch']['id']}",
        f"  {facts['item']}  ": f"/explorer/item/{facts['item']}",
    }
    for query, target in cases.items():
        response = api.get("/explorer/search", params={"q": query})
        assert response.status_code == 303 and response.headers["location"] == target, (query, response.text[:300])
    for garbage in ("hello", "0x1234", "0x" + "ab" * 32, "99999999999", "", "batch 999999"):
        body = page(api, f"/explorer/search?q={garbage}", 404)
        assert ("Nothing matches" if garbage else "Type something to search for") in body


def test_bad_ids_answer_404_and_422_pages_and_nothing_is_echoed_raw(site: tuple[TestClient, dict[str, Any]]) -> None:
    api, _ = site
    unknown = "0x" + "ab" * 32
    for path in ("tx", "device", "item", "reading"):
        assert "No " in page(api, f"/explorer/{path}/{unknown}", 404)
    for path in ("block/99999999", "batch/99999999", "token/12345", "nowhere/at/all"):
        page(api, f"/explorer/{path}", 404)
    for path in ("tx/0x12", "device/xyz", "item/0x" + "g" * 64, "reading/1", "block/-1", "block/1e5", "batch/abc",
                 "token/0x12", "address/0x123"):  # fmt: skip
        assert "is not a valid" in page(api, f"/explorer/{path}", 422)
    # a script tag in every input: the path of each page, and the search box
    for path in ("tx", "device", "item", "reading", "block", "batch", "token", "address", "nowhere"):
        response = api.get(f"/explorer/{path}/{SCRIPT}")
        assert response.status_code in (404, 422) and SCRIPT not in response.text
        assert "&lt;script&gt;" in response.text
    response = api.get("/explorer/search", params={"q": SCRIPT})
    assert response.status_code == 404 and SCRIPT not in response.text and "&lt;script&gt;alert(1)" in response.text
    # the API keeps answering problem+json for the same mistakes
    problem = api.get(f"/v1/items/{unknown}")
    assert problem.status_code == 404 and problem.headers["content-type"] == "application/problem+json"


def test_the_explorer_and_the_api_show_a_device_from_the_same_state(services: Services) -> None:
    """No indexer runs here, so the mirror knows nothing of the device: the explorer shows what the
    API shows (the registry cache), not an older or missing mirror row."""
    api = TestClient(create_app(services), follow_redirects=False)
    device = new_device(services.ledger)
    services.ledger.suspend_device(device.device_id)
    services.registry.refresh(force=True)
    device_id = "0x" + device.device_id.hex()
    answer = api.get(f"/v1/devices/{device_id}")
    assert answer.status_code == 200 and answer.json()["status"] == "suspended"
    html = page(api, f"/explorer/device/{device_id}")
    assert '<span class="status failed">suspended</span>' in html
    signer = device.key.public_key.signer
    assert signer is not None
    assert re.search(rf"<td>0</td><td>secp256k1</td><td class=\"mono\">{signer.lower()}</td>", html), html
    owner = answer.json()["owner"].lower()
    assert f"/explorer/device/{device_id}" in page(api, f"/explorer/address/{owner}")
