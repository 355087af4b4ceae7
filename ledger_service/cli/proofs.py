"""`provenance verify` and `provenance status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import httpx
import typer

from ledger_service.cli.common import console, fail, load_settings
from ledger_service.runtime import read_runtime
from ledger_service.verify import verify_bundle


def register(app: typer.Typer) -> None:
    """Adds these commands to `app`."""
    app.command("verify")(verify)
    app.command("status")(status)


def verify(
    bundle_path: Annotated[Path, typer.Argument(help="A proof bundle, as GET /v1/readings/{id}/proof returns it.")],
    rpc: Annotated[
        str | None, typer.Option(help="Chain JSON-RPC URL for the chain checks; default PROVENANCE_RPC_URL.")
    ] = None,
    offline: Annotated[bool, typer.Option(help="Only the offline checks.")] = False,
    min_confirmations: Annotated[int, typer.Option(min=1, help="Blocks required on top of the anchor.")] = 1,
    call: Annotated[bool, typer.Option(help="Also ask DataNotary.verify and DeviceRegistry on chain.")] = True,
) -> None:
    """Check a proof bundle offline (signature, leaf, path, root), then against the chain."""
    settings = load_settings()
    try:
        bundle = json.loads(bundle_path.read_text())
    except (OSError, ValueError) as exc:
        fail(ValueError(f"cannot read {bundle_path}: {exc}"))
    rpc_url = None if offline else (rpc or settings.rpc_url or read_runtime(settings).get("rpc_url"))
    if not offline and not rpc_url:
        fail(ValueError("no chain to check against: pass --rpc URL (or --offline)"))
    checks = verify_bundle(bundle, rpc_url, min_confirmations=min_confirmations, call=call)
    for check in checks:
        mark = "[green]ok  [/green]" if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.name:<16} {check.detail}")
    if not all(c.ok for c in checks):
        console.print("[red]the bundle does not verify[/red]")
        raise typer.Exit(code=1)
    console.print("[green]the bundle verifies[/green]" + (" (offline checks only)" if not rpc_url else ""))


def status(
    api: Annotated[str | None, typer.Option(help="API base URL; default the running instance's.")] = None,
) -> None:
    """Show pending work, the last anchored batch and the anchoring lag."""
    settings = load_settings()
    api_url = api or read_runtime(settings).get("api_url") or f"http://127.0.0.1:{settings.api_port}"
    try:
        report = httpx.get(f"{api_url}/v1/batches/lag", timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        fail(ValueError(f"no answer from {api_url}: {exc}"))
    pending = report["open"]
    console.print(f"open:   {pending['reading_count']} readings waiting, oldest {pending['age_seconds'] or 0:.1f}s old")
    console.print(f"sealed: {report['sealed_batches']} batches waiting for their anchor transaction")
    last = report["last_anchored"]
    if last:
        console.print(
            f"last anchored: batch {last['id']} ({last['status']}), {last['reading_count']} readings, "
            f"block {last['block_number']}, tx {last['transaction_hash']}"
        )
    else:
        console.print("last anchored: none yet")
    counts = report["counts"]
    console.print(
        f"batches: {counts['sealed_batches']} sealed, {counts['anchored_batches']} anchored, "
        f"{counts['confirmed_batches']} confirmed"
    )
