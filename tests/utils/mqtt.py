"""MQTT for the tests: the Mosquitto broker's address, a client playing the devices, and the readings that
reached the database."""

from __future__ import annotations

import json
import os
import queue
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlmodel import Session, select

from ledger_service.app.mqtt_ingest import MqttIngest
from ledger_service.core.models import StoredReading
from ledger_service.services.container import Services
from tests.utils.factories import Device

MQTT_HOST = os.environ.get("PROVENANCE_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("PROVENANCE_TEST_MQTT_PORT", "1883"))
WAIT = 5.0


class DeviceSide:
    """A separate MQTT client playing the devices: publishes readings, collects the results."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.prefix = prefix
        self.acks: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-devices-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        subscribed = queue.Queue[bool]()
        self.client.on_message = lambda _c, _u, msg: self.acks.put((msg.topic, json.loads(msg.payload)))
        self.client.on_subscribe = lambda *_args: subscribed.put(True)
        self.client.on_connect = lambda client, *_args: client.subscribe(f"{prefix}/+/acks", qos=1)
        self.client.connect(host, port)
        self.client.loop_start()
        subscribed.get(timeout=WAIT)

    def topic(self, device: Device | str, kind: str = "readings") -> str:
        """The device's readings (or acks) topic."""
        name = device if isinstance(device, str) else "0x" + device.device_id.hex()
        return f"{self.prefix}/{name}/{kind}"

    def publish(self, device: Device | str, payload: Any) -> None:
        """Publishes `payload` (bytes as they are, anything else as JSON) with QoS 1 and waits for the PUBACK."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(self.topic(device), data, qos=1).wait_for_publish(WAIT)

    def next_ack(self, device: Device | str | None = None) -> dict[str, Any]:
        """The next result the service published (on `device`'s acks topic, when given)."""
        topic, result = self.acks.get(timeout=WAIT)
        if device is not None:
            assert topic == self.topic(device, "acks")
        return result

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


IngestFactory = Callable[..., MqttIngest]


def stored_ids(services: Services) -> list[str]:
    with Session(services.engine) as session:
        return list(session.exec(select(StoredReading.id).order_by(StoredReading.sequence)).all())  # type: ignore[arg-type]


def wait_for_stored(services: Services, count: int, timeout: float = WAIT) -> list[str]:
    """Polls the database until it holds `count` readings; returns their ids."""
    deadline = time.monotonic() + timeout
    ids = stored_ids(services)
    while len(ids) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        ids = stored_ids(services)
    assert len(ids) == count, ids
    return ids
