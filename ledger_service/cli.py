"""The `provenance` command line."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from ledger_service.chain.ledger import Ledger
from ledger_service.chain.node import managed_anvil_for
from ledger_service.compiler import Compiler, find_solc
from ledger_service.demo import run_demo
from ledger_service.devices import parse_device_id
from ledger_service.errors import ProvenanceError, TransactionReverted
from ledger_service.logs import configure_logging
from ledger_service.runtime import (
    batcher_thread,
    bind_socket,
    open_chain,
    prepare_chain,
    published,
    read_runtime,
    running_chain_url,
    serve,
)
from ledger_service.services import Services
from ledger_service.settings import Settings

app = typer.Typer(
    help="provenance-ledger: signed IoT readings, batched into Merkle trees and anchored on an EVM chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
device_app = typer.Typer(help="Manage devices in the on-chain registry.", no_args_is_help=True)
app.add_typer(device_app, name="device")
console = Console(stderr=True, soft_wrap=True)


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def _terminate_on_sigterm() -> None:
    """Turns SIGTERM into SystemExit, so that context managers stop child processes."""

    def _handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _handler)


def _fail(exc: ProvenanceError) -> None:
    console.print(f"[red]error[/red] ({exc.code}): {exc.detail}")
    raise typer.Exit(code=1)


@app.command()
def up() -> None:
    """Compile if needed, start or attach the chain, deploy if needed, serve the API and run the batcher."""
    settings = _settings()
    _terminate_on_sigterm()
    try:
        settings.ensure_dirs()
        sock = bind_socket(settings.api_host, settings.api_port)
        with open_chain(settings) as rpc_url:
            chain = prepare_chain(settings, rpc_url)
            services = Services.build(settings, chain.client, chain.deployment, chain.artifacts)
            host, port = sock.getsockname()[:2]
            api_url = f"http://{host}:{port}"
            try:
                with published(settings, rpc_url=rpc_url, api_url=api_url), batcher_thread(services):

                    def ready() -> None:
                        console.print(f"[green]provenance-ledger is up[/green]  API {api_url}  (docs {api_url}/docs)")
                        console.print(f"chain {rpc_url}  id {chain.deployment.chain_id}")
                        for name, contract in chain.deployment.contracts.items():
                            console.print(f"  {name:<15} {contract.address}")
                        console.print("Ctrl-C stops everything.")

                    serve(services, sock, on_ready=ready)
            finally:
                services.close()
    except ProvenanceError as exc:
        _fail(exc)
    console.print("stopped")


@app.command()
def chain() -> None:
    """Run the managed anvil alone (state in the data directory) until Ctrl-C."""
    settings = _settings()
    _terminate_on_sigterm()
    try:
        settings.ensure_dirs()
        with managed_anvil_for(settings) as node, published(settings, rpc_url=node.url):
            console.print(f"[green]chain up[/green] {node.url}  (chain id {settings.chain_id}); Ctrl-C stops it")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
    except ProvenanceError as exc:
        _fail(exc)


@app.command()
def compile(force: Annotated[bool, typer.Option(help="Recompile even when nothing changed.")] = False) -> None:
    """Compile the contracts into build/ (skipped when the sources are unchanged)."""
    settings = _settings()
    try:
        artifacts, ran = Compiler(settings.build_dir, solc=find_solc(settings.solc)).compile(force=force)
    except ProvenanceError as exc:
        _fail(exc)
    verb = "compiled" if ran else "up to date:"
    console.print(f"{verb} {', '.join(sorted(artifacts))} -> {settings.build_dir}")


@app.command()
def deploy(force: Annotated[bool, typer.Option(help="Deploy afresh even when the manifest matches.")] = False) -> None:
    """Deploy the contracts unless the manifest in the data directory still matches the chain."""
    settings = _settings()
    _terminate_on_sigterm()
    try:
        settings.ensure_dirs()
        url = settings.rpc_url or read_runtime(settings).get("rpc_url")
        with open_chain(settings.model_copy(update={"rpc_url": url})) as rpc_url:
            if force:
                settings.manifest_path.unlink(missing_ok=True)
            chain = prepare_chain(settings, rpc_url)
    except ProvenanceError as exc:
        _fail(exc)
    state = "deployed" if chain.deployed_now else "already deployed"
    console.print(f"{state} on chain {chain.deployment.chain_id} (manifest {settings.manifest_path})")
    for name, contract in chain.deployment.contracts.items():
        console.print(f"  {name:<15} {contract.address}  block {contract.block_number}")


@app.command("serve")
def serve_command() -> None:
    """Serve the HTTP API alone, against a running chain (no batcher)."""
    settings = _settings()
    _terminate_on_sigterm()
    try:
        chain = prepare_chain(settings, running_chain_url(settings))
        services = Services.build(settings, chain.client, chain.deployment, chain.artifacts)
        sock = bind_socket(settings.api_host, settings.api_port)
        host, port = sock.getsockname()[:2]
        try:
            serve(services, sock, on_ready=lambda: console.print(f"API on http://{host}:{port}"))
        finally:
            services.close()
    except ProvenanceError as exc:
        _fail(exc)


@app.command()
def batcher() -> None:
    """Run the batcher alone: seal stored readings into batches and anchor them, until Ctrl-C."""
    settings = _settings()
    _terminate_on_sigterm()
    try:
        chain = prepare_chain(settings, running_chain_url(settings))
        services = Services.build(settings, chain.client, chain.deployment, chain.artifacts)
        stop = threading.Event()
        console.print(f"batcher running (size {settings.batch_size}, age {settings.batch_age}s); Ctrl-C stops it")
        try:
            services.batcher().run(stop, settings.batch_poll)
        except KeyboardInterrupt:
            pass
        finally:
            services.close()
    except ProvenanceError as exc:
        _fail(exc)


@device_app.command("register")
def device_register(
    address: Annotated[str, typer.Argument(help="The device's signing address (0x + 40 hex digits).")],
    device_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="Device id: 0x + 64 hex digits, or a name hashed with keccak256. "
            "Default: the address, left-padded to 32 bytes.",
        ),
    ] = None,
) -> None:
    """Register a device whose key lives elsewhere (a secure element, another host)."""
    settings = _settings()
    try:
        id_bytes, signer = parse_device_id(device_id, address)
        chain = prepare_chain(settings, running_chain_url(settings))
        ledger = Ledger(chain.client, chain.deployment, chain.artifacts)
        receipt = ledger.register_device(id_bytes, signer)
    except TransactionReverted as exc:
        console.print(f"[red]refused by the registry[/red]: {exc.detail}")
        raise typer.Exit(code=1) from exc
    except ProvenanceError as exc:
        _fail(exc)
    except ValueError as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    console.print(f"registered device 0x{id_bytes.hex()} with signer {signer} in block {receipt['blockNumber']}")
    print(f"0x{id_bytes.hex()}")


@app.command()
def demo(
    devices: Annotated[int, typer.Option(min=1, max=1000, help="How many simulated devices.")] = 3,
    rate: Annotated[float, typer.Option(min=0.1, help="Readings per second, all devices together.")] = 5.0,
    duration: Annotated[float, typer.Option(min=0.1, help="Seconds to run.")] = 10.0,
    api: Annotated[str | None, typer.Option(help="API base URL; default the running instance's.")] = None,
) -> None:
    """Simulated devices register and send signed readings to the API at a chosen rate."""
    settings = _settings()
    try:
        api_url = api or read_runtime(settings).get("api_url") or f"http://127.0.0.1:{settings.api_port}"
        chain = prepare_chain(settings, running_chain_url(settings))
        ledger = Ledger(chain.client, chain.deployment, chain.artifacts)
        summary = run_demo(ledger, api_url, devices=devices, rate=rate, duration=duration, console=console)
    except ProvenanceError as exc:
        _fail(exc)
    if summary.rejected:
        raise typer.Exit(code=1)


def main() -> None:
    """Entry point of the `provenance` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
