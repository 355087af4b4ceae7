"""Starting and stopping the parts: the chain, the deployment, the API server and the batcher."""

from __future__ import annotations

import functools
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn

from ledger_service.app.mqtt_ingest import MqttIngest
from ledger_service.app.supervisor import Child, Supervisor
from ledger_service.core.chain.context import prepare_chain, running_chain_url
from ledger_service.core.chain.node import die_with_parent
from ledger_service.core.errors import ConfigurationError
from ledger_service.core.loops import HealthRecorder
from ledger_service.core.settings import Settings
from ledger_service.services.container import Services

log = logging.getLogger(__name__)


def bind_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket, so that port 0 resolves to a real port before the server starts.

    The protocol is named (IPPROTO_TCP, not 0): asyncio turns Nagle's algorithm off only on sockets
    whose `proto` says TCP, and accepted sockets inherit it. With proto 0 each answer on a keep-alive
    connection waits for the client's delayed ACK (40 ms here).

    With `reuse_port`, several processes each bind their own socket to the port (SO_REUSEPORT) and
    the kernel spreads new connections over them evenly. One socket shared by several processes
    leaves it to whichever wakes first: 16 keep-alive connections from one client were seen all
    landing in one of two processes, halving the throughput."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    return sock


@contextmanager
def loop_thread(
    name: str, run: Callable[[threading.Event, float], None], poll: float, join_timeout: float = 30
) -> Iterator[threading.Thread]:
    """Runs `run(stop, poll)` in a thread for the context; sets `stop` and waits for it on exit."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop, poll), name=name, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=join_timeout)


def spawn_component(
    settings: Settings, rpc_url: str, command: str, *args: str, pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    """Starts `provenance COMMAND ARGS` as a child on the same chain and data directory, dying
    with this process if it is killed."""
    env = {**os.environ, "PROVENANCE_RPC_URL": rpc_url, "PROVENANCE_DATA_DIR": str(settings.data_dir.resolve())}
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger_service.app.cli", command, *args], env=env, stdin=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=die_with_parent, pass_fds=pass_fds,
    )  # fmt: skip
    log.info("started component", extra={"component": command, "pid": process.pid})
    return process


def stop_component(process: Child) -> None:
    """Stops a child started by `spawn_component`: SIGTERM, then SIGKILL after 30 s."""
    assert isinstance(process, subprocess.Popen)
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.info("component stopped", extra={"pid": process.pid})


def supervise_components(supervisor: Supervisor, settings: Settings, rpc_url: str, sock: socket.socket) -> None:
    """The children of `provenance up`, started and watched by `supervisor`: the worker when a
    broker is configured, the batcher, the indexer unless PROVENANCE_INDEX=false, the oracle
    daemon unless PROVENANCE_ORACLE=false, the webhook deliverer unless PROVENANCE_WEBHOOKS=false, and
    the extra API servers."""
    wanted = {
        "worker": bool(settings.broker_url), "batcher": True, "index": settings.index, "oracle": settings.oracle,
        "webhooks": settings.webhooks,
    }  # fmt: skip
    for command, enabled in wanted.items():
        if enabled:
            supervisor.add(command, functools.partial(spawn_component, settings, rpc_url, command), stop_component)
    supervise_api_workers(supervisor, settings, rpc_url, sock)


def supervise_api_workers(supervisor: Supervisor, settings: Settings, rpc_url: str, sock: socket.socket) -> None:
    """`PROVENANCE_API_WORKERS - 1` more API servers, each a `provenance serve` with a listening
    socket of its own on the port of `sock` (bound with `reuse_port`, so the kernel spreads
    connections over all the processes, this one included), each with its own database pool and
    registry cache."""
    port = str(sock.getsockname()[1])
    for number in range(1, settings.api_workers):
        start = functools.partial(spawn_component, settings, rpc_url, "serve", "--reuse-port", port)
        supervisor.add(f"api-{number}", start, stop_component)


@contextmanager
def mqtt_ingest(services: Services) -> Iterator[MqttIngest | None]:
    """MQTT ingest for the context when a broker is configured; nothing otherwise."""
    settings = services.settings
    if not settings.mqtt_host:
        yield None
        return
    ingest = MqttIngest.from_settings(services.ingestor, settings)
    ingest.start()
    try:
        yield ingest
    finally:
        ingest.stop()


@contextmanager
def registry_follower(services: Services) -> Iterator[threading.Thread]:
    """Keeps the device registry cache in step with the chain for the context."""
    recorder = HealthRecorder(services.engine)

    def follow(stop: threading.Event, poll: float) -> None:
        services.registry.run(stop, poll, recorder)

    with loop_thread("registry", follow, services.settings.registry_poll) as thread:
        yield thread


@contextmanager
def attached_services(settings: Settings) -> Iterator[Services]:
    """The services over the running chain (compiled and deployed if needed), closed on exit."""
    chain = prepare_chain(settings, running_chain_url(settings))
    services = Services.build(settings, chain.client, chain.deployment, chain.artifacts)
    try:
        yield services
    finally:
        services.close()


def serve(services: Services, sock: socket.socket, on_ready: Callable[[], None] | None = None) -> None:
    """Serves the API on `sock` until SIGINT (returns) or SIGTERM (raises SystemExit)."""
    from ledger_service.app.api.app import create_app  # the API's routers load only where it is served

    config = uvicorn.Config(
        create_app(services), log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)
    if on_ready is not None:
        threading.Thread(target=_call_when_started, args=(server, on_ready), daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled; it was the way to stop
        pass


def _call_when_started(server: uvicorn.Server, callback: Callable[[], None]) -> None:
    event = threading.Event()
    while not server.started and not server.should_exit:
        event.wait(0.05)
    if server.started:
        callback()
