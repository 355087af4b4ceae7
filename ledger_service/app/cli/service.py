"""Commands that run the service's parts: up, chain, compile, deploy, serve, batcher, demo."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from ledger_service.app.cli.common import connect_ledger, console, fail, load_settings, terminate_on_sigterm
from ledger_service.app.demo import run_demo
from ledger_service.app.runtime import (
    attached_services,
    bind_socket,
    mqtt_ingest,
    registry_follower,
    serve,
    supervise_api_workers,
    supervise_components,
)
from ledger_service.app.shipment_demo import run_shipment
from ledger_service.app.supervisor import supervising
from ledger_service.core.chain.context import open_chain, open_chain_node, prepare_chain, published, read_runtime
from ledger_service.core.chain.node import managed_anvil_for
from ledger_service.core.compiler import Compiler, find_solc
from ledger_service.core.errors import ProvenanceError
from ledger_service.core.loops import HealthRecorder
from ledger_service.services.container import Services
from ledger_service.services.tasks import configure, dispatcher


def register(app: typer.Typer) -> None:
    """Adds these commands to `app`."""
    for command in (up, chain, compile_command, deploy, serve_command, batcher, worker, mqtt, demo):
        name = {"compile_command": "compile", "serve_command": "serve"}.get(command.__name__, command.__name__)
        app.command(name)(command)


def up() -> None:
    """Compile if needed, start or attach the chain, deploy if needed, serve the API, run the batcher,
    the indexer and the oracle daemon (and the worker and MQTT ingest when configured)."""
    settings = load_settings()
    terminate_on_sigterm()
    try:
        settings.ensure_dirs()
        sock = bind_socket(settings.api_host, settings.api_port, reuse_port=settings.api_workers > 1)
        with open_chain_node(settings) as (rpc_url, node):
            chain = prepare_chain(settings, rpc_url)
            services = Services.build(settings, chain.client, chain.deployment, chain.artifacts)
            services.ingestor.warm_up()
            host, port = sock.getsockname()[:2]
            api_url = f"http://{host}:{port}"
            try:
                with (
                    published(settings, rpc_url=rpc_url, api_url=api_url),
                    registry_follower(services),
                    mqtt_ingest(services) as mqtt,
                    supervising(HealthRecorder(services.engine)) as supervisor,
                ):
                    if node is not None:  # the managed chain comes back from its saved state
                        supervisor.add("chain", node.start, lambda _: node.stop(), child=node)
                    supervise_components(supervisor, settings, rpc_url, sock)

                    def ready() -> None:
                        console.print(f"[green]provenance-ledger is up[/green]  API {api_url}  (docs {api_url}/docs)")
                        console.print(f"chain {rpc_url}  id {chain.deployment.chain_id}")
                        for name, contract in chain.deployment.contracts.items():
                            console.print(f"  {name:<15} {contract.address}")
                        if mqtt is not None:
                            console.print(f"MQTT {mqtt.host}:{mqtt.port} topics {mqtt.subscription}")
                        console.print("Ctrl-C stops everything.")

                    serve(services, sock, on_ready=ready)
            finally:
                services.close()
    except ProvenanceError as exc:
        fail(exc)
    console.print("stopped")


def chain() -> None:
    """Run the managed anvil alone (state in the data directory) until Ctrl-C."""
    settings = load_settings()
    terminate_on_sigterm()
    try:
        settings.ensure_dirs()
        with managed_anvil_for(settings) as node, published(settings, rpc_url=node.url):
            console.print(f"[green]chain up[/green] {node.url}  (chain id {settings.chain_id}); Ctrl-C stops it")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
    except ProvenanceError as exc:
        fail(exc)


def compile_command(force: Annotated[bool, typer.Option(help="Recompile even when nothing changed.")] = False) -> None:
    """Compile the contracts into build/ (skipped when the sources are unchanged)."""
    settings = load_settings()
    try:
        artifacts, ran = Compiler(settings.build_dir, solc=find_solc(settings.solc)).compile(force=force)
    except ProvenanceError as exc:
        fail(exc)
    verb = "compiled" if ran else "up to date:"
    console.print(f"{verb} {', '.join(sorted(artifacts))} -> {settings.build_dir}")


def deploy(force: Annotated[bool, typer.Option(help="Deploy afresh even when the manifest matches.")] = False) -> None:
    """Deploy the contracts unless the manifest in the data directory still matches the chain."""
    settings = load_settings()
    terminate_on_sigterm()
    try:
        settings.ensure_dirs()
        url = settings.rpc_url or read_runtime(settings).get("rpc_url")
        with open_chain(settings.model_copy(update={"rpc_url": url})) as rpc_url:
            if force:
                settings.manifest_path.unlink(missing_ok=True)
            chain = prepare_chain(settings, rpc_url)
    except ProvenanceError as exc:
        fail(exc)
    state = "deployed" if chain.deployed_now else "already deployed"
    console.print(f"{state} on chain {chain.deployment.chain_id} (manifest {settings.manifest_path})")
    for name, contract in chain.deployment.contracts.items():
        console.print(f"  {name:<15} {contract.address}  block {contract.block_number}")


def serve_command(
    reuse_port: Annotated[
        int | None,
        typer.Option(hidden=True, help="Serve on this port beside the process that bound it (an API worker)."),
    ] = None,
) -> None:
    """Serve the HTTP API alone, against a running chain (no batcher); with PROVENANCE_API_WORKERS
    above 1, that many processes share the port."""
    settings = load_settings()
    terminate_on_sigterm()
    try:
        with attached_services(settings) as services, registry_follower(services):
            services.ingestor.warm_up()
            if reuse_port is not None:  # a worker of another `serve` or `up`, which bound the port first
                serve(services, bind_socket(settings.api_host, reuse_port, reuse_port=True))
                return
            sock = bind_socket(settings.api_host, settings.api_port, reuse_port=settings.api_workers > 1)
            host, port = sock.getsockname()[:2]
            with supervising(HealthRecorder(services.engine)) as supervisor:
                supervise_api_workers(supervisor, settings, services.ledger.client.rpc_url, sock)
                serve(services, sock, on_ready=lambda: console.print(f"API on http://{host}:{port}"))
    except ProvenanceError as exc:
        fail(exc)


def batcher() -> None:
    """Run the batcher alone: seal stored readings into batches and anchor them, until Ctrl-C."""
    settings = load_settings()
    terminate_on_sigterm()
    try:
        with attached_services(settings) as services:
            console.print(f"batcher running (size {settings.batch_size}, age {settings.batch_age}s); Ctrl-C stops it")
            try:
                services.batcher(dispatch=dispatcher(services)).run(threading.Event(), settings.batch_poll)
            except KeyboardInterrupt:
                pass
    except ProvenanceError as exc:
        fail(exc)


def worker() -> None:
    """Run a Celery worker for anchoring tasks (needs PROVENANCE_BROKER_URL), until Ctrl-C."""
    settings = load_settings()
    if not settings.broker_url:
        fail(ValueError("set PROVENANCE_BROKER_URL (redis://… or amqp://…) to run a worker"))
    celery = configure(settings)
    console.print(f"anchoring worker on {settings.broker_url} ({settings.worker_concurrency} processes)")
    celery.worker_main(
        ["worker", "--loglevel", settings.log_level, "--concurrency", str(settings.worker_concurrency),
         "--queues", f"provenance-{settings.chain_id}", "--without-gossip", "--without-mingle"]
    )  # fmt: skip


def mqtt() -> None:
    """Run MQTT ingest alone (PROVENANCE_MQTT_HOST), against a running chain, until Ctrl-C."""
    settings = load_settings()
    terminate_on_sigterm()
    if not settings.mqtt_host:
        fail(ValueError("set PROVENANCE_MQTT_HOST to the broker to ingest from"))
    try:
        with attached_services(settings) as services, registry_follower(services), mqtt_ingest(services) as ingest:
            assert ingest is not None
            console.print(f"MQTT ingest from {ingest.host}:{ingest.port} ({ingest.subscription}); Ctrl-C stops it")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
    except ProvenanceError as exc:
        fail(exc)


def demo(
    devices: Annotated[int, typer.Option(min=1, max=1000, help="How many simulated devices.")] = 3,
    rate: Annotated[float, typer.Option(min=0.1, help="Readings per second, all devices together.")] = 5.0,
    duration: Annotated[float, typer.Option(min=0.1, help="Seconds to run.")] = 10.0,
    api: Annotated[str | None, typer.Option(help="API base URL; default the running instance's.")] = None,
    shipment: Annotated[
        bool, typer.Option("--shipment", help="Run a cold-chain shipment through several custodians instead.")
    ] = False,
) -> None:
    """Simulated devices register and send signed readings to the API at a chosen rate; with
    --shipment, a lot with a temperature logger travels through three custodians instead."""
    settings = load_settings()
    if shipment:
        api_url = api or read_runtime(settings).get("api_url") or f"http://127.0.0.1:{settings.api_port}"
        try:
            with attached_services(settings) as services:
                console.print(f"cold-chain shipment through {api_url}")
                done = run_shipment(services, api_url, console)
        except (ProvenanceError, RuntimeError) as exc:
            fail(exc)
        console.print(f"item {done.item_id}, token {done.token_id}")
        return
    try:
        api_url = api or read_runtime(settings).get("api_url") or f"http://127.0.0.1:{settings.api_port}"
        ledger = connect_ledger(settings)
        summary = run_demo(ledger, api_url, devices=devices, rate=rate, duration=duration, console=console)
    except ProvenanceError as exc:
        fail(exc)
    if summary.rejected:
        raise typer.Exit(code=1)
