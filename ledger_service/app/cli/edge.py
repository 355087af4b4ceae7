"""`provenance edge`: the edge gateway (docs/edge.md)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from web3 import Web3

from edge.gateway import Gateway
from ledger_service.app.cli.common import console, fail, load_settings, terminate_on_sigterm
from ledger_service.app.edge_rules import attach_local_rules
from ledger_service.app.mqtt_ingest import MqttIngest
from ledger_service.app.runtime import bind_socket
from ledger_service.core.chain.manifest import load_manifest
from ledger_service.core.compiler import compile_contracts, load_artifacts
from ledger_service.core.db import create_schema, make_engine
from ledger_service.core.errors import ConfigurationError, ProvenanceError
from ledger_service.core.keys import DeviceKey
from ledger_service.core.settings import Settings
from ledger_service.services.devices import default_device_id
from oracles.local_rules import LocalAlarms


def register(app: typer.Typer) -> None:
    """Adds the command to the CLI."""
    app.command("edge")(edge)


def edge(
    upstream: Annotated[
        str | None, typer.Option(help="The service to forward to (PROVENANCE_EDGE_UPSTREAM_URL).")
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="The deployment manifest (default: the data directory's).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port of the gateway's API (default PROVENANCE_API_PORT).")] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="The gateway's own key file (PROVENANCE_EDGE_KEY_FILE): seal and forward signed roots."),
    ] = None,
    gateway_id: Annotated[
        str | None, typer.Option(help="With --key: the device id the key is registered under (default: the key's own).")
    ] = None,
    artifacts_dir: Annotated[
        Path | None,
        typer.Option("--artifacts", help="A copy of the operator's build/ directory: no Node.js or solc needed here."),
    ] = None,
) -> None:
    """Run an edge gateway: take readings from local devices (HTTP, and MQTT with PROVENANCE_MQTT_HOST),
    check them against the registry as last seen, keep them, and forward them upstream when the link is up."""
    settings = load_settings()
    terminate_on_sigterm()
    upstream = upstream or settings.edge_upstream_url
    try:
        if not upstream:
            raise ConfigurationError("set --upstream or PROVENANCE_EDGE_UPSTREAM_URL to the service to forward to")
        if not settings.rpc_url:
            raise ConfigurationError("set PROVENANCE_RPC_URL: the gateway reads the device registry from the chain")
        own_key, own_id = _own_identity(key or settings.edge_key_file, gateway_id)
        artifacts = _artifacts(artifacts_dir, settings)
        deployment = load_manifest(manifest or settings.manifest_path)
        if deployment is None:
            raise ConfigurationError(f"no deployment manifest at {manifest or settings.manifest_path}")
        settings.ensure_dirs()
        engine = make_engine(settings.resolved_database_url)
        create_schema(engine)
        w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 5}))
        gateway = Gateway(
            engine, w3, deployment, artifacts["DeviceRegistry"].abi, upstream,
            forward_batch=settings.edge_forward_batch, max_clock_skew=settings.max_clock_skew,
            max_reading_age=settings.max_reading_age, verify_processes=settings.verify_processes,
            key=own_key, gateway_id=own_id, aggregate_max=settings.edge_aggregate_max,
        )  # fmt: skip
        rules_file = settings.data_dir / "edge-rules.json"
        alarms = attach_local_rules(gateway, w3, deployment, artifacts, rules_file, settings.edge_alarm_webhook_url)
    except (ProvenanceError, ValueError) as exc:
        fail(exc)
    _run(gateway, settings, settings.api_port if port is None else port, upstream, alarms)


def _artifacts(artifacts_dir: Path | None, settings: Settings) -> dict[str, Any]:
    """The contracts' ABIs: read from a copied build directory, or compiled here (cached)."""
    if artifacts_dir is None:
        return compile_contracts(settings.build_dir, settings.solc)
    found = load_artifacts(artifacts_dir)
    missing = {"DeviceRegistry", "SensorOracle", "SupplyChain"} - set(found)
    if missing:
        raise ConfigurationError(f"no compiled {', '.join(sorted(missing))} under {artifacts_dir}/contracts")
    return found


def _own_identity(key_file: Path | None, gateway_id: str | None) -> tuple[DeviceKey | None, bytes | None]:
    """The gateway's key and id, when it aggregates."""
    if key_file is None:
        if gateway_id is not None:
            raise ConfigurationError("--gateway-id goes with --key (the gateway's own key file)")
        return None, None
    try:
        own_key = DeviceKey.load(key_file)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"cannot read the gateway's key file {key_file}: {type(exc).__name__}") from exc
    if gateway_id is None:
        return own_key, default_device_id(own_key.public_key)
    try:
        own_id = bytes.fromhex(gateway_id.removeprefix("0x"))
    except ValueError:
        own_id = b""
    if len(own_id) != 32:
        raise ConfigurationError("--gateway-id is a 32-byte id as 0x-hex")
    return own_key, own_id


def _run(gateway: Gateway, settings: Settings, port: int, upstream: str, alarms: LocalAlarms | None) -> None:
    """Serves the gateway's API, with its loops and MQTT ingest beside it, until Ctrl-C or SIGTERM."""
    from ledger_service.app.edge_api import EdgeLimits, create_edge_app  # loaded only where it is served

    stop = threading.Event()
    loops = (stop, settings.edge_registry_poll, 0.5, settings.edge_aggregate_every)
    worker = threading.Thread(target=gateway.run, args=loops, name="edge", daemon=True)
    ingest = MqttIngest.from_settings(gateway.ingestor, settings) if settings.mqtt_host else None
    host = settings.api_host
    sock = bind_socket(host, port)
    bound = sock.getsockname()[1]
    app = create_edge_app(gateway, EdgeLimits.from_settings(settings), alarms)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    try:
        gateway.ingestor.warm_up()
        gateway.sync_registry()
        worker.start()
        if ingest is not None:
            ingest.start()
        if gateway.aggregator is not None:
            every = settings.edge_aggregate_every
            console.print(f"aggregating as gateway {gateway.aggregator.gateway_id}: a signed root every {every}s")
        console.print(f"edge gateway on http://{host}:{bound}, forwarding to {upstream}; Ctrl-C stops it")
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        if ingest is not None:
            ingest.stop()
        stop.set()
        if worker.is_alive():
            worker.join(timeout=30)
        sock.close()
        if alarms is not None:
            alarms.close()
        gateway.close()
