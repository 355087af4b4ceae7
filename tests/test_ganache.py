"""The walking skeleton against Ganache: the service attaches to it and never starts a chain."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_service.chain.node import free_port, rpc_answers
from ledger_service.compiler import Artifact
from tests.service import RunningService, children_of
from tests.test_end_to_end import exercise_skeleton

ROOT = Path(__file__).resolve().parent.parent
GANACHE_CLI = ROOT / "node_modules" / "ganache" / "dist" / "node" / "cli.js"

pytestmark = pytest.mark.ganache


@pytest.fixture(scope="module")
def ganache_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Ganache 7 node (Shanghai) for this module, run with node directly so it stops with a kill."""
    if not GANACHE_CLI.exists():
        pytest.fail("ganache is not installed: run `npm ci`")
    port = free_port()
    log = tmp_path_factory.mktemp("ganache") / "ganache.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["node", str(GANACHE_CLI), "--server.host", "127.0.0.1", "--server.port", str(port),
             "--chain.chainId", "1337", "--chain.hardfork", "shanghai", "--logging.quiet"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if rpc_answers(url) or process.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        if not rpc_answers(url):
            pytest.fail(f"ganache did not start:\n{log.read_text()}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_skeleton_on_ganache(tmp_path: Path, ganache_url: str, artifacts: dict[str, Artifact]) -> None:
    with RunningService(tmp_path, env={"PROVENANCE_RPC_URL": ganache_url}) as service:
        assert service.rpc_url == ganache_url
        assert service.process is not None
        assert children_of(service.process.pid) == [], "attached to a node, the service must start no chain"
        exercise_skeleton(service, artifacts)
        assert service.stop(signal.SIGINT) == 0
