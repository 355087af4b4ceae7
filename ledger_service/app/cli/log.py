"""`provenance log ...`: the transparency log from the shell: audit checkpoints against a pinned key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer

from ledger_service.app.cli.common import console
from ledger_service.services.log_audit import audit

app = typer.Typer(help="The transparency log: audit its checkpoints.", no_args_is_help=True)


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
