"""POST /v1/readings/batch: per-reading results, one transaction, limits (413), floods (429)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger_service.app.api.app import create_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.services.container import Services
from tests.utils.factories import body_of, new_device, signed_body
from tests.utils.problems import assert_problem
from tests.utils.readings import stored_count
from tests.utils.settings import make_settings


@pytest.fixture
def make_api(
    database_url: str, chain: ChainContext, tmp_path: Path
) -> Iterator[Callable[..., tuple[TestClient, Services]]]:
    opened: list[tuple[TestClient, Services]] = []

    def build(**overrides: Any) -> tuple[TestClient, Services]:
        settings = make_settings(tmp_path / f"data{len(opened)}", database_url=database_url, **overrides)
        services = Services.build(settings, chain.client, chain.deployment, chain.artifacts)
        client = TestClient(create_app(services))
        opened.append((client, services))
        return client, services

    yield build
    for client, services in opened:
        client.close()
        services.close()


def test_batch_stores_the_good_readings_and_reports_each_refusal(make_api: Callable[..., Any]) -> None:
    api, services = make_api(verify_processes=2)
    domain = services.ledger.domain
    k1, p256 = new_device(services.ledger), new_device(services.ledger, KeyType.P256)
    good = [signed_body(k1, domain) for _ in range(150)] + [signed_body(p256, domain) for _ in range(150)]
    forged = signed_body(k1, domain)
    forged["value"] += 1
    stranger = signed_body(new_device(None), domain)
    not_a_reading = {"device_id": 7}
    rotated = new_device(services.ledger, KeyType.P256)
    old_key_reading = rotated.reading()
    services.ledger.rotate_key(rotated.device_id, DeviceKey.generate(KeyType.P256).public_key)
    services.registry.refresh(force=True)
    stale = body_of(old_key_reading, rotated.sign(old_key_reading, domain))
    body = {"readings": [*good, good[0], forged, stranger, not_a_reading, stale]}

    answer = api.post("/v1/readings/batch", json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["stored"], result["duplicates"], result["refused"]) == (300, 1, 4)
    codes = [r["code"] for r in result["results"][300:]]
    assert codes == [None, "invalid-signature", "unknown-device", "validation-error", "key-rotated"]
    assert [r["index"] for r in result["results"]] == list(range(305))
    assert stored_count(services) == 300

    again = api.post("/v1/readings/batch", json={"readings": good[:10]}).json()
    assert again["duplicates"] == 10 and stored_count(services) == 300


def test_sequence_order_inside_a_batch_and_replays_across_batches(make_api: Callable[..., Any]) -> None:
    api, services = make_api()
    device = new_device(services.ledger)
    domain = services.ledger.domain
    bodies = [signed_body(device, domain) for _ in range(5)]  # sequences 1..5
    shuffled = [bodies[3], bodies[0], bodies[4], bodies[2], bodies[1]]
    assert api.post("/v1/readings/batch", json={"readings": shuffled}).json()["stored"] == 5
    device.sequence = 2  # replay sequence 3 with other content
    replay = api.post("/v1/readings/batch", json={"readings": [signed_body(device, domain, value=-5)]}).json()
    assert replay["results"][0]["code"] == "sequence-not-increasing"
    assert stored_count(services) == 5


def test_too_many_readings_or_too_large_a_body_is_refused_whole(make_api: Callable[..., Any]) -> None:
    api, services = make_api(max_batch_readings=3, max_body_bytes=20_000)
    device = new_device(services.ledger)
    four = [signed_body(device, services.ledger.domain) for _ in range(4)]
    assert_problem(api.post("/v1/readings/batch", json={"readings": four}), 413, "payload-too-large")
    padding = {"readings": four[:1], "padding": "x" * 30_000}
    assert_problem(api.post("/v1/readings/batch", json=padding), 413, "payload-too-large")

    def chunks() -> Iterator[bytes]:
        yield b'{"readings": ['
        for _ in range(200):
            yield b'{"device_id": "0x' + b"0" * 64 + b'"},'
        yield b"{}]}"

    assert_problem(api.post("/v1/readings/batch", content=chunks()), 413, "payload-too-large")
    assert_problem(api.post("/v1/readings", json={**four[0], "metric": "m" * 25_000}), 413, "payload-too-large")
    assert stored_count(services) == 0


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'{"readings": 5}', b'{"readings": {"a": 1}}', b"null"],
    ids=["broken", "array", "number", "object", "null"],
)
def test_malformed_batch_bodies_are_refused(make_api: Callable[..., Any], content: bytes) -> None:
    api, services = make_api()
    response = api.post("/v1/readings/batch", content=content, headers={"content-type": "application/json"})
    assert_problem(response, 422, "validation-error")
    assert stored_count(services) == 0


def test_a_flooding_device_gets_429_and_others_are_unaffected(make_api: Callable[..., Any]) -> None:
    api, services = make_api(device_rate=0.5, device_burst=3)
    domain = services.ledger.domain
    flooder, quiet = new_device(services.ledger), new_device(services.ledger)
    for _ in range(3):
        assert api.post("/v1/readings", json=signed_body(flooder, domain)).status_code == 201
    refused = api.post("/v1/readings", json=signed_body(flooder, domain))
    assert_problem(refused, 429, "rate-limited")
    assert int(refused.headers["retry-after"]) >= 1
    burst = api.post("/v1/readings/batch", json={"readings": [signed_body(flooder, domain) for _ in range(4)]})
    assert {r["code"] for r in burst.json()["results"]} == {"rate-limited"}
    assert api.post("/v1/readings", json=signed_body(quiet, domain)).status_code == 201
    assert stored_count(services) == 4


def test_forged_readings_do_not_use_up_a_device_rate(make_api: Callable[..., Any]) -> None:
    api, services = make_api(device_rate=0.5, device_burst=2)
    device = new_device(services.ledger)
    domain = services.ledger.domain
    for _ in range(5):  # someone else floods with the device's id but cannot sign
        reading = device.reading()
        forged = body_of(reading, DeviceKey.generate(KeyType.SECP256K1).sign(reading.digest(domain)))
        assert_problem(api.post("/v1/readings", json=forged), 422, "invalid-signature")
    assert api.post("/v1/readings", json=signed_body(device, domain)).status_code == 201


@pytest.mark.parametrize("size", [50, 300], ids=["in-thread", "worker-processes"])
def test_unknown_devices_and_forgeries_cost_one_registry_sync_not_one_each(
    make_api: Callable[..., Any], size: int
) -> None:
    api, services = make_api(verify_processes=2, max_bad_signatures=size, client_bad_signature_burst=size)
    domain = services.ledger.domain
    known = new_device(services.ledger)
    services.registry.refresh(force=True)
    strangers = [signed_body(new_device(None), domain) for _ in range(size // 2)]
    forged = []
    for _ in range(size - size // 2):
        reading = known.reading()
        forged.append(body_of(reading, DeviceKey.generate(KeyType.SECP256K1).sign(reading.digest(domain))))
    syncs = 0
    original = services.registry.sync

    def counting_sync() -> int:
        nonlocal syncs
        syncs += 1
        return original()

    services.registry.sync = counting_sync  # type: ignore[method-assign]
    started = time.monotonic()
    result = api.post("/v1/readings/batch", json={"readings": strangers + forged}).json()
    slots = 1 + int((time.monotonic() - started) / services.registry.min_refresh_interval)
    assert {r["code"] for r in result["results"]} == {"unknown-device", "invalid-signature"}
    assert syncs <= min(slots, 10), f"{syncs} registry syncs for one request of {size} readings"  # one per interval
    assert stored_count(services) == 0


def forged_batch(services: Services, count: int) -> list[dict[str, Any]]:
    """`count` readings naming a registered device, each signed by some other key."""
    domain = services.ledger.domain
    victim, forger = new_device(services.ledger), DeviceKey.generate(KeyType.SECP256K1)
    bodies = []
    for _ in range(count):
        reading = victim.reading()
        bodies.append(body_of(reading, forger.sign(reading.digest(domain))))
    return bodies


@pytest.mark.parametrize("processes", [0, 2], ids=["in-thread", "worker-processes"])
def test_five_thousand_forged_signatures_are_cheap_and_do_not_block_others(
    make_api: Callable[..., Any], processes: int
) -> None:
    api, services = make_api(verify_processes=processes, max_batch_readings=5000, device_rate=0)
    services.ingestor.warm_up()
    forged = forged_batch(services, 5000)
    honest = new_device(services.ledger)
    domain = services.ledger.domain
    services.registry.refresh(force=True)
    checks = 0
    original = services.ingestor.checks._verify_or_refusal

    def counting(item: Any) -> Any:
        nonlocal checks
        checks += 1
        return original(item)

    services.ingestor.checks._verify_or_refusal = counting  # type: ignore[method-assign]
    answers: dict[str, Any] = {}

    def attack() -> None:
        answers["forged"] = api.post("/v1/readings/batch", json={"readings": forged})

    attacker = threading.Thread(target=attack)
    started = time.monotonic()
    attacker.start()
    other = TestClient(api.app, client=("192.0.2.9", 4000))
    honest_started = time.monotonic()
    assert other.post("/v1/readings", json=signed_body(honest, domain)).status_code == 201
    honest_took = time.monotonic() - honest_started
    attacker.join(timeout=120)
    took = time.monotonic() - started
    problem = assert_problem(answers["forged"], 422, "too-many-bad-signatures")
    assert problem["max_bad_signatures"] == 64
    assert checks <= 65  # the full check (which names the reason) ran for at most the limit
    assert stored_count(services) == 1
    print(f"5000 forged, {processes} processes: refused in {took:.2f}s; an honest reading meanwhile {honest_took:.2f}s")
    assert took < 10 and honest_took < 10, (took, honest_took)


def test_a_client_that_keeps_forging_runs_out_of_signature_checks(make_api: Callable[..., Any]) -> None:
    api, services = make_api(max_bad_signatures=8, client_bad_signature_rate=0.1, client_bad_signature_burst=20)
    forged = forged_batch(services, 30)
    assert_problem(api.post("/v1/readings/batch", json={"readings": forged[:30]}), 422, "too-many-bad-signatures")
    assert_problem(api.post("/v1/readings/batch", json={"readings": forged[:30]}), 422, "too-many-bad-signatures")
    # 18 bad signatures spent of 20: a batch may now hold 2 at most, then the budget is gone
    assert_problem(api.post("/v1/readings/batch", json={"readings": forged[:5]}), 422, "too-many-bad-signatures")
    spent = assert_problem(
        api.post("/v1/readings/batch", json={"readings": forged[:1]}), 429, "bad-signature-budget-spent"
    )
    assert spent["retry_after"] > 0
    assert_problem(api.post("/v1/readings", json=forged[0]), 429, "bad-signature-budget-spent")
    # another address is not affected
    other = TestClient(api.app, client=("192.0.2.10", 4000))
    assert_problem(other.post("/v1/readings", json=forged[0]), 422, "invalid-signature")
    assert stored_count(services) == 0
