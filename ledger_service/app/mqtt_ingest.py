"""MQTT ingest: devices publish signed readings to a broker; the service verifies and stores them.

Topics, payloads, results, QoS and acknowledgements, session persistence and threads are described
in docs/mqtt.md. The connection is set up in `mqtt_client`, each message handled in `mqtt_results`,
the payload rules are in `mqtt_payload`; this module runs them: lifecycle, callbacks, the worker.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ledger_service.app.mqtt_client import (
    DEFAULT_SESSION_EXPIRY,
    MqttError,
    check_limits,
    checked_prefix,
    client_tls_context,
    default_client_id,
    paho_client,
)
from ledger_service.app.mqtt_results import Counters, MessageHandler, MqttIngestStats, Stopping
from ledger_service.core.settings import Settings
from ledger_service.services.ingest import Ingestor

__all__ = ["MqttError", "MqttIngest", "MqttIngestStats", "client_tls_context"]

log = logging.getLogger(__name__)


class MqttIngest:
    """Takes signed readings off ``{prefix}/+/readings`` and stores them with an `Ingestor`.

    Use as a context manager, or call `start` and `stop`. See docs/mqtt.md for topics,
    payloads, QoS, acknowledgements and session persistence.
    """

    def __init__(
        self,
        ingestor: Ingestor,
        host: str,
        port: int = 1883,
        topic_prefix: str = "devices",
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        qos: int = 1,
        publish_results: bool = True,
        session_expiry: int = DEFAULT_SESSION_EXPIRY,
        keepalive: int = 60,
        receive_maximum: int = 100,
        max_batch: int = 1000,
        retry_delay: float = 0.5,
        max_retry_delay: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        max_bad_signatures: int | None = None,
    ) -> None:
        """Configures the client; nothing connects until `start`.

        `qos` is the subscription's and the results' QoS: 1 (at least once, the default) or 0
        (at most once: nothing is queued or redelivered). `publish_results` turns the
        ``{prefix}/{device_id}/acks`` results on or off. `session_expiry` is how long, in
        seconds, the broker keeps the session while the service is away (0xFFFFFFFF: for ever).
        """
        prefix = checked_prefix(topic_prefix)
        check_limits(qos, session_expiry, receive_maximum, max_batch)
        self.ingestor = ingestor
        self.host = host
        self.port = port
        self.topic_prefix = prefix
        self.client_id = client_id or default_client_id(prefix)
        self.qos = qos
        self.publish_results = publish_results
        self.session_expiry = session_expiry
        self.keepalive = keepalive
        self.receive_maximum = receive_maximum
        self.subscription = f"{prefix}/+/readings"
        self._stop = threading.Event()
        self._counters = Counters()
        self._handler = MessageHandler(
            ingestor, self._counters, self._stop.wait, max_batch, max_bad_signatures, retry_delay, max_retry_delay
        )

        self._client = paho_client(self.client_id, username, password, tls_context)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

        self._queue: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self._subscribed = threading.Event()
        self._failure: str | None = None
        self._subscribe_mid: int | None = None
        self._worker: threading.Thread | None = None

    @classmethod
    def from_settings(cls, ingestor: Ingestor, settings: Settings) -> MqttIngest:
        """The ingest the settings describe (`PROVENANCE_MQTT_*`), over TLS when asked or when a
        CA file or client certificate is set."""
        if not settings.mqtt_host:
            raise ValueError("no MQTT broker is configured (PROVENANCE_MQTT_HOST)")
        secure = settings.mqtt_tls or any((settings.mqtt_ca_file, settings.mqtt_cert_file, settings.mqtt_key_file))
        return cls(
            ingestor,
            settings.mqtt_host,
            settings.mqtt_port,
            topic_prefix=settings.mqtt_topic_prefix,
            client_id=settings.mqtt_client_id,
            username=settings.mqtt_username,
            password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
            max_bad_signatures=settings.max_bad_signatures,
            tls_context=(
                client_tls_context(settings.mqtt_ca_file, settings.mqtt_cert_file, settings.mqtt_key_file)
                if secure
                else None
            ),
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Connects, starts the network loop and the worker, and waits until subscribed.

        Raises `MqttError` when the broker cannot be reached, refuses the connection or the
        subscription, or does not confirm the subscription within `timeout` seconds.
        """
        if self._worker is not None:
            raise RuntimeError("MqttIngest is already started")
        self._stop.clear()
        self._subscribed.clear()
        self._failure = None
        # A fresh queue: messages left from an earlier run were never acknowledged and come again.
        self._queue = queue.Queue()
        self._worker = threading.Thread(target=self._work, name=f"mqtt-ingest-{self.client_id}", daemon=True)
        self._worker.start()
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.session_expiry
        properties.ReceiveMaximum = self.receive_maximum
        try:
            self._client.connect(
                self.host, self.port, keepalive=self.keepalive, clean_start=False, properties=properties
            )
        except (OSError, ValueError) as exc:
            self._stop_worker()
            raise MqttError(f"cannot connect to MQTT broker {self.host}:{self.port}: {exc}") from exc
        self._client.loop_start()
        ready = self._subscribed.wait(timeout)
        if not ready or self._failure is not None:
            failure = self._failure or f"no subscription to {self.subscription} within {timeout:g}s"
            self.stop()
            raise MqttError(f"MQTT broker {self.host}:{self.port}: {failure}")
        log.info(
            "mqtt ingest subscribed",
            extra={
                "broker": f"{self.host}:{self.port}",
                "subscription": self.subscription,
                "client_id": self.client_id,
            },
        )

    def stop(self) -> None:
        """Stops after the message in hand, disconnects and stops the network loop.

        Messages received but not yet processed stay unacknowledged: the broker keeps them in
        the session and delivers them again on the next `start` with the same client id.
        """
        self._stop_worker()
        self._client.disconnect()
        self._client.loop_stop()
        self._subscribed.clear()

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._stop.set()
        self._queue.put(None)
        worker.join()

    def __enter__(self) -> MqttIngest:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- status ------------------------------------------------------------------------------

    @property
    def stats(self) -> MqttIngestStats:
        """A snapshot of the counters."""
        return self._counters.snapshot

    @property
    def connected(self) -> bool:
        """True while connected and subscribed."""
        return self._client.is_connected() and self._subscribed.is_set()

    @property
    def pending(self) -> int:
        """Messages received and waiting for the worker."""
        return self._queue.qsize()

    # -- paho callbacks (network thread) -----------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._failure = f"connection refused: {reason_code}"
            log.error("mqtt connection refused", extra={"reason": str(reason_code)})
            self._subscribed.set()  # wakes start(), which reports the failure
            return
        log.info("mqtt connected", extra={"session_present": flags.session_present, "client_id": self.client_id})
        # Subscribing again on a resumed session is harmless and covers a session the broker lost.
        _, self._subscribe_mid = client.subscribe(self.subscription, qos=self.qos)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            self._failure = f"subscription to {self.subscription} refused: {refused[0]}"
            log.error("mqtt subscription refused", extra={"subscription": self.subscription, "reason": str(refused[0])})
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._subscribed.clear()
        if not self._stop.is_set():
            log.warning("mqtt disconnected, reconnecting", extra={"reason": str(reason_code)})

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._queue.put(message)

    # -- worker ------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            message = self._queue.get()
            if message is None or self._stop.is_set():
                return
            try:
                self._handle(message)
            except Stopping:
                return
            except Exception:  # noqa: BLE001 - the worker must outlive any one message
                log.exception("mqtt message handling failed", extra={"mid": message.mid})

    def _handle(self, message: mqtt.MQTTMessage) -> None:
        """Processes one message: every reading stored or refused, results published, then the PUBACK."""
        self._counters.count(received=1)
        topic = message.topic
        device = topic[len(self.topic_prefix) + 1 : -len("/readings")]
        for result in self._handler.results(message.payload, device, topic):
            self._publish_result(device, result)
        if message.qos > 0:
            rc = self._client.ack(message.mid, message.qos)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                log.info("mqtt ack not sent, the broker will redeliver", extra={"mid": message.mid, "rc": rc})

    def _publish_result(self, device: str, result: dict[str, Any]) -> None:
        if not self.publish_results:
            return
        self._client.publish(f"{self.topic_prefix}/{device}/acks", json.dumps(result), qos=self.qos)
