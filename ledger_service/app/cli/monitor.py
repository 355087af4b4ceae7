"""`provenance monitor`: one device's record in the transparency log, watched by its owner."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from web3 import Web3

from ledger_service.app.cli.common import console
from ledger_service.services.log_audit import FetchConsistency
from ledger_service.services.monitor import Alert, AuditBatch, DeviceMonitor, FetchProof, Look
from ledger_service.services.payload_audit import audit_payload, registry_keys
from ledger_service.services.transparency_log import decode_leaf_data
from ledger_service.services.trust import TrustAnchor, load_trust
from ledger_service.services.verification import Check

FAILURES_BEFORE_ALERT = 3


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)


def monitor(
    device: Annotated[str, typer.Option(help="The device's 32-byte id (0x-hex).")],
    state: Annotated[Path, typer.Option(help="The monitor's folder: the last checkpoint and sequences seen.")],
    key: Annotated[
        str | None, typer.Option(help="The log's verifier key to pin; default the trust document's.")
    ] = None,
    trust: Annotated[str | None, typer.Option(help="Trust document (file or URL): audit batch payloads too.")] = None,
    rpc: Annotated[str | None, typer.Option(help="With --trust: check readings' keys against the registry.")] = None,
    url: Annotated[str, typer.Option(help="The service whose log is watched.")] = "http://127.0.0.1:8000",
    expect_key: Annotated[list[int] | None, typer.Option(help="Key indexes the device may sign with.")] = None,
    alert_url: Annotated[str | None, typer.Option(help="Also POST each alert as JSON to this URL.")] = None,
    once: Annotated[bool, typer.Option("--once", help="Look once, then exit (2 on an alert).")] = False,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between looks.")] = 30.0,
) -> None:
    """Follow the log for one device: alert (a log line, --alert-url, exit 2 with --once) on a gap in
    its sequences, a fork or rewrite of the log, a proof that does not verify, or an unexpected key."""
    anchor = load_trust(trust) if trust else None
    log_key = key or (anchor.log_key if anchor else None)
    if log_key is None:
        console.print("[red]error[/red]: no log key pinned: pass --key, or --trust with a document that names one")
        raise typer.Exit(2)
    watcher = DeviceMonitor(state, device, log_key, set(expect_key) if expect_key else None)
    with httpx.Client(base_url=url, timeout=60) as http:
        audit = _payload_audit(http, anchor, rpc) if anchor else None
        proof, consistency = _fetchers(http, device)
        failures = 0
        while True:
            try:
                look = watcher.look(proof, consistency, audit)
                failures = 0
            except (httpx.HTTPError, ValueError) as exc:
                failures += 1
                console.print(f"[yellow]no proof from the log[/yellow] ({failures} in a row): {type(exc).__name__}")
                if once:
                    raise typer.Exit(1) from exc
                look = Look()
                if failures % FAILURES_BEFORE_ALERT:
                    time.sleep(poll)
                    continue
                look.alerts.append(Alert("unreachable", f"{failures} looks in a row without a proof: {exc}"))
            _report(look, device, alert_url)
            if once:
                raise typer.Exit(2 if look.alerts else 0)
            time.sleep(poll)


def _fetchers(http: httpx.Client, device: str) -> tuple[FetchProof, FetchConsistency]:
    def proof(leaf: int) -> dict[str, Any]:
        answer = http.get(f"/v1/devices/{device.lower()}/completeness", params={"leaf": leaf})
        found = answer.raise_for_status().json()
        if not isinstance(found, dict):
            raise ValueError("the completeness proof is not a JSON object")
        return found

    def consistency(old: int, new: int) -> list[bytes]:
        answer = http.get("/v1/log/proof/consistency", params={"from": old, "to": new}).raise_for_status()
        return [bytes.fromhex(p.removeprefix("0x")) for p in answer.json()["proof"]]

    return proof, consistency


def _report(look: Look, device: str, alert_url: str | None) -> None:
    for alert in look.alerts:
        console.print(f"[red]ALERT[/red] {alert.kind}: {alert.detail}")
        if alert_url:
            _post(alert_url, {"device": device, "kind": alert.kind, "detail": alert.detail})
    if not look.alerts:
        console.print(f"ok at size {look.size}: last sequences {look.sequences}")


def _payload_audit(http: httpx.Client, anchor: TrustAnchor, rpc: str | None) -> AuditBatch:
    keys = (
        registry_keys(Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30})), anchor.registry.address)
        if rpc
        else None
    )

    def audit(data: bytes) -> list[Check]:
        leaf = decode_leaf_data(data)
        payload = http.get(f"/v1/content/{leaf.content_id}").raise_for_status().content
        return audit_payload(payload, leaf, anchor.domain, keys)

    return audit


def _post(url: str, alert: dict[str, str]) -> None:
    try:
        httpx.post(url, json=alert, timeout=10)
    except httpx.HTTPError as exc:
        console.print(f"[yellow]alert not delivered to {url}[/yellow]: {type(exc).__name__}")
