"""Read access and request rate limits: private reads need a valid key (API and explorer), a key
or a client address past its rate gets 429 problem+json with Retry-After, probes and device ingest
are not counted."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger_service.app.api.app import create_app
from ledger_service.services.apikeys import Role, create_key, revoke_key
from ledger_service.services.container import Services
from tests.utils.factories import body_of, new_device, signed_body
from tests.utils.problems import assert_problem
from tests.utils.readings import stored_count


def with_settings(services: Services, **changes: object) -> Services:
    services.settings = services.settings.model_copy(update=changes)
    return services


def test_private_reads_need_a_valid_key_of_any_role(services: Services) -> None:
    api = TestClient(create_app(with_settings(services, private_reads=True)))
    _, reader_secret = create_key(services.engine, "reader", [Role.CUSTODIAN])
    revoked, revoked_secret = create_key(services.engine, "gone", [Role.ADMIN])
    revoke_key(services.engine, revoked.prefix)
    for path in ("/v1/items", "/v1/tokens", "/v1/rules", "/v1/batches", "/v1/devices", "/explorer"):
        assert_problem(api.get(path), 401, "unauthorized")
        assert_problem(api.get(path, headers={"Authorization": f"Bearer {revoked_secret}"}), 401, "unauthorized")
        assert api.get(path, headers={"Authorization": f"Bearer {reader_secret}"}).status_code == 200, path
    # probes stay open, and devices still post their signed readings without a key
    assert api.get("/healthz").status_code == 200
    device = new_device(services.ledger)
    assert api.post("/v1/readings", json=signed_body(device, services.ledger.domain)).status_code == 201


def test_reads_are_public_by_default(services: Services) -> None:
    api = TestClient(create_app(services))
    assert api.get("/v1/items").status_code == 200 and api.get("/explorer").status_code == 200


def test_clients_and_keys_past_their_rate_get_429(services: Services) -> None:
    # rates this low refill a token only every 5 s, so a slow machine cannot refill one mid-test
    app = create_app(with_settings(services, api_client_rate=0.2, api_key_rate=0.2))
    api, other = TestClient(app), TestClient(app, client=("10.0.0.2", 50000))
    _, secret = create_key(services.engine, "busy", [Role.CUSTODIAN])
    # a client address: its burst (one request), then refused with Retry-After
    answers = [api.get("/v1/items") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 429, 429]
    refused = answers[-1]
    assert_problem(refused, 429, "too-many-requests")
    assert int(refused.headers["retry-after"]) >= 1
    # probes are not counted; a key has its own bucket, and its address keeps its own
    assert all(api.get("/healthz").status_code == 200 for _ in range(10))
    keyed = [other.get("/v1/items", headers={"Authorization": f"Bearer {secret}"}) for _ in range(3)]
    assert [a.status_code for a in keyed] == [200, 429, 429]
    assert other.get("/v1/items").status_code == 200
    # device ingest without a key has its own, larger bucket per address
    device = new_device(services.ledger)
    posted = [api.post("/v1/readings", json=signed_body(device, services.ledger.domain)) for _ in range(8)]
    assert all(p.status_code == 201 for p in posted)


def walk(api: TestClient, path: str, **params: object) -> list[dict]:
    """Every page of a list, following `next_cursor`."""
    seen: list[dict] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor is not None else {})}
        body = api.get(path, params=query).json()
        seen.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ended")


def test_lists_page_with_cursors(services: Services) -> None:
    api = TestClient(create_app(services))
    devices = [new_device(services.ledger) for _ in range(5)]
    services.registry.refresh(force=True)
    everyone = api.get("/v1/devices", params={"limit": 500}).json()
    paged = walk(api, "/v1/devices", limit=2)
    assert [d["device_id"] for d in paged] == [d["device_id"] for d in everyone["data"]]
    assert {"0x" + d.device_id.hex() for d in devices} <= {d["device_id"] for d in paged}
    assert everyone["next_cursor"] is None and everyone["count"] == len(paged)
    assert everyone["indexed_block"] >= services.ledger.deployment.start_block  # the height the answer reflects

    device = devices[0]
    for _ in range(3):
        for _ in range(4):
            assert api.post("/v1/readings", json=signed_body(device, services.ledger.domain)).status_code == 201
        services.batcher().run_once()  # a full batch (batch size 4) each time
    newest_first = walk(api, "/v1/batches", limit=2)
    oldest_first = walk(api, "/v1/batches", limit=2, order="asc")
    ids = [b["id"] for b in newest_first]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True) and [b["id"] for b in oldest_first] == sorted(ids)
    for path in ("/v1/batches", f"/v1/batches/{ids[0]}", "/v1/batches/lag", "/v1/items", "/v1/tokens", "/v1/rules"):
        assert "indexed_block" in api.get(path).json(), path
    assert_problem(api.get("/v1/batches", params={"cursor": -1}), 422, "validation-error")
    assert_problem(api.get("/v1/devices", params={"cursor": "0x12"}), 422, "validation-error")


def test_metrics_count_requests_by_route_template(services: Services) -> None:
    api = TestClient(create_app(services))
    for _ in range(3):
        api.get("/v1/items/0x" + "ab" * 32)
    api.get("/v1/items/0x12")
    text = api.get("/metrics").text
    assert 'provenance_http_requests_total{method="GET",route="/v1/items/{item_id}",status="404"} 3.0' in text
    assert 'provenance_http_requests_total{method="GET",route="/v1/items/{item_id}",status="422"} 1.0' in text
    assert 'provenance_http_request_seconds_count{method="GET",route="/v1/items/{item_id}"} 4.0' in text
    assert "0x" + "ab" * 32 not in text  # ids never become labels


def test_metric_labels_stay_bounded_whatever_clients_send(services: Services) -> None:
    api = TestClient(create_app(services))
    for _ in range(40):
        noise = os.urandom(6).hex().upper()
        api.request(f"X{noise}", "/v1/items")
        api.request(f"Y{noise}", f"/{noise}/{noise}")
        api.get(f"/nowhere/{noise}")
        api.get(f"/explorer/static/{noise}.js")
    text = api.get("/metrics").text
    series = [line for line in text.splitlines() if line.startswith("provenance_http_requests_total{")]
    assert len(series) <= 8, series  # not 160
    assert 'method="OTHER",route="/v1/items"' in text
    assert 'method="OTHER",route="unmatched"' in text and 'method="GET",route="unmatched",status="404"' in text
    assert "nowhere" not in text
    assert {line.split('method="')[1].split('"')[0] for line in series} <= {"GET", "OTHER"}


def random_bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer pl_{os.urandom(4).hex()}_{os.urandom(24).hex()}"}


@pytest.mark.parametrize("path", ["/v1/items", "/v1/devices", "/explorer"])
def test_random_bearer_tokens_get_401_and_use_up_the_client_bucket(services: Services, path: str) -> None:
    api = TestClient(create_app(with_settings(services, api_client_rate=0.5, api_key_rate=100.0)))  # a burst of 1
    _, secret = create_key(services.engine, "tenant", [Role.CUSTODIAN])
    tenant = {"Authorization": f"Bearer {secret}"}
    assert api.get(path, headers=tenant).status_code == 200
    answers = [api.get(path, headers=random_bearer()) for _ in range(6)]
    assert_problem(answers[0], 401, "unauthorized")
    assert answers[0].headers["www-authenticate"] == "Bearer"
    for answer in answers[1:]:  # each a fresh token, and no fresh bucket
        assert_problem(answer, 429, "too-many-requests")
    assert_problem(api.get(path), 429, "too-many-requests")  # the same address, without a token
    other = TestClient(create_app(services), client=("192.0.2.7", 4000))  # another address is not hit
    assert_problem(other.get(path, headers=random_bearer()), 401, "unauthorized")
    assert api.get(path, headers=tenant).status_code == 200  # a valid key keeps its own bucket


def test_a_token_flood_costs_at_most_one_lookup_per_allowed_request(services: Services) -> None:
    from ledger_service.app.api import access

    lookups = 0
    original = access.is_valid

    def counting(engine: Any, secret: str) -> bool:
        nonlocal lookups
        lookups += 1
        return original(engine, secret)

    access.is_valid = counting  # type: ignore[assignment]
    try:
        api = TestClient(create_app(with_settings(services, api_client_rate=1.0)))
        block, devices = int(services.ledger.client.w3.eth.block_number), len(services.registry.devices())
        started = time.monotonic()
        codes = [api.post("/v1/devices", json={}, headers=random_bearer()).status_code for _ in range(200)]
        elapsed = time.monotonic() - started
    finally:
        access.is_valid = original  # type: ignore[assignment]
    assert set(codes) == {401, 429} and codes[:2] == [401, 401]
    assert lookups == codes.count(401) <= 2 + elapsed + 1  # a burst of 2, then 1 a second
    services.registry.refresh(force=True)
    assert int(services.ledger.client.w3.eth.block_number) == block and len(services.registry.devices()) == devices


def test_ingest_floods_are_limited_per_client_address(services: Services) -> None:
    api = TestClient(create_app(with_settings(services, ingest_client_rate=0.25)))  # a burst of 1, then 1 in 4 s
    stranger = new_device(None)
    domain = services.ledger.domain
    assert_problem(api.post("/v1/readings", json=signed_body(stranger, domain)), 422, "unknown-device")
    assert_problem(api.post("/v1/readings", json=signed_body(stranger, domain)), 429, "too-many-requests")
    batch = {"readings": [signed_body(stranger, domain)]}
    refused = assert_problem(api.post("/v1/readings/batch", json=batch), 429, "too-many-requests")
    assert refused["retry_after"] >= 1
    # another address is not affected, and reads have their own bucket
    other = TestClient(create_app(services), client=("192.0.2.8", 4000))
    device = new_device(services.ledger)
    assert other.post("/v1/readings", json=signed_body(device, domain)).status_code == 201
    assert api.get("/v1/items").status_code == 200
    assert stored_count(services) == 1


def test_no_request_thread_sleeps_waiting_for_the_registry(services: Services) -> None:
    """A flood of unknown device ids finds the registry's sync slot taken; the requests are
    answered without any thread sleeping (a sleep here fails the request)."""
    from ledger_service.services import registry

    api = TestClient(create_app(services))
    domain = services.ledger.domain
    real_time = registry.time

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"a request thread slept {seconds}s")

    # only the registry's own clock is swapped: a transaction's wait for its receipt is not the registry's
    registry.time = SimpleNamespace(sleep=no_sleep, monotonic=time.monotonic, time=time.time)  # type: ignore[assignment]
    try:
        started = time.monotonic()
        for _ in range(20):
            assert_problem(api.post("/v1/readings", json=signed_body(new_device(None), domain)), 422, "unknown-device")
            stranger = new_device(None)
            batch = {"readings": [signed_body(stranger, domain) for _ in range(3)]}
            assert {r["code"] for r in api.post("/v1/readings/batch", json=batch).json()["results"]} == {
                "unknown-device"
            }
            assert_problem(api.get(f"/v1/devices/0x{os.urandom(32).hex()}"), 404, "not-found")
        elapsed = time.monotonic() - started
        # a device registered a moment ago is still found: the wait for the slot is on the event loop
        device = new_device(services.ledger)
        assert api.post("/v1/readings", json=signed_body(device, domain)).status_code == 201
        forged = device.reading()
        other = new_device(None)
        assert_problem(
            api.post("/v1/readings", json=body_of(forged, other.sign(forged, domain))), 422, "invalid-signature"
        )
    finally:
        registry.time = real_time  # type: ignore[assignment]
    assert elapsed < 60
