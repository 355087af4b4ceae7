"""`provenance trust`: the trust document verifiers pin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ledger_service.app.cli.common import console, fail, load_settings
from ledger_service.core.chain.manifest import load_manifest
from ledger_service.core.errors import DeploymentError
from ledger_service.services.transparency_log import log_verifier_key
from ledger_service.services.trust import fingerprint, trust_document

app = typer.Typer(help="The trust document: chain, contracts with their code hashes, EIP-712 domain.")


@app.command("export")
def export(
    out: Annotated[Path | None, typer.Option(help="Write it to this file; default standard output.")] = None,
    manifest: Annotated[Path | None, typer.Option(help="Deployment manifest; default the local one.")] = None,
) -> None:
    """Print (or write) the trust document of this deployment, and its fingerprint on stderr."""
    settings = load_settings()
    path = manifest or settings.manifest_path
    deployment = load_manifest(path)
    if deployment is None:
        fail(DeploymentError(f"no deployment manifest at {path}: deploy first (provenance deploy)"))
    document = trust_document(deployment, log_verifier_key(settings))
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        console.print(f"wrote the trust document to {out}")
    console.print(f"fingerprint {fingerprint(document)} (chain {deployment.chain_id}, "
                  f"{len(deployment.contracts)} contracts)")  # fmt: skip
