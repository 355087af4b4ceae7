"""What the CLI's commands share: the console, settings, error reporting, the chain."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import NoReturn

import typer
from rich.console import Console

from ledger_service.core.chain.context import prepare_chain, running_chain_url
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.errors import ProvenanceError, TransactionReverted
from ledger_service.core.logs import configure_logging
from ledger_service.core.redact import redact
from ledger_service.core.settings import Settings

console = Console(stderr=True, soft_wrap=True)


def load_settings() -> Settings:
    """The settings, with logging configured from them."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def terminate_on_sigterm() -> None:
    """Turns SIGTERM into SystemExit, so that context managers stop child processes."""

    def _handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _handler)


def fail(exc: Exception, code: int = 1) -> NoReturn:
    """Prints the error and exits non-zero."""
    if isinstance(exc, TransactionReverted):
        console.print(f"[red]refused by the contract[/red]: {exc.detail}")
    elif isinstance(exc, ProvenanceError):
        console.print(f"[red]error[/red] ({exc.code}): {exc.detail}")
    else:
        console.print(f"[red]error[/red]: {redact(str(exc))}")
        code = 2
    raise typer.Exit(code=code)


def connect_ledger(settings: Settings) -> Ledger:
    """The deployed contracts on the running chain (compiling and deploying if needed)."""
    chain = prepare_chain(settings, running_chain_url(settings))
    return Ledger(chain.client, chain.deployment, chain.artifacts)
