"""`provenance verify` and `provenance status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.markup import escape
from web3 import Web3

from ledger_service.app.cli.common import console, fail, load_settings
from ledger_service.core.chain.context import read_runtime
from ledger_service.core.errors import TrustAnchorError
from ledger_service.core.settings import Settings
from ledger_service.services.completeness_check import check_completeness
from ledger_service.services.payload_audit import audit_payload, registry_keys
from ledger_service.services.proofs import EDGE_PROOF_FORMAT
from ledger_service.services.transparency_log import decode_leaf_data
from ledger_service.services.trust import TrustAnchor, explicit_anchor, load_trust
from ledger_service.services.verification import Check, Verification
from ledger_service.services.verify import SELF_CONSISTENCY_WARNING, verify_bundle
from ledger_service.services.verify_edge import verify_edge_bundle


def register(app: typer.Typer) -> None:
    """Adds these commands to `app`."""
    app.command("verify")(verify)
    app.command("status")(status)


def _trust_anchor(
    settings: Settings,
    trust: str | None,
    manifest: Path | None,
    chain_id: int | None,
    notary: str | None,
    registry: str | None,
    genesis_hash: str | None,
) -> TrustAnchor | None:
    """The verifier's own trust anchor: explicit values, a trust document, a manifest, or the local
    deployment manifest; never the bundle."""
    explicit = (chain_id, notary, registry)
    if any(v is not None for v in explicit):
        if chain_id is None or notary is None or registry is None:
            raise TrustAnchorError("explicit pins need all of --chain-id, --notary and --registry")
        return explicit_anchor(chain_id, notary, registry, genesis_hash)
    if trust is not None:
        return load_trust(trust)
    path = manifest or settings.manifest_path
    if manifest is not None or path.exists():
        return load_trust(str(path))
    return None


def verify(
    bundle_path: Annotated[Path, typer.Argument(help="A proof bundle, as GET /v1/readings/{id}/proof returns it.")],
    trust: Annotated[
        str | None, typer.Option(help="Trust document to pin: a file, or the service's URL (its well-known document).")
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="Deployment manifest to pin; default the local one, if there is one.")
    ] = None,
    chain_id: Annotated[int | None, typer.Option(help="Pin this chain id (with --notary and --registry).")] = None,
    notary: Annotated[str | None, typer.Option(help="Pin this DataNotary address.")] = None,
    registry: Annotated[str | None, typer.Option(help="Pin this DeviceRegistry address.")] = None,
    genesis_hash: Annotated[str | None, typer.Option(help="Pin this genesis block hash.")] = None,
    rpc: Annotated[
        str | None, typer.Option(help="JSON-RPC URL of a node of the pinned chain; default PROVENANCE_RPC_URL.")
    ] = None,
    min_confirmations: Annotated[int, typer.Option(min=1, help="Blocks required on top of the anchor.")] = 1,
    self_consistency_only: Annotated[
        bool, typer.Option(help="Check only that the bundle is consistent in itself, and exit 0 if it is.")
    ] = False,
    completeness: Annotated[
        bool,
        typer.Option(
            "--completeness", help="The file is a device's completeness proof (GET /v1/devices/{id}/completeness)."
        ),
    ] = False,
    device: Annotated[str | None, typer.Option(help="With --completeness: the device to check it for.")] = None,
    log_key: Annotated[str | None, typer.Option(help="With --completeness: the log's verifier key to pin.")] = None,
    expect_first: Annotated[
        int | None, typer.Option(help="With --completeness: the first sequence (key 0) known sent; earlier gaps count.")
    ] = None,
    payloads: Annotated[
        str | None, typer.Option(help="With --completeness and --trust: audit each batch's payload from this service.")
    ] = None,
) -> None:
    """Check a proof bundle against a pinned trust anchor and its chain; or, with --completeness, a
    device's completeness proof against the pinned log key.

    Exit codes: 0 verified; 1 a check failed; 2 not verified (no trust anchor or no chain: only
    self-consistency was checked, unless --self-consistency-only asked for exactly that), or bad input."""
    settings = load_settings()
    bundle = _read_json(bundle_path)
    if completeness:
        verify_completeness(bundle, _log_key(log_key, trust), device or str(bundle.get("device_id", "")), expect_first)
        if payloads is not None:
            audit_payloads(bundle, payloads, _pin_for_audit(settings, trust, manifest), rpc or settings.rpc_url)
        return
    anchor: TrustAnchor | None = None
    rpc_url: str | None = None
    if not self_consistency_only:
        try:
            anchor = _trust_anchor(settings, trust, manifest, chain_id, notary, registry, genesis_hash)
        except TrustAnchorError as exc:
            fail(exc, code=2)
        rpc_url = rpc or settings.rpc_url or read_runtime(settings).get("rpc_url")
        if anchor is not None and not rpc_url:
            fail(ValueError("no node of the pinned chain to check against: pass --rpc URL"))
    check = verify_edge_bundle if bundle.get("format") == EDGE_PROOF_FORMAT else verify_bundle
    result = check(bundle, anchor, rpc_url, min_confirmations=min_confirmations)
    _report_bundle(result, anchor, self_consistency_only)


def _report_bundle(result: Verification, anchor: TrustAnchor | None, self_consistency_only: bool) -> None:
    """Prints the checks and the verdict; exit 1 if a check failed, 2 if nothing was pinned."""
    if anchor is not None:
        console.print(f"trust anchor: {anchor.source}")
    _print_checks(result.checks)
    if not result.ok:
        console.print("[red]the bundle does not verify[/red]")
        raise typer.Exit(code=1)
    if result.complete:
        console.print("[green]the bundle verifies[/green] against the pinned trust anchor")
        return
    console.print(f"[yellow]{SELF_CONSISTENCY_WARNING}[/yellow]")
    if not self_consistency_only:
        console.print("[red]not verified[/red]: no trust anchor was pinned")
        raise typer.Exit(code=2)
    console.print("the bundle is self-consistent")


def _pin_for_audit(settings: Settings, trust: str | None, manifest: Path | None) -> TrustAnchor | None:
    try:
        return _trust_anchor(settings, trust, manifest, None, None, None, None)
    except TrustAnchorError as exc:
        fail(exc, code=2)


def audit_payloads(proof: dict[str, Any], url: str, anchor: TrustAnchor | None, rpc_url: str | None) -> None:
    """Audits the payload of every batch a completeness proof covers (exit 1 on a failure); with a
    node of the pinned chain, each reading's key is checked against the pinned registry too."""
    if anchor is None:
        fail(ValueError("auditing payloads needs the pinned EIP-712 domain: pass --trust"), code=2)
    keys = None
    if rpc_url:
        keys = registry_keys(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30})), anchor.registry.address)
    else:
        console.print(
            "[yellow]no --rpc: signatures are checked against the keys the readings name, not the registry[/yellow]"
        )
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            for data in proof["log"]["leaves"]:
                leaf = decode_leaf_data(bytes.fromhex(data[2:]))
                checks = audit_payload(http.get(f"/v1/content/{leaf.content_id}").content, leaf, anchor.domain, keys)
                _print_checks(checks)
                if not all(c.ok for c in checks):
                    console.print(f"[red]batch {leaf.batch_id} does not pass its payload audit[/red]")
                    raise typer.Exit(code=1)
    except httpx.HTTPError as exc:
        fail(ValueError(f"no payload from {url}: {type(exc).__name__}"), code=2)
    console.print(f"[green]{len(proof['log']['leaves'])} batch payloads audited[/green]")


def _print_checks(checks: list[Check]) -> None:
    for check in checks:
        mark = "[green]ok  [/green]" if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {escape(check.name):<16} {escape(check.detail)}")  # details quote the bundle


def _read_json(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text())
        if not isinstance(found, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        fail(ValueError(f"cannot read {path}: {exc}"))
    return found


def _log_key(log_key: str | None, trust: str | None) -> str:
    """The pinned log key: given, or from the trust document (exit 2 without one)."""
    if log_key is None and trust is not None:
        try:
            log_key = load_trust(trust).log_key
        except TrustAnchorError as exc:
            fail(exc, code=2)
    if log_key is None:
        fail(ValueError("no log key pinned: pass --log-key, or --trust with a trust document that names one"), code=2)
    return log_key


def verify_completeness(proof: dict[str, Any], log_key: str, device: str, expect_first: int | None) -> None:
    """Prints the checks and what the proof shows; exit 1 if a check failed."""
    report = check_completeness(proof, log_key, device)
    _print_checks(report.checks)
    if not report.ok:
        console.print("[red]the completeness proof does not verify[/red]")
        raise typer.Exit(code=1)
    for key, present in sorted(report.sequences.items()):
        console.print(f"key {key}: {len(present)} readings, sequences {present[0]} to {present[-1]}")
    gaps = report.gaps({0: expect_first} if expect_first is not None else None)
    for key, runs in sorted(gaps.items()):
        shown = ", ".join(f"{a}" if a == b else f"{a}-{'' if b is None else b}" for a, b in runs)
        console.print(f"[yellow]gaps[/yellow] key {key}: {shown}")
    assert report.checkpoint is not None
    console.print(f"[green]the proof verifies[/green]: log leaves {report.start} to {report.checkpoint.size - 1}, "
                  f"{'no gaps' if not gaps else 'gaps reported above'}")  # fmt: skip


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
        f"{counts['confirmed_batches']} confirmed, {counts.get('final_batches', 0)} final"
    )
