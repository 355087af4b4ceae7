"""The edge gateway between real devices (the device library) and the real service: readings it
acknowledges reach upstream once, in each device's order, whether upstream was down, the reading
also came directly, the gateway restarted offline, or upstream's registry moved on."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from edge.gateway import Gateway
from ledger_service.app.api.app import create_app
from ledger_service.app.cli import app as cli_app
from ledger_service.app.edge_api import create_edge_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.enums import KeyType
from ledger_service.services.container import Services
from provenance_device import DeviceKey, Domain, HttpTransport, Outbox, Sender
from tests.utils.edge import hand_in, make_gateway
from tests.utils.factories import Device, new_device, signed_body
from tests.utils.service import serving

DEAD = "http://127.0.0.1:9"  # the discard port: nothing answers there


def upstream_sequences(services: Services, device: Device) -> list[int]:
    with services.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT sequence FROM reading WHERE device_id = %s ORDER BY received_at, sequence"
            if services.engine.dialect.name == "postgresql"
            else "SELECT sequence FROM reading WHERE device_id = ? ORDER BY received_at, sequence",
            ("0x" + device.device_id.hex(),),
        ).all()
    return [row[0] for row in rows]


def device_sender(gateway: Gateway, device: Device, url: str, tmp_path: Path) -> Sender:
    key = DeviceKey(device.key.key_type.label, device.key.secret)
    domain = Domain(gateway.domain.chain_id, gateway.domain.verifying_contract)
    outbox = Outbox(tmp_path / f"device-{uuid.uuid4().hex[:8]}.db", first_sequence=1)
    return Sender(key, device.device_id, domain, outbox, HttpTransport(url))


def test_readings_the_gateway_took_reach_upstream_once_in_each_devices_order(
    services: Services, gateway: Gateway, tmp_path: Path
) -> None:
    devices = [new_device(services.ledger), new_device(services.ledger, KeyType.P256)]
    gateway.sync_registry()
    with serving(create_edge_app(gateway)) as port:
        senders = [device_sender(gateway, d, f"http://127.0.0.1:{port}", tmp_path) for d in devices]
        for round_ in range(3):
            for sender in senders:
                sender.record("temperature", round_)
                sender.record("temperature", round_ + 10)
            assert all(sender.flush().confirmed == 2 for sender in senders)  # held by the gateway
    assert [upstream_sequences(services, d) for d in devices] == [[], []]
    assert gateway.status()["pending"] == 12
    report = gateway.forwarder.forward_once()
    assert (report.forwarded, report.refused, report.error) == (12, 0, None)
    assert [upstream_sequences(services, d) for d in devices] == [[1, 2, 3, 4, 5, 6]] * 2
    assert gateway.forwarder.forward_once().forwarded == 0  # nothing twice
    assert gateway.status()["pending"] == 0 and gateway.status()["forwarded"] == 12


def test_the_gateway_holds_readings_while_upstream_is_down_and_catches_up(
    services: Services, chain: ChainContext, upstream: str, tmp_path: Path
) -> None:
    gateway = make_gateway(tmp_path / "edge.db", chain, DEAD)
    try:
        device = new_device(services.ledger)
        gateway.sync_registry()
        hand_in(gateway, device, services.ledger.domain, 5)
        report = gateway.forwarder.forward_once()
        assert report.forwarded == 0 and report.error is not None
        assert gateway.status()["upstream_error"] == report.error and gateway.status()["pending"] == 5
        gateway.forwarder.transport = HttpTransport(upstream)  # the link is back
        assert gateway.forwarder.forward_once().forwarded == 5
        assert upstream_sequences(services, device) == [1, 2, 3, 4, 5]
    finally:
        gateway.close()


def test_a_reading_that_came_both_directly_and_through_the_gateway_is_stored_once(
    services: Services, gateway: Gateway, upstream: str
) -> None:
    device = new_device(services.ledger)
    gateway.sync_registry()
    body = signed_body(device, services.ledger.domain)
    assert TestClient(create_app(services)).post("/v1/readings", json=body).status_code == 201
    assert TestClient(create_edge_app(gateway)).post("/v1/readings", json=body).status_code == 201
    report = gateway.forwarder.forward_once()
    assert (report.forwarded, report.refused) == (1, 0)  # upstream answered it as a duplicate
    assert upstream_sequences(services, device) == [1]


def test_a_gateway_restarted_offline_checks_readings_against_its_last_registry_copy(
    services: Services, chain: ChainContext, tmp_path: Path
) -> None:
    known, unknown = new_device(services.ledger), new_device()
    first = make_gateway(tmp_path / "edge.db", chain, DEAD)
    assert first.sync_registry()
    first.close()
    services.ledger.register_device(unknown.device_id, unknown.key.public_key)  # after the copy was taken
    offline = make_gateway(tmp_path / "edge.db", chain, DEAD, rpc=DEAD)
    try:
        assert not offline.sync_registry()
        api = TestClient(create_edge_app(offline))
        accepted = api.post("/v1/readings", json=signed_body(known, services.ledger.domain))
        assert accepted.status_code == 201
        refused = api.post("/v1/readings", json=signed_body(unknown, services.ledger.domain))
        assert refused.status_code == 422 and refused.json()["code"] == "unknown-device"
        status = api.get("/v1/edge/status").json()
        assert status["pending"] == 1 and status["registry_age"] is not None and status["registry_age"] >= 0
        [pending] = offline.store.pending(10)
        assert pending.id == accepted.json()["id"] and pending.registry_age is not None
        health = api.get("/health").json()
        assert (health["chain_id"], health["contracts"]["DeviceRegistry"]) == (
            offline.domain.chain_id, offline.domain.verifying_contract
        )  # fmt: skip
    finally:
        offline.close()


def test_the_gateway_refuses_a_forged_reading_and_holds_nothing(services: Services, gateway: Gateway) -> None:
    device, forger = new_device(services.ledger), new_device()
    gateway.sync_registry()
    reading = device.reading()
    forged = signed_body(forger, services.ledger.domain, device_id=device.device_id, sequence=reading.sequence)
    answer = TestClient(create_edge_app(gateway)).post("/v1/readings", json=forged)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid-signature"
    assert answer.headers["content-type"] == "application/problem+json"
    assert gateway.status()["pending"] == 0


def test_a_reading_upstream_refuses_is_recorded_with_its_code_and_the_rest_go_on(
    services: Services, gateway: Gateway
) -> None:
    revoked, other = new_device(services.ledger), new_device(services.ledger)
    gateway.sync_registry()
    api = TestClient(create_edge_app(gateway))
    assert api.post("/v1/readings", json=signed_body(revoked, services.ledger.domain)).status_code == 201
    assert api.post("/v1/readings", json=signed_body(other, services.ledger.domain)).status_code == 201
    services.ledger.revoke_device(revoked.device_id)  # upstream's registry moves on before the link is up
    services.registry.refresh(force=True)
    report = gateway.forwarder.forward_once()
    assert (report.forwarded, report.refused) == (1, 1)
    [(_, code, _)] = gateway.store.refused()
    assert code == "device-revoked"
    assert upstream_sequences(services, other) == [1] and upstream_sequences(services, revoked) == []
    assert gateway.status()["refused_upstream"] == 1 and gateway.status()["pending"] == 0


def test_a_reading_upstream_refuses_for_now_waits_and_the_others_are_not_sent_twice(
    services: Services, chain: ChainContext, upstream: str, tmp_path: Path
) -> None:
    gateway = make_gateway(tmp_path / "edge.db", chain, upstream, max_clock_skew=3600.0)  # laxer than upstream's
    try:
        early, fine = new_device(services.ledger), new_device(services.ledger)
        gateway.sync_registry()
        api = TestClient(create_edge_app(gateway))
        ahead = signed_body(early, services.ledger.domain, timestamp=int(time.time()) + 1800)  # a clock far ahead
        assert api.post("/v1/readings", json=ahead).status_code == 201
        assert api.post("/v1/readings", json=signed_body(fine, services.ledger.domain)).status_code == 201
        report = gateway.forwarder.forward_once()
        assert report.forwarded == 1 and "timestamp-in-future" in str(report.error)
        [waiting] = gateway.store.pending(10)
        assert waiting.body["device_id"] == "0x" + early.device_id.hex()
        again = gateway.forwarder.forward_once()  # only the waiting one goes again
        assert again.forwarded == 0 and "timestamp-in-future" in str(again.error)
        assert gateway.status()["pending"] == 1 and gateway.store.refused() == []
        assert upstream_sequences(services, fine) == [1] and upstream_sequences(services, early) == []
    finally:
        gateway.close()


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        ([], {}, "--upstream"),
        (["--upstream", "http://127.0.0.1:9"], {}, "PROVENANCE_RPC_URL"),
        (["--upstream", "http://127.0.0.1:9"], {"PROVENANCE_RPC_URL": "http://127.0.0.1:9"}, "no deployment manifest"),
        (
            ["--upstream", "http://127.0.0.1:9", "--key", "/nonexistent.key"],
            {"PROVENANCE_RPC_URL": "http://127.0.0.1:9"},
            "cannot read the gateway's key file",
        ),
        (
            ["--upstream", "http://127.0.0.1:9", "--artifacts", "/nonexistent"],
            {"PROVENANCE_RPC_URL": "http://127.0.0.1:9"},
            "no compiled DeviceRegistry",
        ),
        (
            ["--upstream", "http://127.0.0.1:9", "--gateway-id", "0x01"],
            {"PROVENANCE_RPC_URL": "http://127.0.0.1:9"},
            "--gateway-id goes with --key",
        ),
    ],
)
def test_provenance_edge_without_what_it_needs_says_so_and_exits_non_zero(
    tmp_path: Path, arguments: list[str], env: dict[str, str], message: str
) -> None:
    done = CliRunner().invoke(cli_app, ["edge", *arguments], env={"PROVENANCE_DATA_DIR": str(tmp_path), **env})
    assert done.exit_code == 1 and message in done.output


def test_a_compromised_gateway_cannot_get_an_altered_reading_past_upstream(
    services: Services, gateway: Gateway
) -> None:
    device = new_device(services.ledger)
    gateway.sync_registry()
    api = TestClient(create_edge_app(gateway))
    assert api.post("/v1/readings", json=signed_body(device, services.ledger.domain, value=400)).status_code == 201
    with gateway.engine.begin() as connection:  # the gateway's owner rewrites the value it holds
        connection.exec_driver_sql("UPDATE reading SET value = '-2000'")
    report = gateway.forwarder.forward_once()
    assert (report.forwarded, report.refused) == (0, 1)
    [(_, code, _)] = gateway.store.refused()
    assert code == "invalid-signature"
    assert upstream_sequences(services, device) == []


def test_the_gateway_reports_each_devices_gaps_and_clock_skew(services: Services, gateway: Gateway) -> None:
    device, steady = new_device(services.ledger), new_device(services.ledger)
    gateway.sync_registry()
    api = TestClient(create_edge_app(gateway))
    ahead = int(time.time()) + 90  # a device clock a minute and a half ahead (within the allowed skew)
    for sequence in (1, 2, 5, 9):
        body = signed_body(device, services.ledger.domain, sequence=sequence, timestamp=ahead + sequence)
        answer = api.post("/v1/readings", json=body)
        assert answer.status_code == 201, answer.json()
    assert api.post("/v1/readings", json=signed_body(steady, services.ledger.domain)).status_code == 201
    report = {d["device_id"]: d for d in api.get("/v1/edge/devices").json()["data"]}
    seen = report["0x" + device.device_id.hex()]
    assert (seen["readings"], seen["first_sequence"], seen["last_sequence"]) == (4, 1, 9)
    assert seen["gaps"] == [[3, 4], [6, 8]] and seen["missing"] == 5
    assert -120 < seen["clock_skew"]["min"] <= seen["clock_skew"]["max"] < -60
    other = report["0x" + steady.device_id.hex()]
    assert other["gaps"] == [] and abs(other["clock_skew"]["max"]) < 30
    assert api.get("/v1/edge/devices", params={"limit": 0}).status_code == 422


def test_a_gap_no_late_reading_could_fill_any_more_is_reported_as_given_up(
    services: Services, chain: ChainContext, tmp_path: Path
) -> None:
    """Readings older than the age limit are refused, and a device's missing readings are older than
    the reading after them: once that one is past the limit, the gap is given up, not left open."""
    device = new_device(services.ledger)
    lax = make_gateway(tmp_path / "edge.db", chain, DEAD)
    try:
        lax.sync_registry()
        for sequences in ((1, 3), (4, 7)):
            taken = max(int(time.time()), int(chain.client.w3.eth.get_block("latest")["timestamp"]))
            for sequence in sequences:
                hand_in(lax, device, services.ledger.domain, sequence=sequence, timestamp=taken)
            if sequences == (1, 3):
                time.sleep(5.5)
    finally:
        lax.close()
    strict = make_gateway(tmp_path / "edge.db", chain, DEAD, max_reading_age=4.0)  # the gateway's limit now
    try:
        [seen] = TestClient(create_edge_app(strict)).get("/v1/edge/devices").json()["data"]
        assert (seen["gaps"], seen["given_up"], seen["missing"]) == ([[5, 6]], [[2, 2]], 2)
    finally:
        strict.close()
