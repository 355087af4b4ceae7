"""The managed local chain: anvil started as a child process and stopped with its owner."""

from __future__ import annotations

import ctypes
import logging
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from ledger_service.core.chain.rpc import rpc_answers
from ledger_service.core.errors import ChainError, ToolchainError
from ledger_service.core.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_PLATFORMS = {
    ("Linux", "x86_64"): "linux-amd64",
    ("Linux", "aarch64"): "linux-arm64",
    ("Darwin", "x86_64"): "darwin-amd64",
    ("Darwin", "arm64"): "darwin-arm64",
}


def find_anvil(configured: Path | None = None) -> Path:
    """Returns the native anvil binary: the configured one or the one shipped by npm."""
    if configured:
        return configured
    suffix = _PLATFORMS.get((platform.system(), platform.machine()))
    if suffix is None:
        raise ToolchainError(f"no anvil build for {platform.system()} {platform.machine()}: set PROVENANCE_ANVIL_BIN")
    binary = PROJECT_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{suffix}" / "bin" / "anvil"
    if not binary.exists():
        raise ToolchainError(f"anvil not found at {binary}: run `npm ci`")
    return binary


def free_port() -> int:
    """Returns a loopback port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """In the child: ask Linux to send SIGTERM when the parent dies, even by SIGKILL.

    Linux ties the signal to the parent *thread*: start the child from a thread that lives as
    long as the process (the main thread), or from a context that stops the child before its
    thread ends."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedAnvil:
    """Runs anvil for as long as the context is open; the chain's state persists in `state_dir`.

    Use as a context manager: the process is stopped on exit, also on errors.
    """

    def __init__(
        self,
        state_dir: Path | None,
        port: int = 0,
        chain_id: int = 31337,
        binary: Path | None = None,
        extra_args: list[str] | None = None,
        startup_timeout: float = 30.0,
        keep_states: int | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.port = port or free_port()
        self.chain_id = chain_id
        self.binary = find_anvil(binary)
        self.extra_args = extra_args or []
        self.startup_timeout = startup_timeout
        self.keep_states = keep_states  # states kept in memory: reorgs (`anvil_reorg`) need them
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._process.pid if self._process else None

    def poll(self) -> int | None:
        """None while anvil runs; its exit status once it has exited (-1 when it was never started
        or was stopped)."""
        return -1 if self._process is None else self._process.poll()

    def command(self) -> list[str]:
        """The command line that starts the node."""
        args = [
            str(self.binary),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--prune-history", *([str(self.keep_states)] if self.keep_states else []),
            "--slots-in-an-epoch", "1",
            "--balance", "1000000",  # ether per dev account: a long test session funds many throwaway accounts
        ]  # fmt: skip
        if self.state_dir is not None:
            args += ["--state", str(self.state_dir / "anvil-state.json"), "--state-interval", "2"]
        return args + self.extra_args

    def start(self) -> ManagedAnvil:
        """Starts anvil and waits until it answers JSON-RPC."""
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.state_dir / "anvil.log"
        else:
            log_path = Path(tempfile.gettempdir()) / f"provenance-anvil-{self.port}.log"
        with log_path.open("ab") as log_file:  # appended: a restart keeps the log of the run that ended
            self._process = subprocess.Popen(
                self.command(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop anvil in order
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                self._process = None
                raise ChainError(f"anvil exited at start (port {self.port}):\n{tail}")
            if rpc_answers(self.url):
                log.info("anvil started", extra={"url": self.url, "pid": self._process.pid})
                return self
            time.sleep(0.05)
        self.stop()
        raise ChainError(f"anvil did not answer on {self.url} within {self.startup_timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stops anvil: SIGINT first (it saves its state), SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.info("anvil stopped", extra={"pid": process.pid})

    def __enter__(self) -> ManagedAnvil:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def managed_anvil_for(settings: Settings) -> ManagedAnvil:
    """The managed anvil that `settings` describe, keeping its state in the data directory."""
    return ManagedAnvil(
        state_dir=settings.chain_dir.resolve(),
        port=settings.anvil_port,
        chain_id=settings.chain_id,
        binary=settings.anvil_bin,
    )
