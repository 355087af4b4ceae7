"""`provenance log ...`: the transparency log from the shell: audit checkpoints against a pinned key."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from ledger_service.app.cli.common import console
from ledger_service.core.errors import InvalidFilter
from ledger_service.core.signed_note import open_note
from ledger_service.services.log_audit import Check, audit
from ledger_service.services.log_chain import check_against_chain, check_chain, read_chain_log
from ledger_service.services.witness import Witness

app = typer.Typer(help="The transparency log: audit its checkpoints, witness it.", no_args_is_help=True)


@app.command("verify")
def verify(
    checkpoints: Annotated[list[Path], typer.Argument(help="Checkpoint notes, as saved from GET /v1/log/checkpoint.")],
    key: Annotated[str, typer.Option(help="The log's verifier key to pin (NAME+HEXID+BASE64KEY).")],
    url: Annotated[str, typer.Option(help="The service, for consistency proofs.")] = "http://127.0.0.1:8000",
    latest: Annotated[bool, typer.Option(help="Also fetch and check the log's latest checkpoint.")] = False,
    rpc: Annotated[str | None, typer.Option(help="An RPC endpoint: also check against the chain.")] = None,
    notary: Annotated[str | None, typer.Option(help="The DataNotary whose log head is read (with --rpc).")] = None,
    from_block: Annotated[int, typer.Option(help="The block the notary was deployed in (with --rpc).")] = 0,
) -> None:
    """Check each checkpoint's signature with the pinned key, one origin, one root per size, and each
    one a prefix of the next (by proofs from the log, checked here); with --rpc, also that the
    notary's on-chain log head is the root of its events and that each checkpoint is the chain's log
    at its size. Exit 1 on any failure."""
    if (rpc is None) != (notary is None):
        console.print("[red]error[/red]: --rpc and --notary go together")
        raise typer.Exit(2)
    notes = [path.read_text() for path in checkpoints]
    with httpx.Client(base_url=url, timeout=30) as http:
        if latest:
            notes.append(http.get("/v1/log/checkpoint").raise_for_status().text)

        def fetch(old: int, new: int) -> list[bytes]:
            answer = http.get("/v1/log/proof/consistency", params={"from": old, "to": new}).raise_for_status()
            return [bytes.fromhex(p.removeprefix("0x")) for p in answer.json()["proof"]]

        checks = audit(notes, key, fetch)
    if rpc is not None and notary is not None:
        checks += _against_chain(notes, key, rpc, notary, from_block)
    for check in checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.what}" + (f": {check.detail}" if check.detail else ""))
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


def _against_chain(notes: list[str], key: str, rpc: str, notary: str, from_block: int) -> list[Check]:
    from web3 import Web3  # only a chain check needs web3

    try:
        chain = read_chain_log(Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30})), notary, from_block)
    except Exception as exc:  # noqa: BLE001 - an unreachable node or undecodable events fail the chain check
        return [Check("the chain's log head is the root of its events", False, f"{type(exc).__name__}: {exc}")]
    opened = []
    for note in notes:
        try:
            opened.append(open_note(note, key))
        except InvalidFilter:
            continue  # already reported by the audit
    return [check_chain(chain), *check_against_chain(opened, chain)]


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
