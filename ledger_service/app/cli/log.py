"""`provenance log ...`: the transparency log from the shell: audit checkpoints against a pinned key."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from ledger_service.app.cli.common import console
from ledger_service.services.log_audit import audit
from ledger_service.services.witness import Witness

app = typer.Typer(help="The transparency log: audit its checkpoints, witness it.", no_args_is_help=True)


@app.command("verify")
def verify(
    checkpoints: Annotated[list[Path], typer.Argument(help="Checkpoint notes, as saved from GET /v1/log/checkpoint.")],
    key: Annotated[str, typer.Option(help="The log's verifier key to pin (NAME+HEXID+BASE64KEY).")],
    url: Annotated[str, typer.Option(help="The service, for consistency proofs.")] = "http://127.0.0.1:8000",
    latest: Annotated[bool, typer.Option(help="Also fetch and check the log's latest checkpoint.")] = False,
) -> None:
    """Check each checkpoint's signature with the pinned key, one origin, one root per size, and each
    one a prefix of the next (by proofs from the log, checked here); exit 1 on any failure."""
    notes = [path.read_text() for path in checkpoints]
    with httpx.Client(base_url=url, timeout=30) as http:
        if latest:
            notes.append(http.get("/v1/log/checkpoint").raise_for_status().text)

        def fetch(old: int, new: int) -> list[bytes]:
            answer = http.get("/v1/log/proof/consistency", params={"from": old, "to": new}).raise_for_status()
            return [bytes.fromhex(p.removeprefix("0x")) for p in answer.json()["proof"]]

        checks = audit(notes, key, fetch)
    for check in checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.what}" + (f": {check.detail}" if check.detail else ""))
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@app.command("witness")
def witness(
    key: Annotated[str, typer.Option(help="The log's verifier key to pin (NAME+HEXID+BASE64KEY).")],
    state: Annotated[Path, typer.Option(help="The witness's folder: its key, the last cosigned checkpoint.")],
    url: Annotated[str, typer.Option(help="The service whose log is witnessed.")] = "http://127.0.0.1:8000",
    name: Annotated[str, typer.Option(help="The witness's name in its cosignatures.")] = "witness",
    once: Annotated[bool, typer.Option("--once", help="Look once, then exit (2 on an alarm).")] = False,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between looks.")] = 10.0,
) -> None:
    """Cosign the log's checkpoints as an independent witness: each only if it extends the last one
    cosigned (a fork, a rollback or a rewrite raises an alarm: a log line, exit status 2)."""
    observer = Witness(state, name, key)
    console.print(f"witness {name}: {observer.verifier}")
    with httpx.Client(base_url=url, timeout=30) as http:

        def fetch(old: int, new: int) -> list[bytes]:
            answer = http.get("/v1/log/proof/consistency", params={"from": old, "to": new}).raise_for_status()
            return [bytes.fromhex(p.removeprefix("0x")) for p in answer.json()["proof"]]

        while True:
            try:
                seen = observer.observe(http.get("/v1/log/checkpoint").raise_for_status().text, fetch)
            except httpx.HTTPError as exc:
                console.print(f"[yellow]log unreachable[/yellow]: {type(exc).__name__}")
                seen = None
            if seen is not None:
                mark = "[red]ALARM[/red] " if seen.alarm else ""
                console.print(f"{mark}{seen.status} at size {seen.size}" + (f": {seen.detail}" if seen.detail else ""))
                if once:
                    raise typer.Exit(2 if seen.alarm else 0)
            elif once:
                raise typer.Exit(1)
            time.sleep(poll)
