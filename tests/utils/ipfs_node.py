"""A real local IPFS node for tests: js-ipfs (`jsipfs`) from tools/ipfs, offline, on loopback ports."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IPFS_TOOLS = PROJECT_ROOT / "tools" / "ipfs"
# The real entry point of `jsipfs` (node_modules/.bin/jsipfs links to it); it renames its process to "ipfs".
IPFS_CLI = IPFS_TOOLS / "node_modules" / "ipfs" / "src" / "cli.js"

_PR_SET_PDEATHSIG = 1
_GATEWAY_LINE = re.compile(r"Gateway \(read only\) listening on /ip4/127\.0\.0\.1/tcp/(\d+)/http")


def ipfs_available() -> bool:
    """True when tools/ipfs is installed (`npm ci` there) and `node` is on PATH."""
    return (IPFS_TOOLS / "node_modules").is_dir() and IPFS_CLI.is_file() and shutil.which("node") is not None


def _die_with_parent() -> None:
    """In the child: ask Linux to send SIGTERM when the parent dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Sends `sig` to the process group that `process` leads (it was started in a new session)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _port_of(multiaddr: str) -> int | None:
    """The TCP port in a multiaddr such as /ip4/127.0.0.1/tcp/5001/http, or None."""
    match = re.search(r"/tcp/(\d+)", multiaddr)
    return int(match.group(1)) if match else None


class IpfsNode:
    """`jsipfs daemon --offline` on 127.0.0.1 for as long as the context is open.

    The repo is a fresh temporary one (removed on stop) unless `repo` is given, which is kept and reused.
    The HTTP RPC API listens on `api_port` (0: a free port chosen by the node); the gateway is off unless
    `gateway` is true; gRPC, swarm, bootstrap, delegates, MDNS and preload are off.
    """

    def __init__(
        self,
        repo: Path | None = None,
        api_port: int = 0,
        gateway: bool = False,
        startup_timeout: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.repo_arg = repo
        self.api_port = api_port
        self.gateway = gateway
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.repo: Path | None = None
        self.log_path: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._api_port: int | None = None
        self._gateway_port: int | None = None
        self._held_lock = False

    @property
    def api_url(self) -> str:
        """The HTTP RPC API base URL, like http://127.0.0.1:PORT (endpoints under /api/v0/)."""
        if self._api_port is None:
            raise RuntimeError("IPFS node is not running")
        return f"http://127.0.0.1:{self._api_port}"

    @property
    def gateway_url(self) -> str:
        """The read-only HTTP gateway's base URL (only with `gateway=True`)."""
        if self._gateway_port is None:
            raise RuntimeError("IPFS gateway is not running (start the node with gateway=True)")
        return f"http://127.0.0.1:{self._gateway_port}"

    @property
    def pid(self) -> int | None:
        """The daemon's process id while running."""
        return self._process.pid if self._process else None

    def log(self) -> str:
        """The daemon's output so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def _env(self) -> dict[str, str]:
        assert self.repo is not None
        return {**os.environ, "IPFS_PATH": str(self.repo), "NO_UPDATE_NOTIFIER": "1"}

    def _cli(self, *args: str) -> list[str]:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH")
        return [node, str(IPFS_CLI), *args]

    def _init_repo(self) -> None:
        """Runs `jsipfs init --profile test` once, then points every listener at loopback or turns it off."""
        assert self.repo is not None
        config_path = self.repo / "config"
        if not config_path.exists():
            self.repo.mkdir(parents=True, exist_ok=True)
            try:
                result = subprocess.run(
                    self._cli("init", "--profile", "test", "--empty-repo"),
                    env=self._env(),
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=self.startup_timeout,
                )
            except subprocess.TimeoutExpired as error:
                raise RuntimeError(f"jsipfs init did not finish within {self.startup_timeout}s") from error
            if result.returncode != 0:
                output = (result.stdout + result.stderr).decode(errors="replace")
                raise RuntimeError(f"jsipfs init failed ({result.returncode}):\n{output}")
        config = json.loads(config_path.read_text())
        config["Addresses"].update(
            API=f"/ip4/127.0.0.1/tcp/{self.api_port}",
            Gateway="/ip4/127.0.0.1/tcp/0" if self.gateway else "",
            RPC="",
            Swarm=[],
            Delegates=[],
        )
        config["Bootstrap"] = []
        config_path.write_text(json.dumps(config, indent=2))
        # A daemon killed by SIGKILL leaves its address file behind: never read a stale port.
        (self.repo / "api").unlink(missing_ok=True)

    def start(self) -> IpfsNode:
        """Initialises the repo if needed, starts the daemon and waits until POST /api/v0/id answers."""
        if self._process is not None:
            raise RuntimeError("IPFS node is already running")
        if not ipfs_available():
            raise RuntimeError(f"js-ipfs is not installed: run `npm ci` in {IPFS_TOOLS}")
        self._tmp = tempfile.TemporaryDirectory(prefix="ipfs-node-")
        self.repo = self.repo_arg or Path(self._tmp.name) / "repo"
        self.log_path = Path(self._tmp.name) / "daemon.log"
        try:
            self._init_repo()
            with self.log_path.open("wb") as log_file:
                self._process = subprocess.Popen(
                    self._cli("daemon", "--offline", "--enable-preload=false"),
                    env=self._env(),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop the daemon in order
                    preexec_fn=_die_with_parent,
                )
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None and self.repo is not None
        api_file = self.repo / "api"
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"jsipfs daemon exited with {self._process.returncode}:\n{self.log()[-4000:]}")
            port = _port_of(api_file.read_text()) if api_file.exists() else None
            if port is not None and self._answers(port):
                self._api_port = port
                self._held_lock = True
                if self.gateway:
                    match = _GATEWAY_LINE.search(self.log())
                    if match is None:
                        raise RuntimeError(f"jsipfs gateway address not found in the log:\n{self.log()[-4000:]}")
                    self._gateway_port = int(match.group(1))
                return
            time.sleep(0.1)
        raise RuntimeError(f"jsipfs daemon did not answer within {self.startup_timeout}s:\n{self.log()[-4000:]}")

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            return httpx.post(f"http://127.0.0.1:{port}/api/v0/id", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stops the daemon (SIGTERM, then SIGKILL if it lingers) and removes a temporary repo."""
        process, self._process = self._process, None
        self._api_port = self._gateway_port = None
        if process is not None and process.poll() is None:
            # Signal its whole process group while the daemon is not yet reaped, so the group id is still ours.
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        if self._held_lock and self.repo is not None:
            # Our daemon is gone: drop what a crashed one leaves (its repo lock stays "fresh" for 20 s).
            shutil.rmtree(self.repo / "repo.lock", ignore_errors=True)
            (self.repo / "api").unlink(missing_ok=True)
        self._held_lock = False
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> IpfsNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
