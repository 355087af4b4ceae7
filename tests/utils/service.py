"""Runs `provenance up` as a real process for end-to-end tests, and stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

VENV_BIN = Path(sys.executable).parent


def children_of(pid: int) -> list[int]:
    """The direct child processes of `pid` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def child_with(pid: int, marker: bytes) -> int | None:
    """The pid of a child of `pid` whose command line has `marker` as a word or a word's end."""
    for child in children_of(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if any(part == marker or part.endswith(marker) for part in command):
            return child
    return None


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


class RunningService:
    """`provenance up` in a data directory, as a child process, with its published URLs."""

    def __init__(
        self,
        workdir: Path,
        env: dict[str, str] | None = None,
        timeout: float = 90.0,
        command: tuple[str, ...] = ("up",),
        ready_text: str = "is up",
        prefix: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.command = command
        self.prefix = prefix  # e.g. `ip netns exec NS`, which execs the command in the same process
        self.ready_text = ready_text
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")},
            "PROVENANCE_API_PORT": "0",
            "PROVENANCE_BATCH_AGE": "1",
            "PROVENANCE_BATCH_POLL": "0.1",
            "PROVENANCE_KEYSTORE_SCRYPT_N": "1024",  # a light work factor: tests make many key stores
            **(env or {}),
        }
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.log_path = workdir / f"{command[0]}.log"

    def start(self) -> RunningService:
        self.workdir.mkdir(parents=True, exist_ok=True)
        runtime = self.workdir / ".provenance" / "runtime.json"
        if self.command[0] in ("up", "chain"):
            runtime.unlink(missing_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            command = [*self.prefix, str(VENV_BIN / "provenance"), *self.command]
            self.process = subprocess.Popen(command, cwd=self.workdir, env=self.env, stdout=log, stderr=log)
        name = " ".join(self.command)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"provenance {name} exited with {self.process.returncode}:\n{self.log()}")
            if self.ready_text in self.log()[offset:]:
                if runtime.exists():
                    self.info = json.loads(runtime.read_text())
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"provenance {name} did not come up in {self.timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def rpc_url(self) -> str:
        return str(self.info["rpc_url"])

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        """Sends `sig` (Ctrl-C by default) and waits; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> RunningService:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.stop(signal.SIGTERM, timeout=20)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


@contextmanager
def serving(app: Any) -> Iterator[int]:
    """Serves the ASGI `app` with uvicorn in a thread on a socket of the service's own making
    (`bind_socket`) for the block; yields its port; stops the server and closes the socket after."""
    from ledger_service.app.runtime import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
