"""The edge gateway under real faults: `provenance edge` SIGKILLed while it forwards, the upstream
service restarted while it forwards, and (in a network namespace, joined by a veth pair) the link
taken down under steady load and brought back. Every reading the gateway acknowledged ends up
anchored upstream exactly once, in each device's order."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from ledger_service.core.chain.node import free_port
from provenance_device import DeviceKey
from tests.utils.edge import (
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
from tests.utils.service import RunningService
from tests.utils.tcp_proxy import TcpProxy


def gateway_service(workdir: Path, upstream_url: str, rpc_url: str, manifest: Path, port: int,
                    prefix: tuple[str, ...] = ()) -> RunningService:  # fmt: skip
    env = {"PROVENANCE_RPC_URL": rpc_url, "PROVENANCE_API_PORT": str(port), "PROVENANCE_EDGE_REGISTRY_POLL": "0.5",
           "PROVENANCE_API_HOST": "127.0.0.1"}  # fmt: skip
    command = ("edge", "--upstream", upstream_url, "--manifest", str(manifest))
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
            devices = [start_device(k, d, domain, url, 20, 0.02, ns.prefix) for k, d in keys]
            time.sleep(3)
            ns.link(up=False)
            time.sleep(3)  # a request the proxy had taken whole before the cut may still be committed upstream
            during = [len(upstream_rows(upstream, d.device_id)) for d in devices]
            time.sleep(8)
            assert [len(upstream_rows(upstream, d.device_id)) for d in devices] == during  # nothing gets through
            assert all(d.pending() < 50 for d in devices)  # yet the gateway answers its devices
            ns.link(up=True)
            summaries = [d.result(timeout=120) for d in devices]
            assert all(s["refused"] == [] and s["pending"] == 0 for s in summaries), summaries
            recorded = [int(s["recorded"]) for s in summaries]  # type: ignore[call-overload]
            assert_each_anchored_once_in_order(upstream, devices, recorded)
            held, answered = gateway_counts(tmp_path / "edge")
            assert held == answered == sum(recorded)
    finally:
        stop_all(devices, gateway, upstream)


def _domain(manifest: Path) -> tuple[int, str]:
    """The EIP-712 domain of the deployment: chain id and DeviceRegistry address."""
    data = json.loads(manifest.read_text())
    return int(data["chain_id"]), str(data["contracts"]["DeviceRegistry"]["address"])
