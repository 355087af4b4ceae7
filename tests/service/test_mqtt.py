"""MQTT ingest over a real Mosquitto broker and real services: storage, duplicates, arrays, refusals,
acknowledgement after storage and a persistent session across restarts."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import pytest

from ledger_service.core.enums import KeyType
from ledger_service.core.errors import UnknownDevice
from ledger_service.core.keys import DeviceKey
from ledger_service.core.readings import Reading
from ledger_service.services.container import Services
from ledger_service.services.ingest import Ingestor, ItemResult
from tests.utils.external import IN_CI, require_service
from tests.utils.factories import Device, body_of, new_device, signed_body

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    from ledger_service.app.mqtt_ingest import MqttError, MqttIngest
except ImportError:  # pragma: no cover - paho-mqtt not installed
    if IN_CI:
        raise
    pytest.skip("paho-mqtt is not installed", allow_module_level=True)

from tests.utils.mqtt import WAIT, DeviceSide, IngestFactory, stored_ids, wait_for_stored  # noqa: E402 - needs paho


@pytest.fixture
def device(services: Services) -> Device:
    return new_device(services.ledger)


def test_published_reading_is_stored_then_acknowledged(
    services: Services, ingest: MqttIngest, devices: DeviceSide, device: Device
) -> None:
    devices.publish(device, signed_body(device, services.ledger.domain))
    [reading_id] = wait_for_stored(services, 1)
    assert devices.next_ack(device) == {
        "id": reading_id,
        "status": "stored",
        "code": None,
        "detail": None,
        "sequence": 1,
    }
    assert ingest.connected
    stats = ingest.stats
    assert (stats.received, stats.stored, stats.duplicates, stats.refused) == (1, 1, 0, 0)


def test_duplicate_publish_is_stored_once(
    services: Services, ingest: MqttIngest, devices: DeviceSide, device: Device
) -> None:
    body = signed_body(device, services.ledger.domain)
    devices.publish(device, body)
    devices.publish(device, body)
    first, second = devices.next_ack(device), devices.next_ack(device)
    assert (first["status"], second["status"]) == ("stored", "duplicate")
    assert first["id"] == second["id"]
    assert wait_for_stored(services, 1) == [first["id"]]
    assert (ingest.stats.stored, ingest.stats.duplicates) == (1, 1)


def test_json_array_of_readings_is_stored(
    services: Services, ingest: MqttIngest, devices: DeviceSide, device: Device
) -> None:
    bodies = [signed_body(device, services.ledger.domain) for _ in range(3)]
    devices.publish(device, bodies)
    ids = wait_for_stored(services, 3)
    acks = [devices.next_ack(device) for _ in bodies]
    assert [(a["status"], a["sequence"]) for a in acks] == [("stored", 1), ("stored", 2), ("stored", 3)]
    assert [a["id"] for a in acks] == ids
    assert (ingest.stats.received, ingest.stats.stored) == (1, 3)


def test_array_with_a_bad_reading_stores_the_others(
    services: Services, ingest: MqttIngest, devices: DeviceSide, device: Device
) -> None:
    domain = services.ledger.domain
    first = signed_body(device, domain)
    forged = device.reading()
    bodies = [
        first,
        body_of(forged, DeviceKey.generate(KeyType.SECP256K1).sign(forged.digest(domain))),
        signed_body(device, domain),
    ]
    devices.publish(device, bodies)
    acks = [devices.next_ack(device) for _ in bodies]
    assert [(a["status"], a["code"], a["sequence"]) for a in acks] == [
        ("stored", None, 1),
        ("refused", "invalid-signature", 2),
        ("stored", None, 3),
    ]
    assert wait_for_stored(services, 2) == [acks[0]["id"], acks[2]["id"]]


def test_an_array_of_forged_readings_stops_being_checked(
    services: Services, make_ingest: IngestFactory, devices: DeviceSide, device: Device
) -> None:
    make_ingest(max_bad_signatures=3).start()
    domain = services.ledger.domain
    forger = DeviceKey.generate(KeyType.SECP256K1)
    bodies = [signed_body(device, domain)]
    for _ in range(50):
        reading = device.reading()
        bodies.append(body_of(reading, forger.sign(reading.digest(domain))))
    devices.publish(device, bodies)
    acks = [devices.next_ack(device) for _ in bodies]
    assert {(a["status"], a["code"]) for a in acks} == {("refused", "too-many-bad-signatures")}
    assert [a["sequence"] for a in acks] == list(range(1, 52))
    time.sleep(0.3)
    assert stored_ids(services) == []  # nothing of the message, not even its good reading
    devices.publish(device, [signed_body(device, domain)])  # acknowledged: the next message is handled
    assert devices.next_ack(device)["status"] == "stored"


def _not_json(services: Services, device: Device, other: Device) -> tuple[Device, bytes]:
    return device, b"{not json"


def _not_utf8(services: Services, device: Device, other: Device) -> tuple[Device, bytes]:
    return device, b"\xff\xfe\x00"


def _not_a_reading(services: Services, device: Device, other: Device) -> tuple[Device, bytes]:
    return device, b"42"


def _empty_array(services: Services, device: Device, other: Device) -> tuple[Device, bytes]:
    return device, b"[]"


def _wrong_type(services: Services, device: Device, other: Device) -> tuple[Device, bytes]:
    body = signed_body(device, services.ledger.domain)
    body["sequence"] = str(body["sequence"])
    return device, json.dumps(body).encode()


def _bad_signature(services: Services, device: Device, other: Device) -> tuple[Device, bytes]:
    body = signed_body(device, services.ledger.domain)
    body["value"] += 1  # altered after signing
    return device, json.dumps(body).encode()


def _unknown_device(services: Services, device: Device, other: Device) -> tuple[Device, bytes]:
    stranger = new_device(None)
    return stranger, json.dumps(signed_body(stranger, services.ledger.domain)).encode()


def _topic_mismatch(services: Services, device: Device, other: Device) -> tuple[Device, bytes]:
    return device, json.dumps(signed_body(other, services.ledger.domain)).encode()


@pytest.mark.parametrize(
    ("make_message", "code"),
    [
        (_not_json, "invalid-json"),
        (_not_utf8, "invalid-json"),
        (_not_a_reading, "validation-error"),
        (_empty_array, "validation-error"),
        (_wrong_type, "validation-error"),
        (_bad_signature, "invalid-signature"),
        (_unknown_device, UnknownDevice.code),
        (_topic_mismatch, "topic-mismatch"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_bad_message_is_refused_acknowledged_and_does_not_block_the_topic(
    services: Services,
    ingest: MqttIngest,
    devices: DeviceSide,
    device: Device,
    make_message: Callable[[Services, Device, Device], tuple[Device, bytes]],
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="ledger_service.app.mqtt_ingest")
    other = new_device(services.ledger)
    sender, payload = make_message(services, device, other)
    devices.publish(sender, payload)

    refused = devices.next_ack(sender)
    assert refused["status"] == "refused"
    assert refused["id"] is None
    assert refused["code"] == code, refused
    assert refused["detail"]
    assert stored_ids(services) == []
    [record] = [r for r in caplog.records if r.getMessage() == "mqtt reading refused"]
    assert (record.topic, record.code) == (devices.topic(sender), code)  # type: ignore[attr-defined]

    if sender.device_id != device.device_id and sender.device_id != other.device_id:
        services.ledger.register_device(sender.device_id, sender.key.public_key)  # the stranger joins
    devices.publish(sender, signed_body(sender, services.ledger.domain))
    stored = devices.next_ack(sender)
    assert stored["status"] == "stored", stored
    assert wait_for_stored(services, 1) == [stored["id"]]
    assert (ingest.stats.received, ingest.stats.stored, ingest.stats.refused) == (2, 1, 1)


def test_readings_published_while_stopped_are_stored_on_restart(
    services: Services, make_ingest: IngestFactory, devices: DeviceSide, device: Device
) -> None:
    client_id = f"test-ingest-{uuid.uuid4().hex[:12]}"
    first = make_ingest(client_id=client_id)
    first.start()  # creates the session and its subscription on the broker
    first.stop()

    bodies = [signed_body(device, services.ledger.domain) for _ in range(3)]
    for body in bodies[:2]:
        devices.publish(device, body)
    devices.publish(device, bodies[2:])
    time.sleep(0.2)
    assert stored_ids(services) == []

    second = make_ingest(client_id=client_id)
    second.start()
    assert len(wait_for_stored(services, 3)) == 3
    assert [devices.next_ack(device)["status"] for _ in bodies] == ["stored"] * 3
    assert (second.stats.received, second.stats.stored) == (3, 3)


class FailingIngestor(Ingestor):
    """An ingestor whose first `failures` calls fail as if the database were down (None: all of them)."""

    def __init__(self, inner: Ingestor, failures: int | None) -> None:
        super().__init__(inner.engine, inner.domain, inner.registry, inner.policy.max_clock_skew, inner.policy.clock)
        self.failures = failures
        self.calls = 0

    def ingest_many(self, items: Sequence[tuple[Reading, bytes]], max_bad: int | None = None) -> list[ItemResult]:
        self.calls += 1
        if self.failures is None or self.calls <= self.failures:
            raise RuntimeError("database unavailable")
        return super().ingest_many(items, max_bad)


def test_transient_failure_is_retried_before_acknowledging(
    services: Services, make_ingest: IngestFactory, devices: DeviceSide, device: Device
) -> None:
    flaky = FailingIngestor(services.ingestor, failures=2)
    ingest = make_ingest(ingestor=flaky)
    ingest.start()
    devices.publish(device, signed_body(device, services.ledger.domain))
    ack = devices.next_ack(device)
    assert ack["status"] == "stored"
    assert wait_for_stored(services, 1) == [ack["id"]]
    assert (flaky.calls, ingest.stats.retries, ingest.stats.stored) == (3, 2, 1)


def test_message_not_stored_is_not_acknowledged_and_comes_again(
    services: Services, make_ingest: IngestFactory, devices: DeviceSide, device: Device
) -> None:
    client_id = f"test-ingest-{uuid.uuid4().hex[:12]}"
    broken = FailingIngestor(services.ingestor, failures=None)
    first = make_ingest(client_id=client_id, ingestor=broken)
    first.start()
    devices.publish(device, signed_body(device, services.ledger.domain))
    deadline = time.monotonic() + WAIT
    while broken.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert broken.calls >= 2
    first.stop()  # gives up while retrying: the message stays unacknowledged on the broker
    assert stored_ids(services) == []
    assert devices.acks.empty()

    second = make_ingest(client_id=client_id)
    second.start()
    ack = devices.next_ack(device)
    assert ack["status"] == "stored"
    assert wait_for_stored(services, 1) == [ack["id"]]


def test_start_fails_when_the_broker_cannot_be_reached() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ingest = MqttIngest(cast(Ingestor, None), "127.0.0.1", port, topic_prefix="unreachable")
    with pytest.raises(MqttError, match="cannot connect"):
        ingest.start(timeout=2)


@pytest.mark.parametrize("bad", [{"qos": 2}, {"topic_prefix": "a/+/b"}, {"topic_prefix": ""}])
def test_invalid_options_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MqttIngest(cast(Ingestor, None), "127.0.0.1", **bad)


# MQTT over TLS with client certificates, on a broker of the test's own


def _write_cert(
    path: Any, subject: str, key: Any, issuer: tuple[Any, Any] | None, server: bool = False, ca: bool = False
) -> Any:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.sign(issuer_key, hashes.SHA256())
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.with_suffix(".key").chmod(0o600)
    return cert


@pytest.fixture
def tls_broker(tmp_path: Any) -> Iterator[dict[str, Any]]:
    """A Mosquitto of this test's own with a TLS listener that requires client certificates
    signed by the test's CA; stopped at the end."""
    import getpass
    import shutil
    import subprocess

    from cryptography.hazmat.primitives.asymmetric import ec

    from ledger_service.core.chain.node import free_port

    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(binary):
        require_service("Mosquitto binary", binary)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _write_cert(tmp_path / "ca", "provenance test CA", ca_key, None, ca=True)
    _write_cert(tmp_path / "server", "127.0.0.1", ec.generate_private_key(ec.SECP256R1()), (ca, ca_key), server=True)
    _write_cert(tmp_path / "client", "gateway-1", ec.generate_private_key(ec.SECP256R1()), (ca, ca_key))
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_ca = _write_cert(tmp_path / "rogue-ca", "rogue CA", rogue_key, None, ca=True)
    _write_cert(tmp_path / "rogue", "gateway-2", ec.generate_private_key(ec.SECP256R1()), (rogue_ca, rogue_key))
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        "\n".join(
            [
                "persistence false",
                "log_dest stderr",
                f"user {getpass.getuser()}",  # as root, mosquitto would switch to a user who cannot read the keys
                f"listener {port} 127.0.0.1",
                f"cafile {tmp_path / 'ca.pem'}",
                f"certfile {tmp_path / 'server.pem'}",
                f"keyfile {tmp_path / 'server.key'}",
                "require_certificate true",
                "use_identity_as_username true",
                "allow_anonymous true",
                "",
            ]
        )
    )
    log = (tmp_path / "mosquitto.log").open("wb")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {(tmp_path / 'mosquitto.log').read_text()}") from None
                time.sleep(0.05)
        yield {"port": port, "dir": tmp_path}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _tls_settings(services: Services, broker: dict[str, Any], prefix: str, client: str | None) -> Any:
    folder = broker["dir"]
    return services.settings.model_copy(
        update={
            "mqtt_host": "127.0.0.1",
            "mqtt_port": broker["port"],
            "mqtt_topic_prefix": prefix,
            "mqtt_client_id": f"test-tls-{uuid.uuid4().hex[:8]}",
            "mqtt_ca_file": folder / "ca.pem",
            "mqtt_cert_file": folder / f"{client}.pem" if client else None,
            "mqtt_key_file": folder / f"{client}.key" if client else None,
        }
    )


def test_ingest_over_tls_with_a_client_certificate(
    services: Services, tls_broker: dict[str, Any], prefix: str, device: Device
) -> None:
    from ledger_service.app.mqtt_client import client_tls_context

    ingest = MqttIngest.from_settings(services.ingestor, _tls_settings(services, tls_broker, prefix, "client"))
    ingest.start(timeout=5)
    try:
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        folder = tls_broker["dir"]
        publisher.tls_set_context(client_tls_context(folder / "ca.pem", folder / "client.pem", folder / "client.key"))
        publisher.connect("127.0.0.1", tls_broker["port"])
        publisher.loop_start()
        try:
            body = signed_body(device, services.ledger.domain)
            topic = f"{prefix}/0x{device.device_id.hex()}/readings"
            publisher.publish(topic, json.dumps(body).encode(), qos=1).wait_for_publish(WAIT)
            assert len(wait_for_stored(services, 1)) == 1
        finally:
            publisher.disconnect()
            publisher.loop_stop()
    finally:
        ingest.stop()


@pytest.mark.parametrize("client", [None, "rogue"], ids=["no-certificate", "certificate-of-another-ca"])
def test_a_client_without_an_accepted_certificate_is_refused(
    services: Services, tls_broker: dict[str, Any], prefix: str, client: str | None
) -> None:
    ingest = MqttIngest.from_settings(services.ingestor, _tls_settings(services, tls_broker, prefix, client))
    with pytest.raises(MqttError):
        ingest.start(timeout=3)
    ingest.stop()
    plain = MqttIngest.from_settings(
        services.ingestor,
        _tls_settings(services, tls_broker, prefix, None).model_copy(update={"mqtt_ca_file": None}),
    )
    with pytest.raises(MqttError):  # no TLS at all
        plain.start(timeout=3)
    plain.stop()
    assert stored_ids(services) == []


def test_a_client_key_without_its_certificate_is_a_configuration_error(tmp_path: Any) -> None:
    from ledger_service.app.mqtt_client import client_tls_context

    with pytest.raises(ValueError, match="certificate"):
        client_tls_context(None, None, tmp_path / "client.key")
