"""The readings query: filters, cursor pages, proofs for a page in one request, aggregates, and the
refusal of every malformed query, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from ledger_service.app.api.app import create_app
from ledger_service.services.container import Services
from ledger_service.services.trust import anchor_from_document, trust_document
from ledger_service.services.verify import verify_bundle
from tests.utils.factories import Device, new_device, signed_body
from tests.utils.problems import assert_problem


@dataclass
class Sent:
    """A reading the test posted, as the query must give it back."""

    id: str
    device: str
    timestamp: int
    metric: str
    value: int


@dataclass
class World:
    api: TestClient
    services: Services
    first: Device
    second: Device
    sent: list[Sent]
    start: int


@pytest.fixture
def world(services: Services) -> Iterator[World]:
    """Two devices, 24 readings ten seconds apart from now on (none may predate its key) across two
    metrics; the first 16 sealed into two anchored batches of 8, the last 8 pending."""
    with TestClient(create_app(services)) as api:
        first, second = new_device(services.ledger), new_device(services.ledger)
        services.registry.refresh(force=True)
        registered = [services.registry.get(d.device_id) for d in (first, second)]
        start = max(int(time.time()), *(d.current_key.valid_from for d in registered if d is not None)) + 1
        sent: list[Sent] = []
        for index in range(24):
            device = first if index % 3 else second
            metric = "temperature" if index % 2 else "humidity"
            timestamp, value = start + 10 * index, (index * 37) % 50 - 20
            body = signed_body(device, services.ledger.domain, timestamp=timestamp, metric=metric, value=value)
            answer = api.post("/v1/readings", json=body)
            assert answer.status_code == 201, answer.text
            sent.append(Sent(answer.json()["id"], "0x" + device.device_id.hex(), timestamp, metric, value))
            if index == 15:
                batcher = services.batcher()
                batcher.batch_age, batcher.batch_size = 0, 8
                batcher.run_once()
        yield World(api, services, first, second, sent, start)


def ids(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "indexed_block" in body
    return [row["id"] for row in body["data"]]


def ordered(readings: list[Sent]) -> list[str]:
    return [r.id for r in sorted(readings, key=lambda r: (r.timestamp, r.id))]


def test_filters_select_exactly_the_matching_readings(world: World) -> None:
    api, sent, start = world.api, world.sent, world.start
    first = "0x" + world.first.device_id.hex()
    window = (start + 35, start + 155)
    expected = [r for r in sent if r.device == first and window[0] <= r.timestamp <= window[1]]
    assert ids(api.get("/v1/readings", params={"device": first, "from": window[0], "to": window[1]})) == ordered(
        expected
    )
    humidity = [r for r in sent if r.metric == "humidity"]
    assert ids(api.get("/v1/readings", params={"metric": "humidity"})) == ordered(humidity)
    assert ids(api.get("/v1/readings", params={"status": "pending"})) == ordered(sent[16:])
    assert ids(api.get("/v1/readings", params={"status": "confirmed"})) == ordered(sent[:16])
    assert ids(api.get(f"/v1/devices/{first}/readings", params={"status": "pending"})) == ordered(
        [r for r in sent[16:] if r.device == first]
    )
    upper = "0x" + world.first.device_id.hex().upper()
    assert ids(api.get("/v1/readings", params={"device": upper})) == ordered([r for r in sent if r.device == first])


def test_pages_walk_every_reading_once_in_order(world: World) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 5}
    pages = 0
    while True:
        body = world.api.get("/v1/readings", params=params).json()
        seen += [row["id"] for row in body["data"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == ordered(world.sent) and pages == 5


def test_a_batch_lists_its_readings_and_each_row_says_where_it_is(world: World) -> None:
    listed = world.api.get("/v1/batches", params={"order": "asc"}).json()["data"]
    batch_id = listed[0]["id"]
    body = world.api.get(f"/v1/batches/{batch_id}/readings").json()
    assert len(body["data"]) == 8 and {row["batch"]["id"] for row in body["data"]} == {batch_id}
    assert all(row["status"] == "confirmed" and row["batch"]["transaction_hash"] for row in body["data"])
    assert all(row["proof"] is None for row in body["data"])  # only with proofs=true
    pending = world.api.get("/v1/readings", params={"status": "pending", "limit": 1}).json()["data"][0]
    assert pending["batch"] is None and pending["links"]["proof"] == f"/v1/readings/{pending['id']}/proof"


def test_one_request_proves_a_page_without_a_query_per_reading(world: World) -> None:
    services = world.services
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(services.engine, "before_cursor_execute", record)
    try:
        body = world.api.get("/v1/readings", params={"proofs": "true", "limit": 20}).json()
    finally:
        event.remove(services.engine, "before_cursor_execute", record)
    # The page and the mirror's height; the transparency log's look at the mirror and its checkpoint
    # (signed and kept once per size) at most once; never one per reading (16 are proven here).
    assert len(statements) <= 7, statements
    trust = anchor_from_document(trust_document(services.ledger.deployment), "the trust document")
    proven = [row for row in body["data"] if row["proof"] is not None]
    assert [row["id"] for row in proven] == ordered(world.sent[:16])
    for row in proven:
        result = verify_bundle(row["proof"], trust, None)
        assert [c.name for c in result.checks if not c.ok] == [], row["id"]
        assert row["proof"]["reading_id"] == row["id"]
    assert all(row["proof"] is None for row in body["data"] if row["status"] == "pending")


def test_aggregates_per_interval_match_the_readings(world: World) -> None:
    start, interval = world.start, 60
    answer = world.api.get(
        "/v1/readings/aggregate",
        params={"metric": "temperature", "from": start, "to": start + 239, "interval": interval},
    )
    assert answer.status_code == 200, answer.text
    expected: dict[tuple[str, int], list[int]] = {}
    for r in world.sent:
        if r.metric == "temperature":
            expected.setdefault((r.device, start + (r.timestamp - start) // interval * interval), []).append(r.value)
    got = {(b["device_id"], b["start"]): b for b in answer.json()["data"]}
    assert set(got) == set(expected)
    for key, values in expected.items():
        bucket = got[key]
        assert (bucket["count"], bucket["min"], bucket["max"]) == (len(values), str(min(values)), str(max(values)))
        assert bucket["mean"] == pytest.approx(sum(values) / len(values))
        assert (bucket["unit"], bucket["scale"], bucket["interval"]) == ("Cel", 2, interval)


def test_malformed_queries_are_refused_and_name_the_problem(world: World) -> None:
    api, start = world.api, world.start
    device = "0x" + world.first.device_id.hex()
    problem = assert_problem(api.get("/v1/readings", params={"devcie": device}), 422, "invalid-filter")
    assert "devcie" in problem["detail"]
    assert_problem(api.get(f"/v1/devices/{device}/readings", params={"device": device}), 422, "invalid-filter")
    assert_problem(api.get("/v1/readings", params={"from": start + 10, "to": start}), 422, "invalid-filter")
    assert_problem(api.get("/v1/readings", params={"limit": 1001}), 422, "validation-error")
    assert_problem(api.get("/v1/readings", params={"limit": 0}), 422, "validation-error")
    assert_problem(api.get("/v1/readings", params={"status": "lost"}), 422, "validation-error")
    assert_problem(api.get("/v1/readings", params={"device": "0x12"}), 422, "validation-error")
    for cursor in ("not-a-cursor!", base64.urlsafe_b64encode(b"12:0xzz").decode(), "", "===="):
        assert_problem(api.get("/v1/readings", params={"cursor": cursor}), 422, "invalid-cursor")
    aggregate = "/v1/readings/aggregate"
    assert_problem(api.get(aggregate, params={"from": 0, "to": 10**9, "interval": 1}), 422, "invalid-filter")
    assert_problem(api.get(aggregate, params={"from": 0, "to": 10}), 422, "validation-error")
    assert_problem(api.get(aggregate, params={"from": 10, "to": 0, "interval": 1}), 422, "invalid-filter")
    assert_problem(api.get("/v1/devices/0x" + "ab" * 32 + "/readings"), 404, "not-found")
    assert_problem(api.get("/v1/batches/999999/readings"), 404, "not-found")
