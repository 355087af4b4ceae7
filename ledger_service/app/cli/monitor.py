"""`provenance monitor`: one device's record in the transparency log, watched by its owner."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from ledger_service.app.cli.common import console
from ledger_service.services.monitor import Alert, DeviceMonitor, Look

FAILURES_BEFORE_ALERT = 3


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)


def monitor(
    device: Annotated[str, typer.Option(help="The device's 32-byte id (0x-hex).")],
    key: Annotated[str, typer.Option(help="The log's verifier key to pin (NAME+HEXID+BASE64KEY).")],
    state: Annotated[Path, typer.Option(help="The monitor's folder: the last checkpoint and sequences seen.")],
    url: Annotated[str, typer.Option(help="The service whose log is watched.")] = "http://127.0.0.1:8000",
    expect_key: Annotated[list[int] | None, typer.Option(help="Key indexes the device may sign with.")] = None,
    alert_url: Annotated[str | None, typer.Option(help="Also POST each alert as JSON to this URL.")] = None,
    once: Annotated[bool, typer.Option("--once", help="Look once, then exit (2 on an alert).")] = False,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between looks.")] = 30.0,
) -> None:
    """Follow the log for one device: alert (a log line, --alert-url, exit 2 with --once) on a gap in
    its sequences, a fork or rewrite of the log, a proof that does not verify, or an unexpected key."""
    watcher = DeviceMonitor(state, device, key, set(expect_key) if expect_key else None)
    with httpx.Client(base_url=url, timeout=60) as http:

        def proof(leaf: int) -> dict[str, Any]:
            answer = http.get(f"/v1/devices/{device.lower()}/completeness", params={"leaf": leaf})
            found = answer.raise_for_status().json()
            if not isinstance(found, dict):
                raise ValueError("the completeness proof is not a JSON object")
            return found

        def consistency(old: int, new: int) -> list[bytes]:
            answer = http.get("/v1/log/proof/consistency", params={"from": old, "to": new}).raise_for_status()
            return [bytes.fromhex(p.removeprefix("0x")) for p in answer.json()["proof"]]

        failures = 0
        while True:
            try:
                look = watcher.look(proof, consistency)
                failures = 0
            except (httpx.HTTPError, ValueError) as exc:
                failures += 1
                console.print(f"[yellow]no proof from the log[/yellow] ({failures} in a row): {type(exc).__name__}")
                if once:
                    raise typer.Exit(1) from exc
                look = Look()
                if failures % FAILURES_BEFORE_ALERT == 0:  # a log that stops answering is an alert too
                    look.alerts.append(Alert("unreachable", f"{failures} looks in a row without a proof: {exc}"))
                else:
                    time.sleep(poll)
                    continue
            for alert in look.alerts:
                console.print(f"[red]ALERT[/red] {alert.kind}: {alert.detail}")
                if alert_url:
                    _post(alert_url, {"device": device, "kind": alert.kind, "detail": alert.detail})
            if not look.alerts:
                console.print(f"ok at size {look.size}: last sequences {look.sequences}")
            if once:
                raise typer.Exit(2 if look.alerts else 0)
            time.sleep(poll)


def _post(url: str, alert: dict[str, str]) -> None:
    try:
        httpx.post(url, json=alert, timeout=10)
    except httpx.HTTPError as exc:
        console.print(f"[yellow]alert not delivered to {url}[/yellow]: {type(exc).__name__}")
