"""The edge gateway: readings/s it accepts, next to the service taking the same load directly, and how
fast it catches up after an outage of its upstream link.

    .venv/bin/python bench/edge.py [--devices 4] [--readings 5000] [--batch 100] [--outage 60] [--rate 200]

Starts `provenance up` (the upstream, rate limits off) and `provenance edge` in front of it, each in a
temporary directory, with pre-signed readings from the device library:

1. acceptance: `--devices` clients, one thread each, post `--readings` readings per device in
   batches of `--batch` (`POST /v1/readings/batch`) to the gateway, then fresh devices do the same
   straight to the service (the same-run baseline); also one connection posting single readings;
2. catch-up: the gateway's link to upstream (a TCP proxy) is cut for `--outage` seconds while
   devices send `--rate` readings/s through the gateway; the link comes back with the load still on;
   reported: the backlog, the seconds until the gateway has forwarded every reading it holds, and
   the catch-up rate (readings forwarded per second above the incoming load).

Gas per reading with aggregation is not measured: gateway roots are not anchored as leaves yet (issue 19).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger_service.core.chain.node import free_port  # noqa: E402
from provenance_device import DeviceKey, Domain, Reading  # noqa: E402
from tests.utils.edge import register_key_file  # noqa: E402
from tests.utils.service import RunningService  # noqa: E402
from tests.utils.tcp_proxy import TcpProxy  # noqa: E402

QUIET = {"PROVENANCE_LOG_LEVEL": "WARNING", "PROVENANCE_DEVICE_RATE": "0", "PROVENANCE_API_CLIENT_RATE": "0",
         "PROVENANCE_INGEST_CLIENT_RATE": "0", "PROVENANCE_API_KEY_RATE": "0", "PROVENANCE_INDEX": "false",
         "PROVENANCE_ORACLE": "false"}  # fmt: skip


class BenchDevice:
    """A registered device key signing its next readings."""

    def __init__(self, upstream: RunningService, workdir: Path, index: int, domain: Domain) -> None:
        self.key = DeviceKey.generate("p256" if index % 2 else "secp256k1")
        key_file = workdir / f"device-{index}.key"
        self.key.save(key_file)
        register_key_file(upstream, key_file)
        self.domain, self.sequence = domain, 0

    def bodies(self, count: int) -> list[dict[str, object]]:
        out = []
        for _ in range(count):
            self.sequence += 1
            reading = Reading(self.key.default_device_id, self.sequence, int(time.time()), "temperature", 400, 2, "Cel")
            out.append(reading.body(self.key.sign(reading.digest(self.domain))))
        return out


def post_batches(url: str, batches: list[list[dict[str, object]]]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        for batch in batches:
            answer = client.post("/v1/readings/batch", json={"readings": batch})
            answer.raise_for_status()
            if answer.json()["refused"]:
                raise SystemExit(f"refused: {answer.json()['results'][:2]}")


def acceptance(url: str, devices: list[BenchDevice], readings: int, batch: int) -> float:
    """Readings/s taken by `url` from one thread per device posting batches."""
    work = [[d.bodies(batch) for _ in range(readings // batch)] for d in devices]
    threads = [threading.Thread(target=post_batches, args=(url, w)) for w in work]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(devices) * (readings // batch) * batch / (time.perf_counter() - start)


def single(url: str, device: BenchDevice, count: int) -> float:
    """Readings/s over one keep-alive connection, one reading per request."""
    bodies = device.bodies(count)
    with httpx.Client(base_url=url, timeout=30) as client:
        start = time.perf_counter()
        for body in bodies:
            client.post("/v1/readings", json=body).raise_for_status()
        return count / (time.perf_counter() - start)


def held_and_forwarded(workdir: Path) -> tuple[int, int]:
    with sqlite3.connect(workdir / ".provenance" / "provenance.db") as db:
        held = db.execute("SELECT count(*) FROM reading").fetchone()[0]
        done = db.execute("SELECT count(*) FROM edge_forwarded").fetchone()[0]
    return int(held), int(done)


def steady(url: str, device: BenchDevice, rate: float, stop: threading.Event) -> None:
    """`rate` readings/s, in batches of a tenth of a second's worth."""
    per = max(1, int(rate / 10))
    with httpx.Client(base_url=url, timeout=30) as client:
        next_at = time.monotonic()
        while not stop.is_set():
            client.post("/v1/readings/batch", json={"readings": device.bodies(per)}).raise_for_status()
            next_at += per / rate
            time.sleep(max(0.0, next_at - time.monotonic()))


def catch_up(gateway_dir: Path, url: str, proxy: TcpProxy, device: BenchDevice, rate: float, outage: float) -> None:
    stop = threading.Event()
    load = threading.Thread(target=steady, args=(url, device, rate, stop))
    load.start()
    try:
        time.sleep(2)
        proxy.cut()
        time.sleep(outage)
        held, done = held_and_forwarded(gateway_dir)
        backlog = held - done
        proxy.restore()
        start = time.monotonic()
        while True:
            held, done = held_and_forwarded(gateway_dir)
            if held - done <= rate:  # within a second's worth of the live load
                break
            time.sleep(0.2)
        seconds = time.monotonic() - start
    finally:
        stop.set()
        load.join()
    print(f"catch-up after {outage:.0f} s cut off at {rate:.0f} readings/s: backlog {backlog}, forwarded in "
          f"{seconds:.1f} s = {backlog / seconds:,.0f} readings/s above the live load")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--readings", type=int, default=5000, help="per device")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the upstream link is cut")
    parser.add_argument("--rate", type=float, default=200.0, help="readings/s during the outage")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with RunningService(root / "upstream", env={**QUIET, "PROVENANCE_BATCH_SIZE": "10000"}) as upstream:
            manifest = upstream.workdir / ".provenance" / "deployment.json"
            deployment = json.loads(manifest.read_text())
            domain = Domain(int(deployment["chain_id"]), deployment["contracts"]["DeviceRegistry"]["address"])
            fleet = [BenchDevice(upstream, root, i, domain) for i in range(2 * args.devices + 3)]
            port = int(upstream.api_url.rsplit(":", 1)[1])
            with TcpProxy(port) as proxy:
                edge_port = free_port()
                env = {**QUIET, "PROVENANCE_RPC_URL": upstream.rpc_url, "PROVENANCE_API_PORT": str(edge_port)}
                command = ("edge", "--upstream", proxy.url, "--manifest", str(manifest))
                with RunningService(root / "edge", env=env, command=command, ready_text="edge gateway on"):
                    edge_url = f"http://127.0.0.1:{edge_port}"
                    time.sleep(2)  # the registry copy syncs
                    gateway = acceptance(edge_url, fleet[: args.devices], args.readings, args.batch)
                    others = fleet[args.devices : 2 * args.devices]
                    direct = acceptance(upstream.api_url, others, args.readings, args.batch)
                    print(f"batches of {args.batch}, {args.devices} clients: gateway {gateway:,.0f} readings/s, "
                          f"the service directly {direct:,.0f} readings/s")  # fmt: skip
                    one_gw = single(edge_url, fleet[-3], 1000)
                    one_direct = single(upstream.api_url, fleet[-2], 1000)
                    print(f"one reading per request, one connection: gateway {one_gw:,.0f} readings/s, "
                          f"the service directly {one_direct:,.0f} readings/s")  # fmt: skip
                    catch_up(root / "edge", edge_url, proxy, fleet[-1], args.rate, args.outage)


if __name__ == "__main__":
    main()
