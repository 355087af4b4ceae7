"""Read access and request rate limits: private reads need a valid key (API and explorer), a key
or a client address past its rate gets 429 problem+json with Retry-After, probes and device ingest
are not counted."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledger_service.api.app import create_app
from ledger_service.apikeys import Role, create_key, revoke_key
from ledger_service.services import Services
from tests.factories import new_device, signed_body
from tests.test_api import assert_problem


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
    api = TestClient(create_app(with_settings(services, api_client_rate=2.0, api_key_rate=3.0)))
    # a client address: a burst of 2 s worth (4), then refused with Retry-After
    answers = [api.get("/v1/items") for _ in range(6)]
    assert [a.status_code for a in answers[:4]] == [200] * 4
    refused = answers[-1]
    assert_problem(refused, 429, "too-many-requests")
    assert int(refused.headers["retry-after"]) >= 1
    # probes are not counted; a key has its own bucket, whatever the address
    assert all(api.get("/healthz").status_code == 200 for _ in range(10))
    _, secret = create_key(services.engine, "busy", [Role.CUSTODIAN])
    keyed = [api.get("/v1/items", headers={"Authorization": f"Bearer {secret}"}) for _ in range(8)]
    assert [a.status_code for a in keyed[:6]] == [200] * 6 and keyed[-1].status_code == 429
    # device ingest without a key is limited per device, not per address
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
