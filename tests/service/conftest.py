"""Fixtures of the service tests: a Redis database for Celery, and the Mosquitto broker with MQTT clients on a
topic prefix of the test's own. (The chain, the databases and `services` come from tests/conftest.py.)"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from edge.gateway import Gateway
from ledger_service.app.api.app import create_app
from ledger_service.app.mqtt_ingest import MqttIngest
from ledger_service.core.chain.context import ChainContext
from ledger_service.services.container import Services
from tests.utils.edge import make_gateway
from tests.utils.external import require_service
from tests.utils.mqtt import MQTT_HOST, MQTT_PORT, DeviceSide, IngestFactory
from tests.utils.service import serving
from tests.utils.worker import REDIS_URL


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A Redis database of its own for the test."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        require_service("Redis", str(exc))
    database = 1 + uuid.uuid4().int % 15
    url = f"{REDIS_URL}/{database}"
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture
def broker() -> tuple[str, int]:
    """The broker's address, once it is known to accept connections."""
    try:
        socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=2).close()
    except OSError as exc:
        require_service("Mosquitto", f"{MQTT_HOST}:{MQTT_PORT}: {exc}")
    return MQTT_HOST, MQTT_PORT


@pytest.fixture
def prefix() -> str:
    """A topic prefix no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def devices(broker: tuple[str, int], prefix: str) -> Iterator[DeviceSide]:
    side = DeviceSide(*broker, prefix)
    try:
        yield side
    finally:
        side.close()


@pytest.fixture
def make_ingest(services: Services, broker: tuple[str, int], prefix: str) -> Iterator[IngestFactory]:
    """Builds MqttIngest clients on the test's prefix (short-lived sessions); stops them all at the end."""
    made: list[MqttIngest] = []

    def make(**overrides: Any) -> MqttIngest:
        options: dict[str, Any] = {
            "ingestor": services.ingestor,
            "host": broker[0],
            "port": broker[1],
            "topic_prefix": prefix,
            "client_id": f"test-ingest-{uuid.uuid4().hex[:12]}",
            "session_expiry": 60,
            "retry_delay": 0.05,
            **overrides,
        }
        ingest = MqttIngest(**options)
        made.append(ingest)
        return ingest

    yield make
    for ingest in made:
        ingest.stop()


@pytest.fixture
def ingest(make_ingest: IngestFactory) -> MqttIngest:
    service = make_ingest()
    service.start()
    return service


@pytest.fixture
def upstream(services: Services) -> Iterator[str]:
    """The service's API served on a loopback port: an edge gateway's upstream."""
    with serving(create_app(services)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def gateway(tmp_path: Path, chain: ChainContext, upstream: str) -> Iterator[Gateway]:
    """An edge gateway over its own SQLite file, forwarding to `upstream`."""
    built = make_gateway(tmp_path / "edge.db", chain, upstream)
    try:
        yield built
    finally:
        built.close()
