"""Sending readings over MQTT 3.1.1 (QoS 1), with a client small enough to read: CONNECT, SUBSCRIBE,
PUBLISH, PUBACK and DISCONNECT over one TCP connection (OASIS MQTT 3.1.1, section 3).

A batch is one JSON array published to `{prefix}/{device}/readings`. With `confirm="service"` (the
default) a reading leaves the outbox only when the service's result for it arrives on
`{prefix}/{device}/acks` (docs/mqtt.md), so a reading is confirmed end to end as over HTTP. With
`confirm="broker"` the broker's PUBACK is enough: use it only with a broker that persists messages
and a service subscribed with a persistent session.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import time
from typing import Any

from provenance_device.outcome import Outcome, SplitBatch, TransportError

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, DISCONNECT = 1, 2, 3, 4, 8, 9, 14
MAX_PACKET = 1 << 20  # a larger incoming packet is refused (the service's results are small)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    length, size = bytearray(), len(body)
    while True:
        size, digit = divmod(size, 128)
        length.append(digit | (0x80 if size else 0))
        if not size:
            return bytes([kind << 4 | flags]) + bytes(length) + body


def client_id(device: str) -> str:
    """The MQTT client id of a device: from a hash of its whole id (ids may share long prefixes:
    a secp256k1 default id is 12 zero bytes and the address), under the 23 characters MQTT 3.1.1
    servers must accept."""
    return "pd-" + hashlib.sha256(device.lower().encode()).hexdigest()[:20]


class MqttTransport:
    """Publishes a device's batches to a broker and waits for their confirmation."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        prefix: str = "devices",
        confirm: str = "service",
        timeout: float = 10.0,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if confirm not in ("service", "broker"):
            raise ValueError("confirm is 'service' or 'broker'")
        self.host, self.port, self.prefix, self.confirm = host, port, prefix.strip("/"), confirm
        self.timeout, self.username, self.password = timeout, username, password
        self._sock: socket.socket | None = None
        self._device: str | None = None
        self._packet_id = 0
        self._buffer = bytearray()

    def send(self, bodies: list[dict[str, Any]]) -> list[Outcome]:
        """One outcome per body, in order; raises `TransportError` when not every one was confirmed."""
        device = bodies[0]["device_id"].lower()
        try:
            self._connect(device)
            packet_id = self._next_id()
            topic = f"{self.prefix}/{device}/readings"
            payload = json.dumps(bodies).encode()
            self._write(_packet(PUBLISH, 0b0010, _string(topic) + struct.pack("!H", packet_id) + payload))
            return self._await(bodies, packet_id)
        except TimeoutError as exc:
            self.close()
            raise TransportError(f"mqtt://{self.host}:{self.port}: no confirmation within {self.timeout}s") from exc
        except SplitBatch:
            raise
        except (OSError, ValueError, IndexError, struct.error) as exc:
            self.close()
            raise TransportError(f"mqtt://{self.host}:{self.port}: {exc}") from exc

    def _await(self, bodies: list[dict[str, Any]], packet_id: int) -> list[Outcome]:
        wanted = {body["sequence"] for body in bodies}
        answers: dict[int, Outcome] = {}
        acked = False
        deadline = time.monotonic() + self.timeout
        while not acked or (self.confirm == "service" and not wanted <= answers.keys()):
            kind, flags, body = self._read(deadline)
            if kind == PUBACK and struct.unpack("!H", body[:2])[0] == packet_id:
                acked = True
            elif kind == PUBLISH:
                for outcome in self._results(flags, body):
                    if outcome.sequence < 0:  # a refusal of the message as a whole (too large, not JSON)
                        raise SplitBatch(f"mqtt: the message was refused: {outcome.code}: {outcome.detail}")
                    answers.setdefault(outcome.sequence, outcome)
        if self.confirm == "broker":
            return [Outcome(body["sequence"], "accepted") for body in bodies]
        return [answers[body["sequence"]] for body in bodies]

    def _results(self, flags: int, body: bytes) -> list[Outcome]:
        """The service's results in an incoming PUBLISH (acknowledged when QoS 1)."""
        (size,) = struct.unpack("!H", body[:2])
        start = 2 + size
        qos = (flags >> 1) & 0b11
        if qos == 1:  # the service publishes its results with QoS 1 (or 0)
            self._write(_packet(PUBACK, 0, body[start : start + 2]))
            start += 2
        elif qos:
            raise ValueError(f"QoS {qos} is not spoken here")
        try:
            result = json.loads(body[start:])
        except ValueError:
            return []
        if not isinstance(result, dict) or not isinstance(result.get("status"), str):
            return []
        sequence = result.get("sequence")
        if not isinstance(sequence, int):
            if result["status"] != "refused":
                return []
            sequence = -1  # no reading named: the whole message
        reading_id = result.get("id")
        return [Outcome(sequence, result["status"], result.get("code"), result.get("detail"),
                        reading_id if isinstance(reading_id, str) else None)]  # fmt: skip

    def _connect(self, device: str) -> None:
        if self._sock is not None and self._device == device:
            return
        self.close()
        self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        flags = 0x02 | (0x80 if self.username is not None else 0) | (0x40 if self.password is not None else 0)
        body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", 60) + _string(client_id(device))
        body += (_string(self.username) if self.username is not None else b"") + (
            _string(self.password) if self.password is not None else b""
        )
        self._write(_packet(CONNECT, 0, body))
        deadline = time.monotonic() + self.timeout
        kind, _, answer = self._read(deadline)
        if kind != CONNACK or answer[1] != 0:
            raise OSError(f"the broker refused the connection (return code {answer[1] if len(answer) > 1 else '?'})")
        if self.confirm == "service":
            packet_id = self._next_id()
            subscribe = struct.pack("!H", packet_id) + _string(f"{self.prefix}/{device}/acks") + b"\x01"
            self._write(_packet(SUBSCRIBE, 0b0010, subscribe))
            kind, _, answer = self._read(deadline)
            if kind != SUBACK or answer[2] == 0x80:
                raise OSError("the broker refused the subscription to the acks topic")
        self._device = device

    def _next_id(self) -> int:
        self._packet_id = self._packet_id % 65535 + 1
        return self._packet_id

    def _write(self, data: bytes) -> None:
        assert self._sock is not None
        self._sock.sendall(data)

    def _read(self, deadline: float) -> tuple[int, int, bytes]:
        """The next packet: (type, flags, body)."""
        header = self._take(1, deadline)[0]
        size, shift = 0, 0
        while True:
            digit = self._take(1, deadline)[0]
            size |= (digit & 0x7F) << shift
            shift += 7
            if not digit & 0x80:
                break
            if shift > 21:
                raise ValueError("malformed remaining length")
        if size > MAX_PACKET:
            raise ValueError(f"a packet of {size} bytes from the broker, more than {MAX_PACKET}")
        return header >> 4, header & 0x0F, self._take(size, deadline)

    def _take(self, count: int, deadline: float) -> bytes:
        assert self._sock is not None
        while len(self._buffer) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self._sock.settimeout(left)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def close(self) -> None:
        """Disconnects (politely when the connection still works)."""
        if self._sock is not None:
            try:
                self._sock.sendall(_packet(DISCONNECT, 0, b""))
            except OSError:
                pass
            self._sock.close()
        self._sock, self._device, self._buffer = None, None, bytearray()
