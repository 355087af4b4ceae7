"""Finding and preparing the chain: the running node this data directory published, a managed anvil,
and a compiled, deployed set of contracts on it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger_service.core.chain.client import ChainClient, connect
from ledger_service.core.chain.deploy import Deployment, deploy
from ledger_service.core.chain.node import ManagedAnvil, managed_anvil_for
from ledger_service.core.chain.rpc import rpc_answers
from ledger_service.core.compiler import Artifact, compile_contracts
from ledger_service.core.errors import ChainError, ConfigurationError
from ledger_service.core.settings import Settings


def _runtime_file(settings: Settings) -> Path:
    return settings.data_dir / "runtime.json"


def read_runtime(settings: Settings) -> dict[str, Any]:
    """What the running `provenance up` or `provenance chain` of this data directory published."""
    path = _runtime_file(settings)
    if not path.exists():
        return {}
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        return {}
    return data


@contextmanager
def published(settings: Settings, **info: Any) -> Iterator[None]:
    """Publishes `info` (URLs of running parts) in the data directory while the context is open."""
    path = _runtime_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**info, "pid": os.getpid()}, indent=2))
    try:
        yield
    finally:
        current = read_runtime(settings)
        if current.get("pid") == os.getpid():
            path.unlink(missing_ok=True)


@contextmanager
def open_chain(settings: Settings) -> Iterator[str]:
    """Yields the RPC URL of the chain: the configured node, or a managed anvil for the context."""
    with open_chain_node(settings) as (url, _node):
        yield url


@contextmanager
def open_chain_node(settings: Settings) -> Iterator[tuple[str, ManagedAnvil | None]]:
    """Yields the RPC URL of the chain and, when it is the managed anvil, the node (so that a
    supervisor can start it again from its saved state)."""
    if settings.rpc_url:
        if not rpc_answers(settings.rpc_url, timeout=5):
            raise ChainError(f"no JSON-RPC node answers at PROVENANCE_RPC_URL={settings.rpc_url}")
        yield settings.rpc_url, None
        return
    with managed_anvil_for(settings) as node:
        yield node.url, node


def running_chain_url(settings: Settings) -> str:
    """The URL of an already running chain: the configured one or the one a running instance published."""
    if settings.rpc_url:
        return settings.rpc_url
    url = read_runtime(settings).get("rpc_url")
    if url and rpc_answers(url):
        return str(url)
    raise ConfigurationError(
        "no running chain: start one with `provenance up` or `provenance chain`, or set PROVENANCE_RPC_URL"
    )


@dataclass
class ChainContext:
    """A connected, deployed chain."""

    client: ChainClient
    deployment: Deployment
    artifacts: dict[str, Artifact]
    deployed_now: bool


def prepare_chain(settings: Settings, rpc_url: str) -> ChainContext:
    """Compiles if needed, connects, and deploys unless the manifest still matches the chain."""
    artifacts = compile_contracts(settings.build_dir, settings.solc)
    client = connect(settings, rpc_url)
    deployment, deployed_now = deploy(client, artifacts, settings.manifest_path)
    return ChainContext(client, deployment, artifacts, deployed_now)
