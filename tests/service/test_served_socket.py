"""The socket `provenance up` and `serve` hand to uvicorn answers a keep-alive connection without
waiting for delayed ACKs (Nagle's algorithm off on every accepted connection)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI

from ledger_service.app.runtime import bind_socket


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

    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}") as http:
            http.get("/ping")
            started = time.perf_counter()
            for _ in range(40):
                assert http.get("/ping").status_code == 200
            per_request = (time.perf_counter() - started) / 40
        # With Nagle on, every answer waits for the client's 40 ms delayed ACK.
        assert per_request < 0.02, f"{per_request * 1000:.1f} ms a request on one connection"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
