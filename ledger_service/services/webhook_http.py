"""Posting webhook deliveries: one kept-alive connection per receiver and thread, through the
standard library's HTTP client (a delivery costs a few hundred microseconds less than through a
general client, which at a thousand events a second is most of a core). No redirect is followed,
no proxy from the environment is used, and a connection that failed is dropped, not reused."""

from __future__ import annotations

import http.client
import ssl
import threading
from urllib.parse import urlsplit


class PostFailed(Exception):
    """The receiver could not be reached or did not answer in time."""


class Poster:
    """POSTs to webhook URLs; safe to use from many threads (each has its own connections)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._tls = ssl.create_default_context()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        connections: dict[tuple[str, str, int | None], http.client.HTTPConnection] = getattr(
            self._local, "connections", {}
        )
        self._local.connections = connections
        key = (scheme, host, port)
        found = connections.get(key)
        if found is None:
            if scheme == "https":
                found = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._tls)
            else:
                found = http.client.HTTPConnection(host, port, timeout=self.timeout)
            connections[key] = found
            with self._lock:
                self._all.append(found)
        return found

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The receiver's status code; `PostFailed` when there was none."""
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = self._connection(parts.scheme, parts.hostname or "", parts.port)
        try:
            connection.request("POST", path, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read(64 * 1024)  # the body is not wanted; a receiver's long answer is cut off
            if answer.will_close or not answer.isclosed():
                self._drop(parts.scheme, parts.hostname or "", parts.port)
            return answer.status
        except (OSError, http.client.HTTPException) as exc:
            self._drop(parts.scheme, parts.hostname or "", parts.port)
            raise PostFailed(type(exc).__name__) from exc

    def _drop(self, scheme: str, host: str, port: int | None) -> None:
        connection = getattr(self._local, "connections", {}).pop((scheme, host, port), None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
