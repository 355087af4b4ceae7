"""Posting webhook deliveries: one kept-alive connection per receiver and thread, through the
standard library's HTTP client (a delivery costs a few hundred microseconds less than through a
general client, which at a thousand events a second is most of a core).

The connection goes to an address `check_url` checked (the URL's host in `Host` and in TLS's server
name and certificate check), never to a second look-up of the name. No redirect is followed and no
proxy from the environment is used; a connection that failed is dropped, not reused; an answer
must come whole within the timeout (a receiver that trickles its answer is cut off).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time

from ledger_service.services.webhook_signing import Target


class PostFailed(Exception):
    """The receiver could not be reached or did not answer in time."""


class _Pinned(http.client.HTTPConnection):
    """HTTP to one address, whatever the name resolves to now."""

    def __init__(self, target: Target, address: str | None, timeout: float, tls: ssl.SSLContext | None) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address, self.tls, self.server_name = address, tls, target.host

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address or self.server_name, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.server_name)


class Poster:
    """POSTs to webhook receivers; safe to use from many threads (each has its own connections)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._tls = ssl.create_default_context()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._deadlines: dict[http.client.HTTPConnection, float] = {}  # posts in flight
        self._closed = threading.Event()
        threading.Thread(target=self._watch, name="webhook-watchdog", daemon=True).start()

    def _watch(self) -> None:
        """Closes the connection of a post that has not had its whole answer by its deadline (each
        socket read has the timeout too, but a receiver could send a byte just within each)."""
        while not self._closed.wait(min(0.5, self.timeout / 4)):
            now = time.monotonic()
            with self._lock:
                late = [c for c, deadline in self._deadlines.items() if deadline < now]
            for connection in late:
                connection.close()

    def _connection(self, target: Target) -> http.client.HTTPConnection:
        connections: dict[tuple[object, ...], http.client.HTTPConnection] = getattr(self._local, "connections", {})
        self._local.connections = connections
        address = target.addresses[0] if target.addresses else None
        key = (target.scheme, target.host, target.port, address)
        found = connections.get(key)
        if found is None:
            tls = self._tls if target.scheme == "https" else None
            found = connections[key] = _Pinned(target, address, self.timeout, tls)
            with self._lock:
                self._all.append(found)
        return found

    def post(self, target: Target, body: bytes, headers: dict[str, str]) -> int:
        """The receiver's status code; `PostFailed` when there was none in time."""
        connection = self._connection(target)
        with self._lock:
            self._deadlines[connection] = time.monotonic() + self.timeout
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read(64 * 1024)  # the body is not wanted; a receiver's long answer is cut off
            if answer.will_close or not answer.isclosed():
                self._drop(connection)
            return answer.status
        except (OSError, http.client.HTTPException, AttributeError) as exc:
            self._drop(connection)
            raise PostFailed(type(exc).__name__) from exc
        finally:
            with self._lock:
                self._deadlines.pop(connection, None)

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connections = getattr(self._local, "connections", {})
        for key, value in list(connections.items()):
            if value is connection:
                del connections[key]
        with self._lock:  # a receiver that keeps failing must not grow the list of connections
            if connection in self._all:
                self._all.remove(connection)
        connection.close()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
