"""The edge gateway under real faults: `provenance edge` SIGKILLed while it forwards, the upstream
service restarted while it forwards, and (in a network namespace, joined by a veth pair) the link
taken down under steady load and brought back. Every reading the gateway acknowledged ends up
anchored upstream exactly once, in each device's order."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx

from ledger_service.core.chain.node import free_port
from ledger_service.core.readings import GATEWAY_MODEL
from provenance_device import DeviceKey
from tests.utils.edge import (
    ROOT,
    DeviceProcess,
    anchored_batches,
    gateway_counts,
    namespace,
    register_key_file,
    start_device,
    stop_all,
    upstream_rows,
    wait_until,
)
from tests.utils.service import VENV_BIN, RunningService
from tests.utils.tcp_proxy import TcpProxy

#: Seconds the veth link stays down (after the first 3): 8 in the suite, to stay inside CI's budget;
#: `PROVENANCE_TEST_OUTAGE=180 pytest tests/e2e/test_edge_faults.py -k cut_off` runs a 3-minute outage.
OUTAGE = float(os.environ.get("PROVENANCE_TEST_OUTAGE", "8"))


def gateway_service(workdir: Path, upstream_url: str, rpc_url: str, manifest: Path, port: int,
                    prefix: tuple[str, ...] = (), key: Path | None = None) -> RunningService:  # fmt: skip
    env = {"PROVENANCE_RPC_URL": rpc_url, "PROVENANCE_API_PORT": str(port), "PROVENANCE_EDGE_REGISTRY_POLL": "0.5",
           "PROVENANCE_API_HOST": "127.0.0.1", "PROVENANCE_EDGE_AGGREGATE_EVERY": "1"}  # fmt: skip
    command: tuple[str, ...] = ("edge", "--upstream", upstream_url, "--manifest", str(manifest))
    if key is not None:  # and light: the ABIs from a copy of the operator's build directory, no compiler
        command += ("--key", str(key), "--artifacts", str(ROOT / "build"))
    return RunningService(workdir, env=env, command=command, ready_text="edge gateway on", prefix=prefix)


def make_devices(tmp_path: Path, upstream: RunningService, count: int) -> list[tuple[Path, str]]:
    devices = []
    for index in range(count):
        key_file = tmp_path / f"device-{index}.key"
        DeviceKey.generate("p256" if index % 2 else "secp256k1").save(key_file)
        devices.append((key_file, register_key_file(upstream, key_file)))
    return devices


def assert_each_anchored_once_in_order(
    upstream: RunningService, devices: list[DeviceProcess], recorded: list[int]
) -> None:
    """Each device's readings upstream are its sequences 1..count, each once, in order, all anchored."""

    def anchored(device: DeviceProcess, count: int) -> bool:
        rows, batches = upstream_rows(upstream, device.device_id), anchored_batches(upstream)
        return len(rows) >= count and all(batch in batches for _, batch in rows)

    for device, count in zip(devices, recorded, strict=True):
        wait_until(lambda d=device, c=count: anchored(d, c), 90, f"{count} readings of {device.device_id} anchored")
        assert [s for s, _ in upstream_rows(upstream, device.device_id)] == list(range(1, count + 1))


def test_a_gateway_killed_and_an_upstream_restarted_while_forwarding_lose_and_repeat_nothing(tmp_path: Path) -> None:
    api_port, anvil_port, edge_port = free_port(), free_port(), free_port()
    up_env = {"PROVENANCE_API_PORT": str(api_port), "PROVENANCE_ANVIL_PORT": str(anvil_port)}
    upstream = RunningService(tmp_path / "upstream", env=up_env).start()
    gateway: RunningService | None = None
    devices: list[DeviceProcess] = []
    try:
        keys = make_devices(tmp_path, upstream, 2)
        manifest = upstream.workdir / ".provenance" / "deployment.json"
        gateway = gateway_service(tmp_path / "edge", upstream.api_url, upstream.rpc_url, manifest, edge_port).start()
        domain = _domain(manifest)
        url = f"http://127.0.0.1:{edge_port}"
        devices = [start_device(k, d, domain, url, seconds=12, every=0.02) for k, d in keys]
        time.sleep(3)
        gateway.kill()  # SIGKILL while it takes readings in and forwards them
        time.sleep(1)
        gateway.start()
        time.sleep(3)
        upstream.stop(signal.SIGTERM)  # the service goes away while the gateway forwards
        time.sleep(1)
        upstream.start()
        summaries = [d.result(timeout=120) for d in devices]
        assert all(s["refused"] == [] and s["pending"] == 0 for s in summaries), summaries
        recorded = [int(s["recorded"]) for s in summaries]  # type: ignore[call-overload]
        assert all(r > 100 for r in recorded)
        assert_each_anchored_once_in_order(upstream, devices, recorded)
        held, answered = gateway_counts(tmp_path / "edge")
        assert held == answered == sum(recorded)
    finally:
        stop_all(devices, gateway, upstream)


def test_a_gateway_cut_off_by_its_link_keeps_taking_readings_and_catches_up(tmp_path: Path) -> None:
    upstream = RunningService(tmp_path / "upstream").start()
    gateway: RunningService | None = None
    devices: list[DeviceProcess] = []
    try:
        keys = make_devices(tmp_path, upstream, 2)
        manifest = upstream.workdir / ".provenance" / "deployment.json"
        domain = _domain(manifest)
        api_port = int(upstream.api_url.rsplit(":", 1)[1])
        rpc_port = int(upstream.rpc_url.rsplit(":", 1)[1])
        with namespace() as ns, TcpProxy(api_port, ns.host_address) as api, TcpProxy(rpc_port, ns.host_address) as rpc:
            edge_port = free_port()
            gateway = gateway_service(tmp_path / "edge", api.url, rpc.url, manifest, edge_port, ns.prefix).start()
            url = f"http://127.0.0.1:{edge_port}"  # the devices sit beside the gateway, inside the namespace
            devices = [start_device(k, d, domain, url, OUTAGE + 12, 0.02, ns.prefix) for k, d in keys]
            time.sleep(3)
            ns.link(up=False)
            time.sleep(3)  # a request the proxy had taken whole before the cut may still be committed upstream
            during = [len(upstream_rows(upstream, d.device_id)) for d in devices]
            time.sleep(OUTAGE)
            assert [len(upstream_rows(upstream, d.device_id)) for d in devices] == during  # nothing gets through
            assert all(d.pending() < 50 for d in devices)  # yet the gateway answers its devices
            ns.link(up=True)
            summaries = [d.result(timeout=120 + OUTAGE) for d in devices]
            assert all(s["refused"] == [] and s["pending"] == 0 for s in summaries), summaries
            recorded = [int(s["recorded"]) for s in summaries]  # type: ignore[call-overload]
            assert_each_anchored_once_in_order(upstream, devices, recorded)
            held, answered = gateway_counts(tmp_path / "edge")
            assert held == answered == sum(recorded)
    finally:
        stop_all(devices, gateway, upstream)


def test_an_aggregating_gateway_killed_while_sealing_leaves_every_reading_under_an_anchored_root(
    tmp_path: Path,
) -> None:
    """`provenance edge --key`: device processes send through it, it is SIGKILLed and restarted while it
    seals and forwards; every reading it acknowledged ends up under a root anchored upstream, and the
    reading's chained proof passes `provenance verify` against the pinned deployment."""
    upstream = RunningService(tmp_path / "upstream").start()
    gateway: RunningService | None = None
    devices: list[DeviceProcess] = []
    try:
        keys = make_devices(tmp_path, upstream, 2)
        own_key = tmp_path / "gateway.key"
        DeviceKey.generate().save(own_key)
        gateway_id = register_key_file(upstream, own_key, "--model", GATEWAY_MODEL)
        manifest = upstream.workdir / ".provenance" / "deployment.json"
        edge_port = free_port()
        gateway = gateway_service(tmp_path / "edge", upstream.api_url, upstream.rpc_url, manifest, edge_port,
                                  key=own_key).start()  # fmt: skip
        url = f"http://127.0.0.1:{edge_port}"
        devices = [start_device(k, d, _domain(manifest), url, seconds=6, every=0.02) for k, d in keys]
        time.sleep(3)
        gateway.kill()
        gateway.start()
        summaries = [d.result(timeout=120) for d in devices]
        assert all(s["refused"] == [] and s["pending"] == 0 for s in summaries), summaries
        held = _gateway_readings(tmp_path / "edge", [d.device_id for d in devices])
        assert len(held) == sum(int(s["recorded"]) for s in summaries)  # type: ignore[call-overload]
        wait_until(lambda: _all_sealed_and_anchored(upstream, tmp_path / "edge", held), 90, "every root anchored")
        assert all(upstream_rows(upstream, d.device_id) == [] for d in devices)  # only roots went upstream
        assert len(upstream_rows(upstream, gateway_id)) >= 1
        proof = httpx.get(f"{url}/v1/readings/{held[len(held) // 2]}/proof", timeout=30)
        assert proof.status_code == 200, proof.text
        (tmp_path / "proof.json").write_text(proof.text)
        done = subprocess.run(
            [str(VENV_BIN / "provenance"), "verify", str(tmp_path / "proof.json"), "--manifest", str(manifest),
             "--rpc", upstream.rpc_url],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0 and "gateway-path" in done.stdout + done.stderr, done.stdout + done.stderr
    finally:
        stop_all(devices, gateway, upstream)


def _gateway_readings(workdir: Path, device_ids: list[str]) -> list[str]:
    with sqlite3.connect(workdir / ".provenance" / "provenance.db") as db:
        marks = ",".join("?" * len(device_ids))
        return [r[0] for r in db.execute(f"SELECT id FROM reading WHERE device_id IN ({marks})", device_ids)]


def _all_sealed_and_anchored(upstream: RunningService, workdir: Path, reading_ids: list[str]) -> bool:
    """Every reading has a root, and every root reading a reading points to is anchored upstream."""
    with sqlite3.connect(workdir / ".provenance" / "provenance.db") as db:
        rows = db.execute("SELECT m.reading_id, a.root_reading_id FROM edge_member m JOIN edge_aggregate a"
                          " ON a.root = m.root").fetchall()  # fmt: skip
    roots = dict(rows)
    if any(r not in roots for r in reading_ids):
        return False
    batches = anchored_batches(upstream)
    with sqlite3.connect(upstream.workdir / ".provenance" / "provenance.db") as db:
        placed = dict(db.execute("SELECT id, batch_id FROM reading WHERE metric = 'edge.root'").fetchall())
    return all(placed.get(root) in batches for root in set(roots.values()))


def _domain(manifest: Path) -> tuple[int, str]:
    """The EIP-712 domain of the deployment: chain id and DeviceRegistry address."""
    data = json.loads(manifest.read_text())
    return int(data["chain_id"]), str(data["contracts"]["DeviceRegistry"]["address"])
