"""provenance_device's buffered sender against the real service: over HTTP (a served app) and over
MQTT (Mosquitto and the service's MQTT ingest). What a device recorded reaches the ledger once, in
sequence order, whether the service was down, the answer was lost, or the device was not yet known."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from ledger_service.app.api.app import create_app
from ledger_service.app.mqtt_ingest import MqttIngest
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey as CoreDeviceKey
from ledger_service.services.container import Services
from ledger_service.services.devices import default_device_id
from provenance_device import DeviceKey, Domain, HttpTransport, MqttTransport, Outbox, Sender
from tests.utils.factories import Device, new_device
from tests.utils.mqtt import stored_ids, wait_for_stored
from tests.utils.service import serving

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(services: Services) -> FastAPI:
    return create_app(services)


@pytest.fixture
def url(app: FastAPI) -> Iterator[str]:
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


def dead_url() -> str:
    """A URL nothing listens on (a port just served and closed)."""
    with serving(FastAPI()) as port:
        pass
    return f"http://127.0.0.1:{port}"


def sender_for(services: Services, device: Device, tmp_path: Path, transport: object, **options: object) -> Sender:
    """The library's sender for a device the tests' factory made (the same key, read the library's way)."""
    key = DeviceKey(device.key.key_type.label, device.key.secret)
    domain = Domain(services.ledger.domain.chain_id, services.ledger.domain.verifying_contract)
    outbox = Outbox(tmp_path / f"outbox-{uuid.uuid4().hex[:8]}.db", first_sequence=1)
    return Sender(key, device.device_id, domain, outbox, transport, **options)  # type: ignore[arg-type]


def stored_sequences(services: Services) -> list[int]:
    with services.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT sequence FROM reading ORDER BY received_at, sequence").all()
    return [row[0] for row in rows]


@pytest.mark.parametrize("key_type", [KeyType.SECP256K1, KeyType.P256])
def test_recorded_readings_reach_the_ledger_in_order_and_leave_the_outbox(
    services: Services, url: str, tmp_path: Path, key_type: KeyType
) -> None:
    sender = sender_for(services, new_device(services.ledger, key_type), tmp_path, HttpTransport(url), batch_size=2)
    bodies = [sender.record("temperature", 2100 + n, scale=2, unit="Cel") for n in range(5)]
    report = sender.flush()
    assert (report.confirmed, report.refused, report.pending, report.error) == (5, 0, 0, None)
    assert stored_sequences(services) == [b["sequence"] for b in bodies] == [1, 2, 3, 4, 5]
    assert len(stored_ids(services)) == 5


def test_readings_recorded_while_the_service_is_down_are_sent_when_it_is_back(
    services: Services, app: FastAPI, tmp_path: Path
) -> None:
    sender = sender_for(services, new_device(services.ledger), tmp_path, HttpTransport(dead_url(), timeout=2))
    for n in range(3):
        sender.record("temperature", n)
    report = sender.flush()
    assert report.confirmed == 0 and report.pending == 3 and "Connection refused" in str(report.error)
    assert stored_sequences(services) == []
    with serving(app) as port:
        sender.transport = HttpTransport(f"http://127.0.0.1:{port}")
        report = sender.flush()
    assert (report.confirmed, report.pending, report.error) == (3, 0, None)
    assert stored_sequences(services) == [1, 2, 3]


def test_readings_sent_again_after_a_lost_answer_are_stored_once(services: Services, url: str, tmp_path: Path) -> None:
    sender = sender_for(services, new_device(services.ledger), tmp_path, HttpTransport(url))
    for n in range(3):
        sender.record("temperature", n)
    # the service stored them, and the device died before it could note the answer
    assert [o.status for o in sender.transport.send(sender.outbox.pending(10))] == ["stored"] * 3  # type: ignore[attr-defined]
    sender.outbox.close()
    restarted = Sender(sender.key, sender.device_id, sender.domain, Outbox(sender.outbox.path), HttpTransport(url))
    assert len(restarted.outbox) == 3 and restarted.outbox.next_sequence == 4
    report = restarted.flush()
    assert (report.confirmed, report.pending) == (3, 0)
    restarted.record("temperature", 9)
    assert restarted.flush().confirmed == 1
    assert stored_sequences(services) == [1, 2, 3, 4]


def test_a_reading_signed_with_the_wrong_key_is_set_aside_with_its_code(
    services: Services, url: str, tmp_path: Path
) -> None:
    device = new_device(services.ledger)
    impostor = Device(key=device.key.generate(KeyType.SECP256K1), device_id=device.device_id)
    sender = sender_for(services, impostor, tmp_path, HttpTransport(url))
    sender.record("temperature", 1)
    report = sender.flush()
    assert (report.confirmed, report.refused, report.pending) == (0, 1, 0)
    assert [(sequence, code) for sequence, code, _ in sender.outbox.refused()] == [(1, "invalid-signature")]
    assert stored_sequences(services) == []


def test_a_device_not_yet_registered_keeps_its_readings_until_it_is(
    services: Services, url: str, tmp_path: Path
) -> None:
    device = new_device()  # not registered yet
    sender = sender_for(services, device, tmp_path, HttpTransport(url))
    sender.record("temperature", 1, timestamp=int(time.time()) + 30)  # dated after the registration to come
    report = sender.flush()
    assert report.pending == 1 and report.refused == 0 and "unknown-device" in str(report.error)
    services.ledger.register_device(device.device_id, device.key.public_key)
    report = sender.flush()
    assert (report.confirmed, report.pending, report.error) == (1, 0, None)


def test_over_mqtt_a_reading_is_confirmed_by_the_services_result(
    services: Services, ingest: MqttIngest, broker: tuple[str, int], prefix: str, tmp_path: Path
) -> None:
    transport = MqttTransport(*broker, prefix=prefix, timeout=10)
    sender = sender_for(services, new_device(services.ledger, KeyType.P256), tmp_path, transport, batch_size=2)
    for n in range(3):
        sender.record("humidity", n, unit="%")
    try:
        report = sender.flush()
    finally:
        transport.close()
    assert (report.confirmed, report.pending, report.error) == (3, 0, None)
    assert stored_sequences(services) == [1, 2, 3]


def test_over_mqtt_nothing_is_confirmed_while_the_service_is_away(
    services: Services, make_ingest: object, broker: tuple[str, int], prefix: str, tmp_path: Path
) -> None:
    transport = MqttTransport(*broker, prefix=prefix, timeout=1)
    sender = sender_for(services, new_device(services.ledger), tmp_path, transport)
    sender.record("humidity", 1)
    try:
        report = sender.flush()
        assert report.confirmed == 0 and report.pending == 1 and "no confirmation" in str(report.error)
        make_ingest().start()  # type: ignore[operator]
        transport.timeout = 10
        report = sender.flush()
    finally:
        transport.close()
    assert (report.confirmed, report.pending) == (1, 0)
    wait_for_stored(services, 1)


def test_over_mqtt_the_broker_can_be_the_one_to_confirm(
    services: Services, broker: tuple[str, int], prefix: str, tmp_path: Path
) -> None:
    transport = MqttTransport(*broker, prefix=prefix, confirm="broker", timeout=5)
    sender = sender_for(services, new_device(services.ledger), tmp_path, transport)
    sender.record("humidity", 1)
    try:
        report = sender.flush()
    finally:
        transport.close()
    assert (report.confirmed, report.pending) == (1, 0)
    with pytest.raises(ValueError):
        MqttTransport(*broker, confirm="nobody")


DEVICE_PROCESS = """
import sys, threading
from pathlib import Path
from provenance_device import DeviceKey, Domain, HttpTransport, Outbox, Sender
key_file, device_id, chain_id, registry, outbox, url, count = sys.argv[1:]
sender = Sender(DeviceKey.load(Path(key_file)), bytes.fromhex(device_id), Domain(int(chain_id), registry),
                Outbox(outbox, first_sequence=1), HttpTransport(url), batch_size=5)
for n in range(int(count)):
    sender.record("temperature", n)
print("recorded", flush=True)
sender.run(threading.Event(), interval=0.01)
"""


def test_a_device_killed_while_sending_delivers_everything_once_after_a_restart(
    services: Services, url: str, tmp_path: Path
) -> None:
    device = new_device(services.ledger)
    device.key.save(tmp_path / "device.key")
    domain = services.ledger.domain
    args = [str(tmp_path / "device.key"), device.device_id.hex(), str(domain.chain_id), domain.verifying_contract]
    args += [str(tmp_path / "outbox.db"), url]

    def start(count: int) -> subprocess.Popen[str]:
        command = [sys.executable, "-c", DEVICE_PROCESS, *args, str(count)]
        return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    first = start(60)
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "recorded"
        deadline = time.monotonic() + 30
        while len(stored_sequences(services)) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)  # in the middle of sending
    finally:
        first.kill()
        first.wait()
    assert 10 <= len(stored_sequences(services)) < 60 or stored_sequences(services) == list(range(1, 61))
    second = start(0)  # the same outbox, nothing new recorded
    try:
        deadline = time.monotonic() + 60
        while len(stored_sequences(services)) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        second.kill()
        second.wait()
    assert stored_sequences(services) == list(range(1, 61))


@pytest.mark.parametrize("key_type", [KeyType.SECP256K1, KeyType.P256])
def test_the_readmes_device_example_sends_readings_under_the_default_id(
    services: Services, url: str, tmp_path: Path, key_type: KeyType
) -> None:
    key = CoreDeviceKey.generate(key_type)
    key.save(tmp_path / "device.key")
    device_id = default_device_id(key.public_key)
    assert DeviceKey.load(tmp_path / "device.key").default_device_id == device_id
    services.ledger.register_device(device_id, key.public_key)
    command = [sys.executable, str(ROOT / "scripts" / "device_example.py"), "--key", str(tmp_path / "device.key")]
    command += ["--api", url, "--outbox", str(tmp_path / "outbox.db"), "--count", "3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"device 0x{device_id.hex()}: confirmed 3, refused 0, still queued 0" in done.stdout
    assert stored_sequences(services) == [1, 2, 3]
