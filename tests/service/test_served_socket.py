"""The socket `provenance up` and `serve` hand to uvicorn answers a keep-alive connection without
waiting for delayed ACKs (Nagle's algorithm off on every accepted connection)."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
from fastapi import FastAPI

from ledger_service.app.runtime import bind_socket
from tests.utils.service import serving


def test_bound_socket_names_tcp_so_accepted_connections_get_nodelay() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


def test_sequential_requests_on_one_keep_alive_connection_do_not_wait_for_delayed_acks() -> None:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    with serving(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        http.get("/ping")
        started = time.perf_counter()
        for _ in range(40):
            assert http.get("/ping").status_code == 200
        per_request = (time.perf_counter() - started) / 40
    # With Nagle on, every answer waits for the client's 40 ms delayed ACK.
    assert per_request < 0.02, f"{per_request * 1000:.1f} ms a request on one connection"


def _status_after_sending_everything(port: int, body: bytes, declare_length: bool) -> bytes:
    """Sends a whole request (headers and body) before reading a byte of the answer, as a simple
    client does; returns the answer's status line."""
    framing = f"content-length: {len(body)}\r\n" if declare_length else "transfer-encoding: chunked\r\n"
    payload = body if declare_length else b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as client:
        client.sendall(
            f"POST /v1/readings/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{framing}\r\n".encode()
            + payload
        )
        time.sleep(0.3)  # the server has answered by now; nothing of it has been read
        return client.recv(65536).split(b"\r\n", 1)[0]


def test_a_client_that_sends_an_oversized_body_whole_still_reads_its_413() -> None:
    from ledger_service.app.api.limits import BodySizeLimit

    async def app(scope: Any, receive: Any, send: Any) -> None:
        """Reads the whole body, as a route does, then answers 200."""
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    with serving(BodySizeLimit(app, max_bytes=64 * 1024)) as port:
        body = b"x" * (32 * 1024 * 1024)  # far more than the kernel's buffers hold
        assert (
            _status_after_sending_everything(port, body, declare_length=True)
            == b"HTTP/1.1 413 Request Entity Too Large"
        )
        assert (
            _status_after_sending_everything(port, body, declare_length=False)
            == b"HTTP/1.1 413 Request Entity Too Large"
        )


def test_request_handlers_run_on_as_many_threads_as_configured(services: Any) -> None:
    """PROVENANCE_API_THREADS sizes the pool the sync handlers run on (40 threads contending for the
    GIL answered 335 proofs/s at 16 connections, 2 answered 582: bench/api.py)."""
    import anyio.to_thread
    from fastapi.testclient import TestClient

    from ledger_service.app.api.app import create_app

    services.settings.api_threads = 3
    with TestClient(create_app(services)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.portal is not None
        limit = client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
    assert limit == 3
