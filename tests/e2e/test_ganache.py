"""The walking skeleton against Ganache: the service attaches to it and never starts a chain."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web3 import Web3

from ledger_service.core.chain.node import free_port
from ledger_service.core.chain.rpc import rpc_answers
from ledger_service.core.compiler import Artifact
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.readings import Domain
from tests.utils.factories import Device, body_of
from tests.utils.p256 import P256_PRECOMPILE, WYCHEPROOF_VECTOR
from tests.utils.service import RunningService, children_of
from tests.utils.skeleton import exercise_skeleton, register_with_cli, verify_on_chain, wait_for_status

ROOT = Path(__file__).resolve().parents[2]
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
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children_of(service.process.pid)]
        assert not any(b"anvil" in c for c in commands), "attached to a node, the service must start no chain"
        exercise_skeleton(service, artifacts)
        assert service.stop(signal.SIGINT) == 0


def test_p256_reading_end_to_end_on_ganache_uses_the_solidity_fallback(
    tmp_path: Path, ganache_url: str, artifacts: dict[str, Artifact]
) -> None:
    """Ganache 7 has no P256VERIFY precompile: the registry verifies P-256 in Solidity."""
    key = DeviceKey.generate(KeyType.P256)
    key_file = tmp_path / "device.json"
    key.save(key_file)
    with RunningService(tmp_path, env={"PROVENANCE_RPC_URL": ganache_url}) as service:
        device_id = register_with_cli(service, str(key_file))
        device = Device(key=key, device_id=bytes.fromhex(device_id[2:]))
        with httpx.Client(base_url=service.api_url, timeout=30) as api:
            health = api.get("/health").json()
            domain = Domain(health["chain_id"], health["contracts"]["DeviceRegistry"])
            reading = device.reading()
            posted = api.post("/v1/readings", json=body_of(reading, device.sign(reading, domain)))
            assert posted.status_code == 201, posted.text
            wait_for_status(api, posted.json()["id"], "anchored", timeout=20)
            bundle = api.get(f"/v1/readings/{posted.json()['id']}/proof").json()
        assert verify_on_chain(service.rpc_url, artifacts, bundle) == (True, False)
        w3 = Web3(Web3.HTTPProvider(ganache_url))
        registry = w3.eth.contract(address=domain.verifying_contract, abi=artifacts["DeviceRegistry"].abi)
        assert w3.eth.call({"to": P256_PRECOMPILE, "data": "0x" + WYCHEPROOF_VECTOR}) == b""  # no precompile
        signature = bytes.fromhex(bundle["reading"]["signature"][2:])
        assert registry.functions.verifySignedReading(reading.as_tuple(), signature).call()
        assert service.stop(signal.SIGINT) == 0
