"""Time at ingest, attacked over HTTP (single and batch) and MQTT: backdated, future-dated and
out-of-order readings, readings dated inside a past suspension, and a device whose cursor was
pushed to its end going on after a key rotation. Each refusal has its stable code and stores nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from ledger_service.app.api.app import create_app
from ledger_service.app.mqtt_ingest import MqttIngest
from ledger_service.core.db import alembic_config, make_engine, upgrade_schema
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.models import DeviceCursor
from ledger_service.services.container import Services
from tests.utils.chain import block_time
from tests.utils.factories import Device, body_of, new_device, signed_body
from tests.utils.mqtt import DeviceSide, wait_for_stored
from tests.utils.problems import assert_problem
from tests.utils.readings import stored_count

MAX_SEQUENCE = 2**63 - 1  # the largest sequence the API and MQTT accept (the database's BIGINT)


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as http:
        yield http


def batch(api: TestClient, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = api.post("/v1/readings/batch", json={"readings": bodies})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def codes(results: list[dict[str, Any]]) -> list[str | None]:
    return [r.get("code") if r["status"] == "refused" else r["status"] for r in results]


def cursor(services: Services, device: Device, key_index: int = 0) -> DeviceCursor | None:
    with Session(services.engine) as session:
        return session.get(DeviceCursor, ("0x" + device.device_id.hex(), key_index))


def test_reading_older_than_the_age_bound_is_refused(api: TestClient, services: Services) -> None:
    """Attack: a backdated reading, older than PROVENANCE_MAX_READING_AGE."""
    services.ingestor.policy.max_reading_age = 120
    device = new_device(services.ledger, KeyType.P256)
    domain = services.ledger.domain
    old = int(time.time()) - 121
    problem = assert_problem(api.post("/v1/readings", json=signed_body(device, domain, timestamp=old)), 422,
                             "timestamp-too-old")  # fmt: skip
    assert problem["max_age"] == 120
    assert codes(batch(api, [signed_body(device, domain, timestamp=old - 10**6)])) == ["timestamp-too-old"]
    assert stored_count(services) == 0 and cursor(services, device) is None
    assert api.post("/v1/readings", json=signed_body(device, domain)).status_code == 201


def test_reading_dated_before_the_previous_one_is_refused(api: TestClient, services: Services) -> None:
    """Attack: a reading with a higher sequence but dated before the device's previous reading."""
    device = new_device(services.ledger)
    domain = services.ledger.domain
    now = int(time.time()) + 5
    assert api.post("/v1/readings", json=signed_body(device, domain, timestamp=now)).status_code == 201
    problem = assert_problem(api.post("/v1/readings", json=signed_body(device, domain, timestamp=now - 1)), 409,
                             "timestamp-not-increasing")  # fmt: skip
    assert problem["last_timestamp"] == now
    # In one batch: the backdated reading is refused, the ones around it are stored.
    bodies = [signed_body(device, domain, timestamp=t) for t in (now + 2, now + 1, now + 2)]
    assert codes(batch(api, bodies)) == ["stored", "timestamp-not-increasing", "stored"]
    assert stored_count(services) == 3
    stored = cursor(services, device)
    assert stored is not None and (stored.last_sequence, stored.last_timestamp) == (device.sequence, now + 2)
    # The same second as the previous reading is not earlier, so it is taken (a device may send faster than 1/s).
    assert api.post("/v1/readings", json=signed_body(device, domain, timestamp=now + 2)).status_code == 201


def test_strict_time_order_refuses_a_reading_in_the_same_second(api: TestClient, services: Services) -> None:
    services.ingestor.policy.strict_time_order = True
    device = new_device(services.ledger)
    domain = services.ledger.domain
    now = int(time.time())
    assert api.post("/v1/readings", json=signed_body(device, domain, timestamp=now)).status_code == 201
    assert_problem(api.post("/v1/readings", json=signed_body(device, domain, timestamp=now)), 409,
                   "timestamp-not-increasing")  # fmt: skip
    assert codes(batch(api, [signed_body(device, domain, timestamp=now + 1) for _ in range(2)])) == [
        "stored", "timestamp-not-increasing",
    ]  # fmt: skip
    assert stored_count(services) == 2


def test_future_dated_reading_is_refused_in_a_batch(api: TestClient, services: Services) -> None:
    """Attack: a reading dated beyond the clock-skew bound, which would lock the device's time cursor."""
    device = new_device(services.ledger)
    domain = services.ledger.domain
    ahead = int(time.time() + services.ingestor.policy.max_clock_skew) + 5
    assert codes(batch(api, [signed_body(device, domain, timestamp=ahead)])) == ["timestamp-in-future"]
    assert stored_count(services) == 0 and cursor(services, device) is None


@pytest.fixture
def suspended_once(services: Services) -> tuple[Device, int, int]:
    """A device that was suspended for a while and is active again: (device, suspended at, reactivated at)."""
    ledger = services.ledger
    device = new_device(ledger)
    time.sleep(1.1)
    suspended_at = block_time(ledger, ledger.suspend_device(device.device_id))
    time.sleep(1.1)
    reactivated_at = block_time(ledger, ledger.reactivate_device(device.device_id))
    services.registry.refresh(force=True)
    record = services.registry.get(device.device_id)
    assert record is not None and [(p.start, p.end) for p in record.suspensions] == [(suspended_at, reactivated_at)]
    return device, suspended_at, reactivated_at


def test_reading_dated_inside_a_past_suspension_is_refused_after_reactivation(
    api: TestClient, services: Services, suspended_once: tuple[Device, int, int]
) -> None:
    """Attack: a reading taken (or claimed) while the device was suspended, sent after its reactivation."""
    device, suspended_at, reactivated_at = suspended_once
    domain, ledger = services.ledger.domain, services.ledger
    inside = device.reading(timestamp=suspended_at)
    signature = device.sign(inside, domain)
    problem = assert_problem(api.post("/v1/readings", json=body_of(inside, signature)), 422, "dated-in-suspension")
    assert (problem["suspended_from"], problem["suspended_until"]) == (suspended_at, reactivated_at)
    assert not ledger.verify_signed_reading(inside, signature)  # the chain refuses it too
    assert codes(batch(api, [signed_body(device, domain, timestamp=reactivated_at - 1)])) == ["dated-in-suspension"]
    assert stored_count(services) == 0 and cursor(services, device) is None
    before = signed_body(device, domain, timestamp=suspended_at - 1)
    after = signed_body(device, domain, timestamp=reactivated_at)
    assert codes(batch(api, [before, after])) == ["stored", "stored"]


def test_suspension_is_checked_on_the_worker_path_of_large_batches(
    api: TestClient, services: Services, suspended_once: tuple[Device, int, int]
) -> None:
    assert services.ingestor.checks.processes >= 1  # batches of 256 and more are checked in worker processes
    device, suspended_at, reactivated_at = suspended_once
    domain = services.ledger.domain
    times = [suspended_at - 1] * 100 + [suspended_at] * 56 + [reactivated_at] * 100
    results = batch(api, [signed_body(device, domain, timestamp=t) for t in times])
    assert codes(results) == ["stored"] * 100 + ["dated-in-suspension"] * 56 + ["stored"] * 100
    assert stored_count(services) == 200


def test_reading_dated_inside_a_suspension_is_refused_over_mqtt(
    services: Services,
    ingest: MqttIngest,
    devices: DeviceSide,
    suspended_once: tuple[Device, int, int],
) -> None:
    device, suspended_at, reactivated_at = suspended_once
    domain = services.ledger.domain
    devices.publish(device, signed_body(device, domain, timestamp=suspended_at))
    ack = devices.next_ack(device)
    assert (ack["status"], ack["code"]) == ("refused", "dated-in-suspension")
    devices.publish(device, signed_body(device, domain, timestamp=int(time.time()) - 10**6))
    assert devices.next_ack(device)["code"] == "timestamp-too-old"
    devices.publish(device, signed_body(device, domain, timestamp=reactivated_at + 3))
    assert devices.next_ack(device)["status"] == "stored"
    devices.publish(device, signed_body(device, domain, timestamp=reactivated_at + 2))
    assert devices.next_ack(device)["code"] == "timestamp-not-increasing"
    wait_for_stored(services, 1)


def test_device_pushed_to_the_end_of_its_cursor_goes_on_after_a_key_rotation(
    api: TestClient, services: Services
) -> None:
    """Attack: one reading at the largest sequence and at the clock-skew bound, meant to lock the
    device id out; rotating the key starts a fresh cursor."""
    ledger, domain = services.ledger, services.ledger.domain
    device = new_device(ledger)
    at_bound = int(time.time() + services.ingestor.policy.max_clock_skew) - 5
    bad = signed_body(device, domain, sequence=MAX_SEQUENCE, timestamp=at_bound)
    assert api.post("/v1/readings", json=bad).status_code == 201
    device.sequence = 0
    assert_problem(api.post("/v1/readings", json=signed_body(device, domain)), 409, "sequence-not-increasing")
    over = signed_body(device, domain, sequence=MAX_SEQUENCE + 1)
    assert_problem(api.post("/v1/readings", json=over), 422, "validation-error")  # cannot go past the end
    assert_problem(api.post("/v1/readings", json=signed_body(device, domain, sequence=MAX_SEQUENCE - 1)), 409,
                   "sequence-not-increasing")  # fmt: skip

    old_key = device.key
    device.key = DeviceKey.generate(KeyType.P256)
    rotated_at = block_time(ledger, ledger.rotate_key(device.device_id, device.key.public_key))
    services.registry.refresh(force=True)
    time.sleep(max(0.0, rotated_at - time.time()))
    device.sequence = 0
    fresh = [signed_body(device, domain, timestamp=max(rotated_at, int(time.time()))) for _ in range(2)]
    first = api.post("/v1/readings", json=fresh[0])
    assert first.status_code == 201, first.text
    assert codes(batch(api, [fresh[1], fresh[0]])) == ["stored", "duplicate"]
    new_cursor, old_cursor = cursor(services, device, 1), cursor(services, device, 0)
    assert new_cursor is not None and new_cursor.last_sequence == 2
    assert old_cursor is not None and (old_cursor.last_sequence, old_cursor.last_timestamp) == (MAX_SEQUENCE, at_bound)
    # The old key's sequence space is closed: its readings are refused whatever their sequence.
    device.key, device.sequence = old_key, MAX_SEQUENCE - 10
    assert_problem(api.post("/v1/readings", json=signed_body(device, domain)), 422, "key-rotated")

    # The new key's readings anchor and verify on chain; sequence 1 of key 0 and of key 1 coexist.
    batcher = services.batcher()
    batcher.batch_size, batcher.batch_age = 3, 0
    batcher.run_once()
    proof = api.get(f"/v1/readings/{first.json()['id']}/proof")
    assert proof.status_code == 200, proof.text
    message = proof.json()["eip712"]["message"]
    assert message["sequence"] == 1


def test_migration_0009_keeps_cursors_as_key_0_with_their_latest_timestamp(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'before.db'}")
    device = "0x" + "ab" * 32
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0007")
        conn.execute(text("INSERT INTO device_cursor (device_id, last_sequence) VALUES (:d, 7)"), {"d": device})
        for sequence, timestamp in ((6, 1_700_000_000), (7, 1_700_000_050)):
            conn.execute(
                text(
                    "INSERT INTO reading (id, device_id, sequence, timestamp, metric, value, scale, unit, payload_hash,"
                    " digest, signature, signer, received_at) VALUES (:id, :d, :s, :t, 'm', '1', 0, 'u', '0x', '0x',"
                    " '0x', '0x', 0)"
                ),
                {"id": f"0x{sequence:064x}", "d": device, "s": sequence, "t": timestamp},
            )
    upgrade_schema(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT * FROM device_cursor")).all() == [(device, 0, 7, 1_700_000_050)]
        assert {r[0] for r in conn.execute(text("SELECT key_index FROM reading"))} == {0}
    engine.dispose()
