"""MQTT ingest: devices publish signed readings to a broker; the service verifies and stores them.

Topics, payloads, results, QoS and acknowledgements, session persistence and threads are described
in docs/mqtt.md; the payload rules themselves are in `ledger_service.app.mqtt_payload`.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import ssl
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ledger_service.app.api.schemas import ReadingIn
from ledger_service.app.mqtt_payload import Refused, parse_payload, validate_reading
from ledger_service.core.errors import ProvenanceError, TooManyBadSignatures
from ledger_service.core.loops import Backoff
from ledger_service.core.settings import Settings
from ledger_service.services.ingest import Ingestor, ItemResult

log = logging.getLogger(__name__)

DEFAULT_SESSION_EXPIRY: Final = 7 * 24 * 3600
"""Seconds the broker keeps the session (subscription and queued readings) after a disconnect."""


_SEGMENT = re.compile(r"^[^/+#]+$")


class MqttError(ProvenanceError, RuntimeError):
    """The broker could not be reached, refused the connection or the subscription."""

    code = "mqtt-error"
    status = 503
    title = "MQTT broker unavailable"


class _Stopping(Exception):
    """The worker was told to stop while retrying: the message is left unacknowledged."""


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


@dataclass(frozen=True)
class MqttIngestStats:
    """Counters since construction: messages taken off the topics, and what became of each reading.

    A message that cannot be read at all (not JSON, not an object or array) counts as one
    refused reading. `retries` counts attempts that failed unexpectedly and were repeated.
    """

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    retries: int = 0


def _default_client_id(prefix: str) -> str:
    return "provenance-ledger-" + re.sub(r"[^A-Za-z0-9_-]", "-", prefix)


def _checked_prefix(topic_prefix: str) -> str:
    prefix = topic_prefix.strip("/")
    if not prefix or any(not _SEGMENT.match(level) for level in prefix.split("/")):
        raise ValueError(f"invalid topic prefix {topic_prefix!r}: needs non-empty levels without + or #")
    return prefix


def _check_limits(qos: int, session_expiry: int, receive_maximum: int, max_batch: int) -> None:
    if qos not in (0, 1):
        raise ValueError("qos must be 0 or 1 (QoS 2 cannot be acknowledged after storage with paho)")
    if not 0 <= session_expiry <= 0xFFFFFFFF:
        raise ValueError("session_expiry must be between 0 and 0xFFFFFFFF seconds")
    if not 1 <= receive_maximum <= 65535:
        raise ValueError("receive_maximum must be between 1 and 65535")
    if max_batch < 1:
        raise ValueError("max_batch must be at least 1")


def _paho_client(
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
        prefix = _checked_prefix(topic_prefix)
        _check_limits(qos, session_expiry, receive_maximum, max_batch)
        self.ingestor = ingestor
        self.host = host
        self.port = port
        self.topic_prefix = prefix
        self.client_id = client_id or _default_client_id(prefix)
        self.qos = qos
        self.publish_results = publish_results
        self.session_expiry = session_expiry
        self.keepalive = keepalive
        self.receive_maximum = receive_maximum
        self.max_batch = max_batch
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.max_bad_signatures = max_bad_signatures
        self.subscription = f"{prefix}/+/readings"

        self._client = _paho_client(self.client_id, username, password, tls_context)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

        self._lock = threading.Lock()
        self._stats = MqttIngestStats()
        self._queue: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self._stop = threading.Event()
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
        with self._lock:
            return self._stats

    @property
    def connected(self) -> bool:
        """True while connected and subscribed."""
        return self._client.is_connected() and self._subscribed.is_set()

    @property
    def pending(self) -> int:
        """Messages received and waiting for the worker."""
        return self._queue.qsize()

    def _count(self, **increments: int) -> None:
        with self._lock:
            values = {name: getattr(self._stats, name) + n for name, n in increments.items()}
            self._stats = replace(self._stats, **values)

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
            except _Stopping:
                return
            except Exception:  # noqa: BLE001 - the worker must outlive any one message
                log.exception("mqtt message handling failed", extra={"mid": message.mid})

    def _handle(self, message: mqtt.MQTTMessage) -> None:
        """Processes one message: every reading stored or refused, results published, then the PUBACK."""
        self._count(received=1)
        topic = message.topic
        device = topic[len(self.topic_prefix) + 1 : -len("/readings")]
        for result in self._results(message.payload, device, topic):
            self._publish_result(device, result)
        if message.qos > 0:
            rc = self._client.ack(message.mid, message.qos)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                log.info("mqtt ack not sent, the broker will redeliver", extra={"mid": message.mid, "rc": rc})

    def _results(self, payload: bytes | bytearray, device: str, topic: str) -> list[dict[str, Any]]:
        """One result per reading of the message, in order; the valid readings are verified and
        stored together (`Ingestor.ingest_many`, one transaction)."""
        try:
            items = parse_payload(payload, self.max_batch)
        except Refused as refused:
            return [self._refused(topic, refused)]
        results: list[dict[str, Any] | None] = [None] * len(items)
        valid: list[tuple[int, ReadingIn]] = []
        for index, item in enumerate(items):
            try:
                valid.append((index, validate_reading(item, device)))
            except Refused as refused:
                results[index] = self._refused(topic, refused)
        try:
            outcomes = self._ingest_many([body for _, body in valid]) if valid else []
        except TooManyBadSignatures as exc:  # checking stopped: the whole message is refused, nothing stored
            for index, body in valid:
                results[index] = self._refused(topic, Refused(exc.code, exc.detail, body.sequence))
            return [r for r in results if r is not None]
        for (index, body), outcome in zip(valid, outcomes, strict=True):
            if outcome.error is not None:
                results[index] = self._refused(topic, Refused(outcome.error.code, outcome.error.detail, body.sequence))
                continue
            self._count(**({"stored": 1} if outcome.status == "stored" else {"duplicates": 1}))
            results[index] = {
                "id": outcome.reading_id, "status": outcome.status, "code": None, "detail": None,
                "sequence": body.sequence,
            }  # fmt: skip
        return [r for r in results if r is not None]

    def _ingest_many(self, bodies: list[ReadingIn]) -> list[ItemResult]:
        """`Ingestor.ingest_many`, repeated with backoff while it fails for reasons other than the readings."""
        backoff = Backoff(self.retry_delay, self.max_retry_delay)
        while True:
            try:
                registry = self.ingestor.registry
                if not registry.knows({bytes.fromhex(b.device_id[2:]) for b in bodies}):
                    registry.refresh()  # this worker thread may wait for the registry's next sync slot
                return self.ingestor.ingest_many(
                    [(b.to_reading(), b.signature_bytes()) for b in bodies], self.max_bad_signatures
                )
            except TooManyBadSignatures:
                raise
            except Exception as exc:  # noqa: BLE001 - database or chain trouble: retry, never acknowledge
                self._count(retries=1)
                delay = backoff.next()
                log.warning(
                    "mqtt readings not stored, retrying",
                    extra={"component": "mqtt", "error_type": type(exc).__name__, "error": str(exc), "retry_in": delay},
                )
            if self._stop.wait(delay):
                raise _Stopping

    def _refused(self, topic: str, refused: Refused) -> dict[str, Any]:
        self._count(refused=1)
        log.warning("mqtt reading refused", extra={"topic": topic, "code": refused.code, "detail": refused.detail})
        return {
            "id": None,
            "status": "refused",
            "code": refused.code,
            "detail": refused.detail,
            "sequence": refused.sequence,
        }

    def _publish_result(self, device: str, result: dict[str, Any]) -> None:
        if not self.publish_results:
            return
        self._client.publish(f"{self.topic_prefix}/{device}/acks", json.dumps(result), qos=self.qos)
