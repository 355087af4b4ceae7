"""The MQTT connection of the ingest: a paho MQTT 5 client, its TLS context and its limits."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ledger_service.core.errors import ProvenanceError

DEFAULT_SESSION_EXPIRY: Final = 7 * 24 * 3600
"""Seconds the broker keeps the session (subscription and queued readings) after a disconnect."""

_SEGMENT = re.compile(r"^[^/+#]+$")


class MqttError(ProvenanceError, RuntimeError):
    """The broker could not be reached, refused the connection or the subscription."""

    code = "mqtt-error"
    status = 503
    title = "MQTT broker unavailable"


def client_tls_context(
    ca_file: str | Path | None, cert_file: str | Path | None = None, key_file: str | Path | None = None
) -> ssl.SSLContext:
    """A TLS client context that checks the broker against `ca_file` (the system's CAs when None)
    and presents `cert_file`/`key_file` as the client certificate when given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file is not None else None)
    elif key_file is not None:
        raise ValueError("an MQTT client key needs its certificate (PROVENANCE_MQTT_CERT_FILE)")
    return context


def default_client_id(prefix: str) -> str:
    """The client id used when none is configured: one per topic prefix, so the session persists."""
    return "provenance-ledger-" + re.sub(r"[^A-Za-z0-9_-]", "-", prefix)


def checked_prefix(topic_prefix: str) -> str:
    """`topic_prefix` without surrounding slashes; `ValueError` when a level is empty or a wildcard."""
    prefix = topic_prefix.strip("/")
    if not prefix or any(not _SEGMENT.match(level) for level in prefix.split("/")):
        raise ValueError(f"invalid topic prefix {topic_prefix!r}: needs non-empty levels without + or #")
    return prefix


def check_limits(qos: int, session_expiry: int, receive_maximum: int, max_batch: int) -> None:
    """`ValueError` for a setting the protocol or the ingest cannot honour."""
    if qos not in (0, 1):
        raise ValueError("qos must be 0 or 1 (QoS 2 cannot be acknowledged after storage with paho)")
    if not 0 <= session_expiry <= 0xFFFFFFFF:
        raise ValueError("session_expiry must be between 0 and 0xFFFFFFFF seconds")
    if not 1 <= receive_maximum <= 65535:
        raise ValueError("receive_maximum must be between 1 and 65535")
    if max_batch < 1:
        raise ValueError("max_batch must be at least 1")


def paho_client(
    client_id: str, username: str | None, password: str | None, tls_context: ssl.SSLContext | None
) -> mqtt.Client:
    """An MQTT 5 client that acknowledges by hand, reconnecting every 1 to 30 s."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True
    )
    if username is not None:
        client.username_pw_set(username, password)
    if tls_context is not None:
        client.tls_set_context(tls_context)
    client.reconnect_delay_set(1, 30)
    return client
