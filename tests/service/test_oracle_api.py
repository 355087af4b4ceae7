"""`POST /v1/rules`, `GET /v1/rules`, `GET /v1/oracle/reports` and the item timeline, over the real
chain and the SQL mirror: who may add rules, what a bad rule gets, and a fired report end to end."""

from __future__ import annotations

import os

from fastapi.testclient import TestClient

from ledger_service.app.api.app import create_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.services.apikeys import Role, create_key
from ledger_service.services.container import Services
from oracles.contract import SensorOracleContract
from oracles.daemon import OracleDaemon
from oracles.tasks import report_dispatcher
from tests.utils.event_flow import index
from tests.utils.oracle import ingest, now, shipment
from tests.utils.problems import assert_problem


def test_rules_and_reports_through_the_api(services: Services, chain: ChainContext) -> None:
    def key(name: str, roles: list[Role], party: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {create_key(services.engine, name, roles, party=party)[1]}"}

    maker = key("maker", [Role.MANUFACTURER])
    rival = key("rival", [Role.MANUFACTURER], party="rival-maker")
    carrier = key("carrier", [Role.CUSTODIAN], party="carrier")
    item_id, sensor = shipment(services)  # made by the operator: `maker` (no party) acts as it
    item = "0x" + item_id.hex()
    rule = {"item_id": item, "metric": "temperature", "unit": "Cel", "above": "8", "scale": 2, "readings": 2,
            "actions": ["mark"]}  # fmt: skip
    oracle = SensorOracleContract(services.ledger.client, services.ledger.deployment, services.artifacts)
    before = oracle.rule_count()
    with TestClient(create_app(services)) as api:
        assert_problem(api.post("/v1/rules", json=rule), 401, "unauthorized")
        assert_problem(api.post("/v1/rules", json=rule, headers=carrier), 403, "forbidden")
        assert_problem(api.post("/v1/rules", json=rule, headers=rival), 403, "not-manufacturer")
        assert_problem(api.post("/v1/rules", json={**rule, "above": None}, headers=maker), 422, "validation-error")
        assert_problem(api.post("/v1/rules", json={**rule, "unit": ""}, headers=maker), 422, "validation-error")
        assert_problem(
            api.post("/v1/rules", json={**rule, "actions": ["explode"]}, headers=maker), 422, "validation-error"
        )
        assert_problem(api.post("/v1/rules", json={**rule, "below": "20"}, headers=maker), 422, "invalid-rule")
        assert_problem(api.post("/v1/rules", json={**rule, "above": "8.123"}, headers=maker), 422, "invalid-rule")
        assert_problem(api.post("/v1/rules", json={**rule, "actions": ["settle"]}, headers=maker), 422, "invalid-rule")
        unknown = {**rule, "device_id": "0x" + os.urandom(32).hex()}
        assert_problem(api.post("/v1/rules", json=unknown, headers=maker), 422, "unknown-device")
        assert_problem(
            api.post("/v1/rules", json={**rule, "item_id": "0x" + "ab" * 32}, headers=maker), 404, "not-found"
        )
        assert_problem(
            api.post("/v1/rules", json={**rule, "item_id": "<script>"}, headers=maker), 422, "validation-error"
        )
        assert oracle.rule_count() == before  # nothing refused reached the chain

        created = api.post("/v1/rules", json=rule, headers=maker)
        assert created.status_code == 201, created.text
        rule_id = created.json()["rule_id"]
        assert created.json()["description"] == "temperature > 8 Cel for 2 readings"

        index(services, chain)
        listed = api.get("/v1/rules", params={"item": item}).json()
        assert [r["rule_id"] for r in listed["data"]] == [rule_id] and listed["indexed_block"] > 0
        shown = api.get(f"/v1/rules/{rule_id}").json()
        assert shown["state"] == "armed" and shown["upper"] == "800" and shown["actions"] == ["mark"]
        assert shown["unit"] == "Cel"
        assert_problem(api.get("/v1/rules/999999999"), 404, "not-found")
        assert_problem(api.get("/v1/rules/abc"), 422, "validation-error")
        assert_problem(
            api.get("/v1/oracle/reports", params={"item": "<script>alert(1)</script>"}), 422, "validation-error"
        )
        assert api.get("/v1/oracle/reports", params={"item": item}).json()["data"] == []

        ingest(services, sensor, [900, 950, 960, 970], now(services) + 1)
        daemon = OracleDaemon(services, report_dispatcher(services), name="api-test")
        daemon.step()
        pending = api.get("/v1/oracle/reports", params={"item": item}).json()["data"]
        assert [r["status"] for r in pending] == ["pending"] and len(pending[0]["reading_ids"]) == 2
        services.batcher().run_once()
        daemon.step()
        index(services, chain)
        reports = api.get("/v1/oracle/reports", params={"item": item}).json()["data"]
        assert [(r["status"], r["path"], r["rule_id"]) for r in reports] == [("fired", "evidence", rule_id)]
        assert reports[0]["transaction_hash"] and reports[0]["value"] == "900"
        assert api.get(f"/v1/rules/{rule_id}").json()["state"] == "fired"
        assert [r["rule_id"] for r in api.get("/v1/rules", params={"state": "fired", "item": item}).json()["data"]] == [
            rule_id
        ]
        history = api.get(f"/v1/items/{item}/history").json()["entries"]
        kinds = [e["type"] for e in history]
        assert {"rule_added", "oracle_report", "condition_changed"} <= set(kinds)
        assert kinds.index("rule_added") < kinds.index("oracle_report")
        fired = next(e for e in history if e["type"] == "oracle_report")
        assert fired["details"]["report_id"] == reports[0]["report_id"]
        assert (
            fired["transaction_hash"]
            == next(e for e in history if e["type"] == "condition_changed")["transaction_hash"]
        )
