"""Compiler cache and the solc shim; idempotent deployment and its manifest."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger_service.core.chain.client import connect
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.deploy import deploy, manifest_matches
from ledger_service.core.chain.manifest import load_manifest
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.compiler import CONTRACTS_DIR, SHIM, Artifact, Compiler
from ledger_service.core.errors import ToolchainError
from tests.utils.settings import make_settings


def test_shim_presents_solcjs_as_a_native_solc() -> None:
    version = subprocess.run([str(SHIM), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.splitlines()[1].startswith("Version: 0.8.")
    refused = subprocess.run([str(SHIM), "--bin", "x.sol"], capture_output=True, text=True)
    assert refused.returncode == 2 and "unsupported option" in refused.stderr


@pytest.mark.slow  # compiles every contract twice with solcjs (about 20 s): left out of `make test-fast`
def test_unchanged_sources_do_not_recompile_and_changed_ones_do(tmp_path: Path) -> None:
    sources = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, sources)
    compiler = Compiler(tmp_path / "build", solc=SHIM, contracts_dir=sources)
    first, ran = compiler.compile()
    assert ran and {"DeviceRegistry", "DataNotary"} <= set(first)
    second, ran = compiler.compile()
    assert not ran and second == first
    notary = sources / "DataNotary.sol"
    notary.write_text(notary.read_text() + "\n// a change\n")
    _, ran = compiler.compile()
    assert ran
    saved = json.loads((tmp_path / "build" / "contracts" / "DataNotary.json").read_text())
    assert saved["abi"] and saved["bytecode"].startswith("0x60") and "shanghai" in saved["metadata"]


def test_compile_error_is_reported_with_the_file(tmp_path: Path) -> None:
    sources = tmp_path / "contracts"
    sources.mkdir()
    (sources / "Broken.sol").write_text("pragma solidity ^0.8.24;\ncontract Broken { function f( }\n")
    with pytest.raises(ToolchainError, match="Broken.sol"):
        Compiler(tmp_path / "build", solc=SHIM, contracts_dir=sources).compile()
    assert not (tmp_path / "build" / "cache-key").exists()


def test_deploy_is_idempotent_and_redeploys_on_a_new_chain(tmp_path: Path, artifacts: dict[str, Artifact]) -> None:
    settings = make_settings(tmp_path)
    with ManagedAnvil(state_dir=None) as first_chain:
        client = connect(settings, first_chain.url)
        deployment, deployed = deploy(client, artifacts, settings.manifest_path)
        assert deployed
        again, deployed = deploy(client, artifacts, settings.manifest_path)
        assert not deployed and again == deployment
        assert load_manifest(settings.manifest_path) == deployment
    # Anvils started in the same second share a genesis hash: give the new chain another genesis time.
    with ManagedAnvil(state_dir=None, extra_args=["--timestamp", "1700000000"]) as second_chain:
        client = connect(settings, second_chain.url)
        assert "genesis" in (manifest_matches(client, deployment, artifacts) or "")
        fresh, deployed = deploy(client, artifacts, settings.manifest_path)
        assert deployed and fresh.genesis_hash != deployment.genesis_hash
        assert load_manifest(settings.manifest_path) == fresh


def test_manifest_is_refused_when_code_or_artifacts_changed(chain: ChainContext) -> None:
    client, deployment, artifacts = chain.client, chain.deployment, chain.artifacts
    assert manifest_matches(client, deployment, artifacts) is None
    rebuilt = dict(artifacts)
    rebuilt["DataNotary"] = dataclasses.replace(
        artifacts["DataNotary"], bytecode=artifacts["DataNotary"].bytecode + "00"
    )
    assert "rebuilt" in (manifest_matches(client, deployment, rebuilt) or "")
    moved = dataclasses.replace(
        deployment,
        contracts={**deployment.contracts, "DataNotary": dataclasses.replace(
            deployment.contracts["DataNotary"], address="0x" + "42" * 20)},
    )  # fmt: skip
    assert "does not match" in (manifest_matches(client, moved, artifacts) or "")


def test_unreadable_manifest_means_a_fresh_deployment(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    path.write_text("{not json")
    assert load_manifest(path) is None
    path.write_text(json.dumps({"chain_id": 1}))
    assert load_manifest(path) is None
